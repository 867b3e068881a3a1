"""Keras optimizers with a learning-rate multiplier per variable: ``LayerwiseAdam``...

Extended at public hooks only, with the same variables as the parent, so checkpoints line up."""

from __future__ import annotations

import numbers
import re
import warnings

import keras

from tlcourse.errors import InvalidParameterError
from tlcourse.keras_private import variable_index
from tlcourse.transfer.groups import UNITS
from tlcourse.validation import Interval, Rule, StrOptions, validate_params

__all__ = ["LAYERWISE_ARGUMENTS", "LayerwiseAdam", "LayerwiseAdamW", "LayerwiseRMSprop",
           "LayerwiseSGD", "is_layerwise", "layerwise_class", "supported_optimizers"]  # fmt: skip

# The constructor arguments a layer-wise class adds to its parent's.
LAYERWISE_ARGUMENTS = ("multipliers", "default_multiplier", "factor", "unit", "lr_range")

# Optimizers whose step is proportional to the learning rate handed to update_step.
_SUPPORTED = {name.lower(): getattr(keras.optimizers, name) for name in ("Adadelta", "Adagrad",
              "Adam", "Adamax", "AdamW", "Lamb", "Lion", "Nadam", "RMSprop", "SGD")}  # fmt: skip

# Known optimizers that a per-variable learning rate would silently break, and why.
_REFUSED = {
    keras.optimizers.Adafactor: "its relative step caps the learning rate at 1/sqrt(step), "
    "which erases the ratios between groups",
    keras.optimizers.Ftrl: "the learning rate enters its update non-linearly",
    keras.optimizers.Muon: "it reads the optimizer-wide learning rate in its own weight decay",
    keras.optimizers.ScheduleFreeAdamW: "its averaging is not verified with per-variable rates",
    keras.optimizers.LossScaleOptimizer: "it is a wrapper; pass the optimizer it would wrap",
    keras.optimizers.MultiOptimizer: "it is a wrapper; a layerwise optimizer replaces it",
}


class _Name(StrOptions):
    """An optimizer's name, in any case; a refused one says why later."""

    _classes = {cls.__name__.lower(): cls for cls in (*_SUPPORTED.values(), *_REFUSED)}

    def accepts(self, value) -> bool:
        return isinstance(value, str) and value.lower() in self._classes

    def convert(self, value):
        return self._classes[value.lower()]


class _Factor(Interval):
    def hint(self, value) -> str:
        return "The lecture's advice is 3 to 10."


POSITIVE = Interval(numbers.Real, 0, None, closed="neither")
FACTOR = _Factor(numbers.Real, 1, None)
UNIT = StrOptions(set(UNITS))
LR_RANGE = Rule(
    lambda v: isinstance(v, tuple | list) and len(v) == 2 and all(map(POSITIVE.accepts, v))
    and v[0] <= v[1],
    "a pair (low, high) with 0 < low <= high, like fast.ai's slice(low, high)",
    lambda v: (float(v[0]), float(v[1])),
)  # fmt: skip
MULTIPLIERS = Rule(
    lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v)
    and all(map(POSITIVE.accepts, v.values())),
    "a dict {variable path: float > 0}",
    lambda v: {k: float(m) for k, m in v.items()},
)  # fmt: skip
OPTIMIZER_CLASS = Rule(
    lambda c: isinstance(c, type) and issubclass(c, keras.Optimizer),
    "a keras.optimizers.Optimizer subclass",
)
OPTIMIZER = [_Name(_SUPPORTED), OPTIMIZER_CLASS]
_NONE_WITH_FACTOR = Rule(lambda v: v is None, "None when 'factor' is given")
_SETTINGS = {
    "multipliers": [MULTIPLIERS, None], "default_multiplier": [POSITIVE, None],
    "factor": [FACTOR, None], "unit": [UNIT],
    "lr_range": lambda args: [LR_RANGE, None] if args["factor"] is None else [_NONE_WITH_FACTOR],
}  # fmt: skip


class LayerwiseOptimizer:
    """Scale the learning rate per variable by the multiplier of its path's longest suffix.

    (A path's leading scopes change: ``sequential/dense/kernel`` is ``dense/kernel`` once loaded.)
    """

    optimizer_class: type = keras.Optimizer  # the parent class; set by layerwise_class

    @validate_params(_SETTINGS)
    def __init__(self, *args, multipliers=None, default_multiplier=None, factor=None,
                 unit="block", lr_range=None, **kwargs):  # fmt: skip
        super().__init__(*args, **kwargs)
        self._multipliers = multipliers or {}
        self.default_multiplier, self.factor, self.unit = default_multiplier, factor, unit
        self.lr_range = lr_range
        self._no_decay_ids, self._no_decay_names = set(), ()
        self._scales, self._decays = [], []  # per variable, in build's order

    @property
    def multipliers(self) -> dict[str, float]:
        """``{path or path suffix: multiplier}`` as given (a copy)."""
        return dict(self._multipliers)

    def multiplier(self, variable) -> float | None:
        """The multiplier of ``variable`` (or of a path); None if it has none."""
        value = self._match(variable if isinstance(variable, str) else variable.path)
        return self.default_multiplier if value is None else value

    def _match(self, path: str) -> float | None:
        parts = path.split("/")
        values = (self._multipliers.get("/".join(parts[i:])) for i in range(len(parts)))
        return next((value for value in values if value is not None), None)

    def layerwise_settings(self) -> dict | None:
        """``layerwise_optimizer``'s arguments that make this again; None without a recipe."""
        if self.factor is None and self.lr_range is None:
            return None
        config = self.get_config()
        base_lr = config.pop("learning_rate")  # the current rate, or a schedule's config
        if isinstance(base_lr, dict):
            base_lr = keras.optimizers.schedules.deserialize(base_lr)
        for key in ("name", *LAYERWISE_ARGUMENTS):
            config.pop(key)
        if self.default_multiplier is not None:
            config["default_multiplier"] = self.default_multiplier
        spread = {"base_lr": base_lr, "factor": self.factor}
        if self.lr_range is not None:
            spread = {"base_lr": None, "lr_range": self.lr_range}
        return {**spread, "unit": self.unit, "optimizer": self.optimizer_class, **config}

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        super().exclude_from_weight_decay(var_list=var_list, var_names=var_names)
        self._no_decay_ids = {id(v) for v in var_list or ()}  # for build, which decays itself
        self._no_decay_names = tuple(var_names or ())

    def build(self, var_list):
        if self.built:
            return
        unknown = [v.path for v in var_list if self._match(v.path) is None]
        if unknown and self.default_multiplier is None:
            raise InvalidParameterError(
                f"{type(self).__name__} has no multiplier for {unknown[:3]}... (trainable since "
                "it was made?): call layerwise_optimizer(model, ...) again and compile with it, "
                "or pass default_multiplier=... to train them at base_lr * that."
            )
        if unknown:
            warnings.warn(
                f"{type(self).__name__}: {len(unknown)} variable(s) without a multiplier, e.g. "
                f"{unknown[:3]}, train at base_lr * {self.default_multiplier}.",
                stacklevel=2,
            )
        self._scales = [self.multiplier(v) for v in var_list]
        self._decays = [False] * len(var_list)
        if self.weight_decay is not None:
            # Keras's rule, applied in update_step at each variable's rate instead of by Keras.
            names = re.compile("|".join(self._no_decay_names)) if self._no_decay_names else None
            self._decays = [
                id(v) not in self._no_decay_ids and not (names and names.search(v.name))
                for v in var_list
            ]
            super().exclude_from_weight_decay(var_list=var_list)
        super().build(var_list)

    def update_step(self, gradient, variable, learning_rate):
        # On TensorFlow `variable` is the raw tf.Variable, without a path (see keras_private).
        index = variable_index(self, variable)
        # The rate, not the gradient, whose scale Adam-like optimizers divide away.
        learning_rate = learning_rate * self._scales[index]
        if self._decays[index]:
            lr = keras.ops.cast(learning_rate, variable.dtype)
            wd = keras.ops.cast(self.weight_decay, variable.dtype)
            self.assign(variable, variable - variable * wd * lr)
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = {key: getattr(self, key) for key in LAYERWISE_ARGUMENTS}
        config["lr_range"] = None if self.lr_range is None else list(self.lr_range)
        return {**super().get_config(), **config}


def is_layerwise(optimizer) -> bool:
    """True for a class made by :func:`layerwise_class`, or an instance of one."""
    cls = optimizer if isinstance(optimizer, type) else type(optimizer)
    return issubclass(cls, LayerwiseOptimizer)


def supported_optimizers() -> list[str]:
    """The optimizer names :func:`layerwise_class` accepts, sorted."""
    return sorted(_SUPPORTED)


_CLASSES: dict[type, type] = {}

_CLASS_DOC = """{parent} with a learning-rate multiplier per variable (see ``layerwise_optimizer``).

Besides the arguments of keras.optimizers.{parent}: ``multipliers`` (``{{path or path suffix:
float}}``), ``default_multiplier`` (for the variables missing there; None refuses them), and
the recipe kept to make it again for other blocks: ``factor`` or ``lr_range``, and ``unit``.
"""


@validate_params({"optimizer_class": [OPTIMIZER_CLASS]})
def layerwise_class(optimizer_class: type) -> type:
    """Return the per-variable-learning-rate subclass of a Keras optimizer class.

    Registered for saving as ``"tlcourse>Layerwise..."`` (for your own class, call this before
    ``load_model``).

    Example:
        >>> import keras
        >>> cls = layerwise_class(keras.optimizers.SGD)
        >>> opt = cls(learning_rate=0.1, multipliers={"w": 0.5})
        >>> w = keras.Variable([1.0], name="w")
        >>> opt.apply([keras.ops.convert_to_tensor([1.0])], [w])
        >>> cls.__name__, round(float(w.numpy()[0]), 6), is_layerwise(opt)
        ('LayerwiseSGD', 0.95, True)
    """
    if issubclass(optimizer_class, LayerwiseOptimizer):
        return optimizer_class
    for refused, why in _REFUSED.items():
        if issubclass(optimizer_class, refused):
            raise InvalidParameterError(
                f"{optimizer_class.__name__} cannot get per-layer learning rates: {why}. Use "
                f"one of {sorted(_SUPPORTED)}."
            )
    if optimizer_class in _CLASSES:
        return _CLASSES[optimizer_class]
    name = "Layerwise" + optimizer_class.__name__
    if any(cls.__name__ == name for cls in _CLASSES.values()):
        raise InvalidParameterError(
            f"Another optimizer class named {optimizer_class.__name__!r} already has a "
            f"layerwise subclass registered as 'tlcourse>{name}'; rename your class."
        )
    cls = type(name, (LayerwiseOptimizer, optimizer_class), {
        "__module__": __name__, "__qualname__": name, "optimizer_class": optimizer_class,
        "__doc__": _CLASS_DOC.format(parent=optimizer_class.__name__),
    })  # fmt: skip
    _CLASSES[optimizer_class] = keras.saving.register_keras_serializable("tlcourse", name)(cls)
    return cls


LayerwiseAdam = layerwise_class(keras.optimizers.Adam)
LayerwiseAdamW = layerwise_class(keras.optimizers.AdamW)
LayerwiseSGD = layerwise_class(keras.optimizers.SGD)
LayerwiseRMSprop = layerwise_class(keras.optimizers.RMSprop)
for _cls in _SUPPORTED.values():
    layerwise_class(_cls)  # registers the rest for load_model
