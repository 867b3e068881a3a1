"""Exceptions raised by tlcourse, and the one message template for bad parameters.

Every error is a :class:`TLCourseError` *and* the builtin that fits (``ValueError``...), so
``except ValueError`` keeps working."""

from __future__ import annotations

import numbers

__all__ = ["DatasetError", "InvalidParameterError", "TLCourseError", "UnsafeWeightsFileError",
           "WeightsUnavailableError", "invalid_parameter"]  # fmt: skip


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
    """The error for a bad argument, in the one template (``rule`` follows "must be").

    Example:
        >>> print(invalid_parameter("epochs", "fine_tune", "an int >= 1", 0))
        The 'epochs' parameter of fine_tune must be an int >= 1. Got 0 instead.
    """
    message = f"The {param!r} parameter of {func} must be {rule}. Got {value!r} instead."
    return InvalidParameterError(message + (f" {hint}" if hint else ""))


# For grading until it declares its parameters with validate_params (not imported here:
# validation imports this module).
def check_int(param, value, func, *, low=None, none_ok=False):
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if (value is None and none_ok) or (ok and (low is None or value >= low)):
        return value if value is None else int(value)
    rule = "an int" + ("" if low is None else f" >= {low}") + (" or None" if none_ok else "")
    raise invalid_parameter(param, func, rule, value)


def check_real(param, value, func, *, low=None, low_open=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and (low is None or (value > low if low_open else value >= low)):
        return float(value)
    rule = "a float" + ("" if low is None else f" {'>' if low_open else '>='} {low}")
    raise invalid_parameter(param, func, rule, value)


def check_bool(param, value, func):
    if isinstance(value, bool):
        return value
    raise invalid_parameter(param, func, "a bool", value)
