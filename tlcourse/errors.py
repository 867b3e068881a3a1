"""Exceptions raised by tlcourse, and the one message template for bad parameters.

Every user-facing error is a :class:`TLCourseError` *and* the builtin that fits (``ValueError``,
``RuntimeError``...), so ``except ValueError`` keeps working. Public functions declare their
parameters with :func:`tlcourse.validation.validate_params`, which words every message the
scikit-learn way::

    The 'depth' parameter of set_trainable must be an int in the range [0, 17] or 'all'.
    Got 20 instead.
"""

from __future__ import annotations

__all__ = [
    "DatasetError", "InvalidParameterError", "TLCourseError", "UnsafeWeightsFileError",
    "WeightsUnavailableError", "invalid_parameter",
]  # fmt: skip


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


# Transitional, for grading (another issue) until it declares its parameters with
# validate_params: thin wrappers over tlcourse.validation. Remove then.
def check_int(param, value, func, *, low=None, none_ok=False):
    from tlcourse.validation import Interval, check

    return check(param, value, [Interval(int, low, None)] + [None] * none_ok, func)


def check_real(param, value, func, *, low=None, low_open=False):
    from tlcourse.validation import Interval, check

    closed = "right" if low_open else "both"
    return check(param, value, [Interval(float, low, None, closed=closed)], func)


def check_bool(param, value, func):
    from tlcourse.validation import check

    return check(param, value, ["boolean"], func)
