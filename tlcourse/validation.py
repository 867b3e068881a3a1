"""Parameter validation, declared once per public function (scikit-learn's ``_param_validation``).

Public functions declare a list of constraints per argument (any one must accept); internal
functions trust their arguments. A constraint is an :class:`Interval`, :class:`StrOptions`, a
:class:`Rule`, ``None``, a type, ``"boolean"`` or ``"callable"``; the one that accepts a value
also normalises it (numpy ints become ints). One value, one rule: ``SEED``, ``IMAGE_SIZE``...

Example:
    >>> @validate_params({"depth": [Interval(int, 0, 17), StrOptions({"all"})]})
    ... def set_trainable(model, depth):
    ...     return depth
    >>> set_trainable(None, "al")
    Traceback (most recent call last):
    ...
    tlcourse.errors.InvalidParameterError: The 'depth' parameter of set_trainable must be an int \
in the range [0, 17] or 'all'. Got 'al' instead. Did you mean 'all'?
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import numbers

import keras
import numpy as np

from tlcourse.errors import invalid_parameter

__all__ = ["BATCH_SIZE", "COMPILED_MODEL", "EPOCHS", "FRACTION", "IMAGE_SIZE", "LEARNING_RATE",
           "SEED", "TRAINING_DATA", "Interval", "Rule", "StrOptions", "frame_with", "int_list",
           "validate_params"]  # fmt: skip


class _Constraint:
    def convert(self, value):
        return value

    def hint(self, value) -> str:
        return ""


class Interval(_Constraint):
    """Finite numbers of one kind (``int`` or ``numbers.Real``, never ``bool``) between two
    bounds (None: unbounded).

    Example:
        >>> ints = Interval(int, 0, None)
        >>> ints.accepts(np.int64(3)), ints.accepts(True), ints.accepts(3.0), str(ints)
        (True, False, False, 'an int >= 0')
        >>> str(Interval(numbers.Real, 0, 1, closed="left"))
        'a float in the range [0, 1)'
    """

    def __init__(self, kind, left, right, *, closed: str = "both"):
        self.kind, self.left, self.right = kind, left, right
        self.left_open = closed in ("right", "neither")
        self.right_open = closed in ("left", "neither")

    def accepts(self, value) -> bool:
        number = numbers.Integral if self.kind is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, number):
            return False
        low, high = self.left, self.right
        return (self.kind is int or math.isfinite(value)) and (
            (low is None or value > low or (value == low and not self.left_open))
            and (high is None or value < high or (value == high and not self.right_open))
        )

    def convert(self, value):
        return int(value) if self.kind is int else float(value)

    def __str__(self):
        text, low, high = "an int" if self.kind is int else "a float", self.left, self.right
        if low is not None and high is not None:
            opening, closing = "[("[self.left_open], "])"[self.right_open]
            return f"{text} in the range {opening}{low}, {high}{closing}"
        if low is not None:
            return f"{text} {'>' if self.left_open else '>='} {low}"
        return f"{text} {'<' if self.right_open else '<='} {high}" if high is not None else text


class StrOptions(_Constraint):
    """One of a set of strings (or a function returning them: a registry); a near miss gets
    a "Did you mean" hint."""

    def __init__(self, options):
        self.options = options

    def _options(self) -> list[str]:
        return list(self.options() if callable(self.options) else self.options)

    def accepts(self, value) -> bool:
        return isinstance(value, str) and value in self._options()

    def hint(self, value) -> str:
        close = (
            difflib.get_close_matches(value, self._options(), 3) if isinstance(value, str) else []
        )
        return f"Did you mean {' or '.join(map(repr, close))}?" if close else ""

    def __str__(self):
        options = self._options()
        options = sorted(options) if isinstance(self.options, set | frozenset) else options
        return repr(options[0]) if len(options) == 1 else f"one of {options}"


class Rule(_Constraint):
    """A test, the phrase saying what it accepts, an optional conversion and ``hint(value)``."""

    def __init__(self, test, description: str, convert=None, hint=None):
        self.accepts, self.description, self._convert, self._hint = test, description, convert, hint

    def convert(self, value):
        return self._convert(value) if self._convert else value

    def hint(self, value) -> str:
        return self._hint(value) if self._hint else ""

    def __str__(self):
        return self.description


_NAMED = {
    None: Rule(lambda value: value is None, "None"),
    "boolean": Rule(lambda v: isinstance(v, bool | np.bool_), "a bool (True or False)", bool),
    "callable": Rule(callable, "a callable"),
}


def _make(constraint) -> _Constraint:
    if isinstance(constraint, type):  # "a str", "a keras.Model"
        module = constraint.__module__.split(".")[0]
        name = constraint.__name__ if module == "builtins" else f"{module}.{constraint.__name__}"
        article = "an" if name[0] in "aeiou" else "a"
        return Rule(lambda value: isinstance(value, constraint), f"{article} {name}")
    return _NAMED.get(constraint, constraint) if isinstance(constraint, str | None) else constraint


class _Shown(str):
    def __repr__(self):
        return str(self)


def _shown(value):
    """Tables and arrays shown by their shape, long reprs cut."""
    if hasattr(value, "columns") and hasattr(value, "empty"):
        return _Shown(f"a DataFrame of {len(value)} rows with the columns {list(value.columns)}")
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return _Shown(f"an array of shape {tuple(value.shape)} and dtype {value.dtype}")
    text = repr(value)
    return value if len(text) <= 100 else _Shown(text[:97] + "...")


def validate_params(constraints: dict):
    """Check a public function's arguments against ``constraints`` before its body runs.

    ``constraints`` maps a parameter's name to a list of constraints, or to a function of the
    arguments checked so far returning that list (a bound that depends on another argument)."""

    def decorator(func):
        signature = inspect.signature(func)
        caller = func.__qualname__.removesuffix(".__init__")

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = bound.arguments
            for name, options in constraints.items():
                options = options(arguments) if callable(options) else options
                options, value = [_make(option) for option in options], arguments[name]
                passing = next((option for option in options if option.accepts(value)), None)
                if passing is None:  # the first constraint that accepts a value converts it
                    words = [str(option) for option in options]
                    rule = " or ".join([", ".join(words[:-1]), words[-1]] if words[1:] else words)
                    hint = " ".join(filter(None, (option.hint(value) for option in options)))
                    raise invalid_parameter(name, caller, rule, _shown(value), hint)
                arguments[name] = passing.convert(value)
            return func(*bound.args, **bound.kwargs)

        return wrapper

    return decorator


def int_list(low: int | None = None, extra=()) -> Rule:
    """One int, a list of them or a comma-separated string ("0,1,2"), as a tuple of ints (and
    the ``extra`` strings, such as ``"all"``).

    Example:
        >>> int_list(0).convert("0, 1,2"), int_list(1, ["all"]).convert([5, "all"])
        ((0, 1, 2), (5, 'all'))
    """
    item = Interval(int, low, None)

    def items(value):
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            return [int(p) if p.lstrip("-").isdigit() else p for p in parts]
        return [value] if item.accepts(value) else list(value)

    def test(value):
        try:
            parts = items(value)
        except TypeError:
            return False
        return bool(parts) and all(item.accepts(p) or p in extra for p in parts)

    described = str(item) + "".join(f" or {e!r}" for e in extra)
    return Rule(test, f"{described}, a list of them or a comma-separated string",
                lambda v: tuple(p if isinstance(p, str) else int(p) for p in items(v)))  # fmt: skip


def frame_with(*columns: str) -> Rule:
    """A non-empty pandas DataFrame holding (at least) ``columns``."""

    def test(frame) -> bool:
        table = hasattr(frame, "columns") and hasattr(frame, "empty")
        return table and not frame.empty and set(columns) <= set(frame.columns)

    return Rule(test, f"a non-empty pandas DataFrame with the columns {list(columns)}")


_SIDE = Interval(int, 32, None)  # the smallest input every registered backbone accepts
IMAGE_SIZE = Rule(
    lambda v: _SIDE.accepts(v) or isinstance(v, tuple | list) and len(v) == 2
    and all(map(_SIDE.accepts, v)),
    "an int >= 32 or a pair (height, width) of ints >= 32",
    lambda v: (int(v), int(v)) if isinstance(v, numbers.Integral) else (int(v[0]), int(v[1])),
)  # fmt: skip
SEED = Interval(int, 0, None)
EPOCHS = Interval(int, 0, None)  # 0 epochs: a stage skipped
BATCH_SIZE = Interval(int, 1, None)
LEARNING_RATE = Interval(numbers.Real, 0, None, closed="neither")
FRACTION = Interval(numbers.Real, 0, 1, closed="left")
TRAINING_DATA = Rule(
    lambda data: len(data) in (2, 3) if isinstance(data, tuple)
    else isinstance(data, keras.utils.PyDataset) or hasattr(data, "element_spec"),
    "a tf.data.Dataset of (images, labels) batches, a keras.utils.PyDataset, or a tuple "
    "(images, labels) of arrays")  # fmt: skip
COMPILED_MODEL = Rule(
    lambda model: isinstance(model, keras.Model) and model.compiled and model.loss is not None,
    "a keras.Model compiled with a loss",
    hint=lambda _: "Compile it first, e.g. model.compile(optimizer='adam', "
    "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)).")  # fmt: skip
