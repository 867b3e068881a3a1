"""Exceptions raised by tlcourse, and the one message template for bad parameters.

Every user-facing error is a subclass of :class:`TLCourseError` *and* of the builtin that fits
(``ValueError``, ``RuntimeError``...), so ``except ValueError`` keeps working for callers who do
not know this package.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable


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


def is_real_number(value) -> bool:
    """True for a finite real number that is not a bool (``True`` is an int to Python, not a
    learning rate to us).

    Example:
        >>> is_real_number(1e-3), is_real_number(True), is_real_number(float("nan"))
        (True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


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
    """
    choices = list(choices)
    if isinstance(value, str) and value in choices:
        return value
    message = f"The {param!r} parameter of {func} must be one of {choices}. Got {value!r} instead."
    if isinstance(value, str):
        close = difflib.get_close_matches(value, choices, n=3)
        if close:
            message += f" Did you mean {' or '.join(repr(c) for c in close)}?"
    raise InvalidParameterError(message)
