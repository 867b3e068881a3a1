"""Keras optimizers with a learning-rate multiplier per variable: ``LayerwiseAdam``...

:func:`layerwise_class` subclasses a Keras optimizer at its public hooks only: ``build`` maps
every trained variable to its multiplier (a plain float), ``update_step`` scales the learning
rate it is handed, ``get_config`` keeps the multipliers and the recipe that made them
(``factor`` or ``lr_range``, ``unit``). The subclass has exactly its parent's variables, so the
checkpoints of the two line up, and ``learning_rate`` stays the base (head) rate: callbacks and
schedules that change it change every group together.

Decoupled weight decay follows each variable's rate, as in PyTorch's and timm's parameter
groups: ``w -= multiplier * learning_rate * weight_decay * w``, so a slow block also decays
slowly (``exclude_from_weight_decay`` works as in Keras).
"""

from __future__ import annotations

import numbers
import re
import warnings

import keras

from tlcourse.errors import InvalidParameterError
from tlcourse.groups import UNITS
from tlcourse.validation import Interval, Rule, StrOptions, validate_params

__all__ = [
    "LAYERWISE_ARGUMENTS",
    "LayerwiseAdam",
    "LayerwiseAdamW",
    "LayerwiseRMSprop",
    "LayerwiseSGD",
    "is_layerwise",
    "layerwise_class",
    "supported_optimizers",
]

# The constructor arguments a layer-wise class adds to its parent's.
LAYERWISE_ARGUMENTS = ("multipliers", "default_multiplier", "factor", "unit", "lr_range")

# Optimizers whose step is proportional to the learning rate handed to update_step, so that a
# multiplier means "this variable trains `multiplier` times slower".
_SUPPORTED = {
    cls.__name__.lower(): cls
    for cls in (
        keras.optimizers.Adadelta,
        keras.optimizers.Adagrad,
        keras.optimizers.Adam,
        keras.optimizers.Adamax,
        keras.optimizers.AdamW,
        keras.optimizers.Lamb,
        keras.optimizers.Lion,
        keras.optimizers.Nadam,
        keras.optimizers.RMSprop,
        keras.optimizers.SGD,
    )
}

# Known optimizers that a per-variable learning rate would silently break, and why.
_REFUSED = {
    keras.optimizers.Adafactor: "its relative step caps the learning rate at 1/sqrt(step), "
    "which erases the ratios between groups",
    keras.optimizers.Ftrl: "the learning rate enters FTRL-proximal's update non-linearly, so "
    "the steps would not keep the ratios",
    keras.optimizers.Muon: "it reads the optimizer-wide learning rate in its own weight decay "
    "and rescales Adam-handled variables",
    keras.optimizers.ScheduleFreeAdamW: "its schedule-free averaging is not verified with "
    "per-variable learning rates",
    keras.optimizers.LossScaleOptimizer: "it is a wrapper; pass the optimizer it would wrap "
    "(Keras adds loss scaling itself under mixed precision)",
    keras.optimizers.MultiOptimizer: "it is a wrapper around several optimizers; a layerwise "
    "optimizer replaces it",
}

# Every optimizer known by name: the supported ones, and the refused ones (to say why).
_BY_NAME = {cls.__name__.lower(): cls for cls in (*_SUPPORTED.values(), *_REFUSED)}


class _Factor(Interval):
    def hint(self, value) -> str:
        return "The lecture's advice is 3 to 10."


POSITIVE = Interval(numbers.Real, 0, None, closed="neither")
FACTOR = _Factor(numbers.Real, 1, None)
UNIT = StrOptions(set(UNITS))
LR_RANGE = Rule(
    lambda v: (
        isinstance(v, tuple | list)
        and len(v) == 2
        and all(POSITIVE.accepts(x) for x in v)
        and v[0] <= v[1]
    ),
    "a pair (low, high) with 0 < low <= high, like fast.ai's slice(low, high)",
    lambda v: (float(v[0]), float(v[1])),
)
MULTIPLIERS = Rule(
    lambda v: (
        isinstance(v, dict)
        and all(isinstance(k, str) and POSITIVE.accepts(m) for k, m in v.items())
    ),
    "a dict {variable path: float > 0}",
    lambda v: {k: float(m) for k, m in v.items()},
)
_SETTINGS = {
    "multipliers": [MULTIPLIERS, None],
    "default_multiplier": [POSITIVE, None],
    "factor": [FACTOR, None],
    "unit": [UNIT],
    "lr_range": lambda args: (
        [LR_RANGE, None]
        if args["factor"] is None
        else [Rule(lambda v: v is None, "None when 'factor' is given")]
    ),
}


def _settings_check(class_name: str):
    """The constructor's check of the layer-wise arguments, naming the class in its messages."""

    def settings(multipliers, default_multiplier, factor, unit, lr_range):
        return multipliers or {}, default_multiplier, factor, unit, lr_range

    settings.__qualname__ = class_name
    return validate_params(_SETTINGS)(settings)


class _LayerwiseMixin:
    """Scale the learning rate per variable by the multiplier of its path's longest ``/``-suffix.

    Suffixes, because a path's leading scopes are not stable (a Dense built inside a Sequential
    is ``sequential/dense/kernel``, and ``dense/kernel`` once loaded from disk); its layer and
    variable names are.
    """

    optimizer_class: type = keras.Optimizer  # the parent class; set by layerwise_class

    def __init__(
        self,
        *args,
        multipliers=None,
        default_multiplier=None,
        factor=None,
        unit="block",
        lr_range=None,
        **kwargs,
    ):
        settings = self._check_settings(multipliers, default_multiplier, factor, unit, lr_range)
        super().__init__(*args, **kwargs)
        self._multipliers = settings[0]
        self.default_multiplier, self.factor, self.unit, self.lr_range = settings[1:]
        self._no_decay_ids, self._no_decay_names = set(), ()
        self._scales, self._decays = [], []  # per variable, in build's order

    @property
    def multipliers(self) -> dict[str, float]:
        """``{path or path suffix: multiplier}`` as given to the constructor (a copy)."""
        return dict(self._multipliers)

    def multiplier(self, variable) -> float | None:
        """The multiplier of ``variable`` (a model variable or its path); None if it has none."""
        value = self._match(variable if isinstance(variable, str) else variable.path)
        return self.default_multiplier if value is None else value

    def _match(self, path: str) -> float | None:
        parts = path.split("/")
        for start in range(len(parts)):
            value = self._multipliers.get("/".join(parts[start:]))
            if value is not None:
                return value
        return None

    def layerwise_settings(self) -> dict | None:
        """The arguments of :func:`~tlcourse.optimizers.layerwise_optimizer` that make this
        optimizer again for other trainable variables (None without a recipe: made from
        explicit ``multipliers`` only)."""
        if self.factor is None and self.lr_range is None:
            return None
        config = self.get_config()
        base_lr = config.pop("learning_rate")  # the current rate, or the schedule's config
        if isinstance(base_lr, dict):
            base_lr = keras.optimizers.schedules.deserialize(base_lr)
        for key in ("name", *LAYERWISE_ARGUMENTS):
            config.pop(key)
        if self.lr_range is not None:
            spread = {"base_lr": None, "lr_range": self.lr_range}
        else:
            spread = {"base_lr": base_lr, "factor": self.factor}
        if self.default_multiplier is not None:
            config["default_multiplier"] = self.default_multiplier
        return {**spread, "unit": self.unit, "optimizer": self.optimizer_class, **config}

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        super().exclude_from_weight_decay(var_list=var_list, var_names=var_names)
        # Remembered for build, which takes weight decay over from Keras.
        self._no_decay_ids = {id(v) for v in var_list or ()}
        self._no_decay_names = tuple(var_names or ())

    def build(self, var_list):
        if self.built:
            return
        unknown = [v.path for v in var_list if self._match(v.path) is None]
        if unknown and self.default_multiplier is None:
            raise InvalidParameterError(
                f"{type(self).__name__} has no learning-rate multiplier for {len(unknown)} "
                f"trainable variable(s), e.g. {unknown[:3]}: the model's trainable variables "
                "changed after the optimizer was made (a block unfrozen, a layer added?). Call "
                "layerwise_optimizer(model, ...) again after changing `trainable`, then "
                "model.compile(...) with the new optimizer; or pass default_multiplier=... to "
                "train unknown variables at base_lr * default_multiplier."
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
            # Keras's rule (a listed variable, or a name containing one of var_names), applied
            # in update_step at each variable's rate; Keras itself then decays none of them.
            names = re.compile("|".join(self._no_decay_names)) if self._no_decay_names else None
            self._decays = [
                id(v) not in self._no_decay_ids and not (names and names.search(v.name))
                for v in var_list
            ]
            super().exclude_from_weight_decay(var_list=var_list)
        super().build(var_list)

    def update_step(self, gradient, variable, learning_rate):
        # The one private name: `_get_variable_index` is how keras.optimizers.Optimizer's own
        # docstring tells subclasses to find a variable's state (every Keras optimizer does);
        # on TensorFlow update_step gets the raw tf.Variable, without a path. A test checks
        # that the docstring still shows it.
        index = self._get_variable_index(variable)
        # The learning rate, not the gradient: Adam-like optimizers divide the gradient's scale
        # away. A multiplier of 1 gives the parent's step exactly (lr * 1.0 is lr).
        learning_rate = learning_rate * self._scales[index]
        if self._decays[index]:  # Keras's decoupled decay, at this variable's rate
            lr = keras.ops.cast(learning_rate, variable.dtype)
            wd = keras.ops.cast(self.weight_decay, variable.dtype)
            self.assign(variable, variable - variable * wd * lr)
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {
            **super().get_config(),
            "multipliers": dict(self._multipliers),
            "default_multiplier": self.default_multiplier,
            "factor": self.factor,
            "unit": self.unit,
            "lr_range": None if self.lr_range is None else list(self.lr_range),
        }


def is_layerwise(optimizer) -> bool:
    """True for a class made by :func:`layerwise_class`, or an instance of one.

    Example:
        >>> import keras
        >>> is_layerwise(LayerwiseSGD(0.1)), is_layerwise(keras.optimizers.SGD)
        (True, False)
    """
    if isinstance(optimizer, type):
        return issubclass(optimizer, _LayerwiseMixin)
    return isinstance(optimizer, _LayerwiseMixin)


def supported_optimizers() -> list[str]:
    """The optimizer names :func:`layerwise_class` and ``layerwise_optimizer`` accept, sorted.

    Example:
        >>> supported_optimizers()[:3]
        ['adadelta', 'adagrad', 'adam']
    """
    return sorted(_SUPPORTED)


_CLASSES: dict[type, type] = {}

_CLASS_DOC = """{parent} with a learning-rate multiplier per variable.

Made by :func:`tlcourse.optimizers.layerwise_class`; make one for a model with
:func:`tlcourse.optimizers.layerwise_optimizer`, which computes the multipliers.

Args:
    *args: the positional arguments of keras.optimizers.{parent} (``learning_rate`` first).
    multipliers: ``{{variable path or path suffix: float}}``; a variable trains at
        ``learning_rate * multiplier`` of its longest matching suffix. Defaults to None.
    default_multiplier: multiplier of the variables missing from ``multipliers`` (with a
        warning); None refuses them in ``build``. Defaults to None.
    factor: the ratio between consecutive groups the multipliers were made with (kept to make
        the optimizer again for other blocks). Defaults to None.
    unit: ``"block"`` or ``"layer"``, what one group is. Defaults to ``"block"``.
    lr_range: ``(low, high)`` the multipliers spread over, instead of ``factor``. Defaults to
        None.
    **kwargs: the other keyword arguments of keras.optimizers.{parent}.
"""


@validate_params(
    {
        "optimizer_class": [
            Rule(
                lambda c: isinstance(c, type) and issubclass(c, keras.Optimizer),
                "a subclass of keras.optimizers.Optimizer",
            )
        ]
    }
)
def layerwise_class(optimizer_class: type) -> type:
    """Return the per-variable-learning-rate subclass of a Keras optimizer class.

    The subclass is named ``"Layerwise" + optimizer_class.__name__`` and registered for saving
    as ``"tlcourse>Layerwise..."``. The built-in ones exist once ``tlcourse.optimizers`` is
    imported; for your own class, call this before ``keras.models.load_model``. Its
    ``update_step`` must take the step size from its ``learning_rate`` argument.

    Raises:
        InvalidParameterError: not an optimizer class, or one that per-variable learning rates
            would break (Adafactor, Ftrl, Muon, ScheduleFreeAdamW, wrappers).

    Example:
        >>> import keras
        >>> cls = layerwise_class(keras.optimizers.SGD)
        >>> opt = cls(learning_rate=0.1, multipliers={"w": 0.5})
        >>> w = keras.Variable([1.0], name="w")
        >>> opt.apply([keras.ops.convert_to_tensor([1.0])], [w])
        >>> cls.__name__, round(float(w.numpy()[0]), 6)
        ('LayerwiseSGD', 0.95)
    """
    if issubclass(optimizer_class, _LayerwiseMixin):
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
    namespace = {
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": _CLASS_DOC.format(parent=optimizer_class.__name__),
        "optimizer_class": optimizer_class,
        "_check_settings": staticmethod(_settings_check(name)),
    }
    cls = type(name, (_LayerwiseMixin, optimizer_class), namespace)
    _CLASSES[optimizer_class] = keras.saving.register_keras_serializable("tlcourse", name)(cls)
    return cls


LayerwiseAdam = layerwise_class(keras.optimizers.Adam)
LayerwiseAdamW = layerwise_class(keras.optimizers.AdamW)
LayerwiseSGD = layerwise_class(keras.optimizers.SGD)
LayerwiseRMSprop = layerwise_class(keras.optimizers.RMSprop)
for _cls in _SUPPORTED.values():
    layerwise_class(_cls)  # registers the rest for load_model
