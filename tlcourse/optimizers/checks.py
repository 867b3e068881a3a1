"""Argument checks shared by the layer-wise optimizer classes and :func:`layerwise_optimizer`.

Each takes the name of the public callable the user called (``func``), for the message.
"""

from __future__ import annotations

from tlcourse.errors import check_real, invalid_parameter, is_real_number

__all__ = ["check_factor", "check_lr_range", "check_multipliers"]


def check_multipliers(multipliers, func: str) -> dict[str, float]:
    """Return ``{path: float}`` from None or a dict of paths to numbers > 0, else raise.

    Example:
        >>> check_multipliers({"dense/kernel": 1}, "LayerwiseSGD")
        {'dense/kernel': 1.0}
    """
    if multipliers is None:
        return {}
    rule = "a dict {variable path: float > 0}"
    if not isinstance(multipliers, dict) or not all(isinstance(k, str) for k in multipliers):
        raise invalid_parameter("multipliers", func, rule, multipliers)
    for key, value in multipliers.items():
        if not (is_real_number(value) and value > 0):
            raise invalid_parameter(
                "multipliers", func, rule, multipliers, f"{key!r}: {value!r} is not allowed."
            )
    return {key: float(value) for key, value in multipliers.items()}


def check_lr_range(lr_range, func: str) -> tuple[float, float] | None:
    """Return ``(low, high)`` as floats (or None) if ``0 < low <= high``, else raise.

    Example:
        >>> check_lr_range([1e-5, 1e-3], "layerwise_optimizer")
        (1e-05, 0.001)
    """
    if lr_range is None:
        return None
    ok = (
        isinstance(lr_range, tuple | list)
        and len(lr_range) == 2
        and all(is_real_number(v) for v in lr_range)
        and 0 < lr_range[0] <= lr_range[1]
    )
    if not ok:
        raise invalid_parameter(
            "lr_range",
            func,
            "a pair (low, high) with 0 < low <= high, like fast.ai's slice(low, high), or None",
            lr_range,
        )
    return float(lr_range[0]), float(lr_range[1])


def check_factor(factor, func: str) -> float | None:
    """Return ``factor`` as a float (or None) if it is a number >= 1, else raise.

    Example:
        >>> check_factor(3, "layerwise_optimizer")
        3.0
    """
    return check_real(
        "factor", factor, func, low=1, none_ok=True, hint="The lecture's advice is 3 to 10."
    )
