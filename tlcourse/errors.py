"""Exceptions raised by tlcourse, and the one message template for bad parameters.

Every user-facing error is a subclass of :class:`TLCourseError` *and* of the builtin that fits
(``ValueError``, ``RuntimeError``...), so ``except ValueError`` keeps working for callers who do
not know this package.

Every public function validates its own arguments first, with the ``check_*`` helpers below, so
every message has the scikit-learn shape and names the function the user called::

    The 'depth' parameter of set_trainable must be an int in the range [0, 17] or 'all'.
    Got 20 instead.

Numbers follow one rule everywhere: an "int" is any integral number but ``bool`` (Python and
numpy ints alike: ``np.int64(3)`` is accepted, ``3.0`` and ``True`` are not); a "real" is any
finite real number but ``bool`` (numpy floats included).
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable

__all__ = [
    "DatasetError",
    "InvalidParameterError",
    "TLCourseError",
    "UnsafeWeightsFileError",
    "WeightsUnavailableError",
    "check_bool",
    "check_choice",
    "check_image_size",
    "check_int",
    "check_int_list",
    "check_real",
    "invalid_parameter",
    "is_int",
    "is_real_number",
]


class TLCourseError(Exception):
    """Base class of every error tlcourse raises on purpose."""


class InvalidParameterError(TLCourseError, ValueError):
    """A function argument outside what the function accepts."""


class WeightsUnavailableError(TLCourseError, RuntimeError):
    """Pretrained weights cannot be found or fetched (typically: offline, nothing cached)."""


class UnsafeWeightsFileError(TLCourseError, ValueError):
    """A weights file asks to run or build something outside the allow-list."""


class DatasetError(TLCourseError, ValueError):
    """A dataset folder or file that cannot be used."""


def invalid_parameter(param: str, func: str, rule: str, value, hint: str = ""):
    """Return the error for a bad argument, in the one template every message uses.

    Args:
        param: the parameter's name, as the user typed it.
        func: the public function the user called.
        rule: what is allowed, as a phrase that follows "must be" ("an int >= 1").
        value: what the user passed (shown with ``repr``).
        hint: an extra sentence (a suggestion), or "". Defaults to "".

    Returns:
        An :class:`InvalidParameterError` (to ``raise``).

    Example:
        >>> print(invalid_parameter("epochs", "fine_tune", "an int >= 1", 0))
        The 'epochs' parameter of fine_tune must be an int >= 1. Got 0 instead.
    """
    message = f"The {param!r} parameter of {func} must be {rule}. Got {value!r} instead."
    return InvalidParameterError(message + (f" {hint}" if hint else ""))


def is_int(value) -> bool:
    """True for an integral number that is not a bool (numpy ints included).

    Example:
        >>> import numpy as np
        >>> is_int(3), is_int(np.int64(3)), is_int(3.0), is_int(True)
        (True, True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real_number(value) -> bool:
    """True for a finite real number that is not a bool (``True`` is an int to Python, not a
    learning rate to us).

    Example:
        >>> is_real_number(1e-3), is_real_number(True), is_real_number(float("nan"))
        (True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _bounds_text(low, high, low_open: bool = False, high_open: bool = False) -> str:
    if low is not None and high is not None:
        return f" in the range {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def _or_extra(extra: Iterable) -> str:
    return "".join(f" or {item!r}" for item in extra)


def check_int(
    param: str,
    value,
    func: str,
    *,
    low: int | None = None,
    high: int | None = None,
    extra: Iterable = (),
    none_ok: bool = False,
):
    """Return ``value`` as a Python int if it is an int within ``[low, high]``, else raise.

    Args:
        param: the parameter's name.
        value: what the user passed.
        func: the public function's name, for the message.
        low: smallest allowed value, or None. Defaults to None.
        high: largest allowed value, or None. Defaults to None.
        extra: other values accepted as they are (``"all"``). Defaults to ().
        none_ok: also accept None. Defaults to False.

    Returns:
        ``int(value)``, or ``value`` itself when it is one of ``extra`` or None.

    Raises:
        InvalidParameterError: in the template, e.g. "The 'depth' parameter of set_trainable
            must be an int in the range [0, 17] or 'all'. Got 20 instead."

    Example:
        >>> import numpy as np
        >>> check_int("seed", np.int64(3), "load_dataset", low=0)
        3
        >>> check_int("depth", "all", "set_trainable", low=0, high=17, extra=["all"])
        'all'
    """
    extra = list(extra)
    if (value is None and none_ok) or (isinstance(value, str) and value in extra):
        return value
    if is_int(value) and (low is None or value >= low) and (high is None or value <= high):
        return int(value)
    rule = "an int" + _bounds_text(low, high) + _or_extra(extra) + (" or None" if none_ok else "")
    raise invalid_parameter(param, func, rule, value)


def check_real(
    param: str,
    value,
    func: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    none_ok: bool = False,
    hint: str = "",
):
    """Return ``value`` as a float if it is a finite real number within the bounds, else raise.

    Args:
        param: the parameter's name.
        value: what the user passed.
        func: the public function's name, for the message.
        low: lower bound, or None. Defaults to None.
        high: upper bound, or None. Defaults to None.
        low_open: exclude ``low`` itself (``> low``). Defaults to False.
        high_open: exclude ``high`` itself (``< high``). Defaults to False.
        none_ok: also accept None (returned as None). Defaults to False.
        hint: an extra sentence for the message. Defaults to "".

    Returns:
        ``float(value)``, or None.

    Raises:
        InvalidParameterError: in the template ("... must be a float > 0. Got -1 instead.").

    Example:
        >>> check_real("base_lr", 1e-4, "fine_tune", low=0, low_open=True)
        0.0001
    """
    if value is None and none_ok:
        return None
    if is_real_number(value):
        above = low is None or (value > low if low_open else value >= low)
        below = high is None or (value < high if high_open else value <= high)
        if above and below:
            return float(value)
    rule = (
        "a float" + _bounds_text(low, high, low_open, high_open) + (" or None" if none_ok else "")
    )
    raise invalid_parameter(param, func, rule, value, hint)


def check_bool(param: str, value, func: str) -> bool:
    """Return ``value`` if it is a bool (numpy's included), else raise.

    Example:
        >>> import numpy as np
        >>> check_bool("include_top", False, "load_backbone"), check_bool("x", np.True_, "f")
        (False, True)
    """
    numpy_bool = type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")
    if isinstance(value, bool) or numpy_bool:
        return bool(value)
    raise invalid_parameter(param, func, "a bool (True or False)", value)


def check_choice(param: str, value, choices: Iterable[str], func: str) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a helpful error.

    Args:
        param: the parameter's name, as the user typed it.
        value: what the user passed.
        choices: the allowed values.
        func: the public function's name, for the message.

    Returns:
        ``value`` unchanged.

    Raises:
        InvalidParameterError: naming the bad value, the allowed values and close matches.

    Example:
        >>> check_choice("unit", "block", ["block", "layer"], "set_trainable")
        'block'
        >>> check_choice("unit", "blocks", ["block", "layer"], "set_trainable")
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'unit' parameter of set_trainable must be one \
of ['block', 'layer']. Got 'blocks' instead. Did you mean 'block'?
    """
    choices = list(choices)
    if isinstance(value, str) and value in choices:
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, choices, n=3)
        if close:
            hint = f"Did you mean {' or '.join(repr(c) for c in close)}?"
    raise invalid_parameter(param, func, f"one of {choices}", value, hint)


def check_int_list(
    param: str,
    value,
    func: str,
    *,
    low: int | None = None,
    extra: Iterable = (),
) -> tuple:
    """Return a tuple of ints from an int, a sequence or a comma-separated string.

    The same value works in Python and on the command line: ``"0,1,2"``, ``[0, 1, 2]``,
    ``range(3)`` and ``np.arange(3)`` all give ``(0, 1, 2)``; one int gives a 1-tuple.

    Args:
        param: the parameter's name.
        value: what the user passed.
        func: the public function's name, for the message.
        low: smallest allowed value, or None. Defaults to None.
        extra: other values accepted as they are (``"all"``, None). Defaults to ().

    Returns:
        A non-empty tuple of Python ints (and ``extra`` values).

    Raises:
        InvalidParameterError: an empty list, or an element that is not an allowed int.

    Example:
        >>> check_int_list("seeds", "0, 1,2", "compare", low=0)
        (0, 1, 2)
        >>> check_int_list("train_per_class", [5, "all"], "compare", low=1, extra=["all"])
        (5, 'all')
    """
    extra = list(extra)
    items = value
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
        items = [int(p) if p.lstrip("-").isdigit() else p for p in items]
    elif is_int(value) or value is None or (isinstance(value, str) and value in extra):
        items = [value]
    try:
        items = list(items)
    except TypeError:
        items = None
    rule = "an int" + _bounds_text(low, None) + _or_extra(extra)
    if not items:
        raise invalid_parameter(
            param, func, f"{rule}, a list of them or a comma-separated string", value
        )
    out = []
    for item in items:
        if item in extra and not is_int(item):
            out.append(item)
        elif is_int(item) and (low is None or item >= low):
            out.append(int(item))
        else:
            raise invalid_parameter(
                param, func, f"{rule}, a list of them or a comma-separated string", value,
                f"{item!r} is not allowed.",
            )  # fmt: skip
    return tuple(out)


def check_image_size(param: str, value, func: str, *, low: int = 32) -> tuple[int, int]:
    """Return ``(height, width)`` from an int or a pair of ints, as every Keras image API takes.

    Args:
        param: the parameter's name (usually ``"image_size"``).
        value: an int (a square) or ``(height, width)``.
        func: the public function's name, for the message.
        low: smallest allowed side in pixels. Defaults to 32.

    Returns:
        ``(height, width)`` as Python ints.

    Raises:
        InvalidParameterError: anything else.

    Example:
        >>> check_image_size("image_size", 96, "load_dataset"), \
check_image_size("image_size", (96, 128), "load_dataset")
        ((96, 96), (96, 128))
    """
    if is_int(value) and value >= low:
        return int(value), int(value)
    if (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(is_int(v) and v >= low for v in value)
    ):
        return int(value[0]), int(value[1])
    raise invalid_parameter(
        param, func, f"an int >= {low} or a pair (height, width) of ints >= {low}", value
    )
