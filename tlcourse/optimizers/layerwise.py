"""Optimizers with a learning-rate multiplier per variable: ``LayerwiseAdam``, ``LayerwiseSGD``...

:func:`layerwise_class` subclasses a Keras optimizer class and scales the ``learning_rate``
handed to ``update_step``, which every backend calls once per variable (on TensorFlow from
inside ``tf.distribute``'s update, with the raw ``tf.Variable``; hence the lookup by optimizer
index, prepared in ``build``). The optimizer's own ``learning_rate`` stays the *base* (head)
rate, so ``LearningRateScheduler``, ``ReduceLROnPlateau`` and learning-rate schedules change
every group together and the ratios hold. The multipliers themselves are an optimizer variable
(``lr_multipliers``, one value per trained variable) that the compiled step reads, so
:meth:`~LayerwiseAdam.assign_multipliers` gives a compiled model other rates without tracing
its step again.

An optimizer owns its whole configuration: the per-variable ``multipliers`` and the recipe that
produced them (``factor`` or ``lr_range``, and ``unit``), all constructor arguments returned by
``get_config``. So ``model.save`` / ``keras.models.load_model`` restore it, and
``set_trainable`` can make it again for other trainable blocks
(:meth:`layerwise_settings`) without guessing.
"""

from __future__ import annotations

import os
import sys
import warnings

import keras

from tlcourse.errors import InvalidParameterError, check_choice, check_real, invalid_parameter
from tlcourse.groups import UNITS
from tlcourse.optimizers.checks import check_factor, check_lr_range, check_multipliers
from tlcourse.optimizers.support import _REFUSED, _SUPPORTED

__all__ = [
    "LAYERWISE_ARGUMENTS",
    "LayerwiseAdam",
    "LayerwiseAdamW",
    "LayerwiseRMSprop",
    "LayerwiseSGD",
    "is_layerwise",
    "layerwise_class",
]

# The constructor arguments a layer-wise class adds to its parent's.
LAYERWISE_ARGUMENTS = ("multipliers", "default_multiplier", "factor", "unit", "lr_range")


def _library_dirs() -> tuple[str, ...]:
    """Folders of tlcourse, Keras and TensorFlow: frames there are library code."""
    dirs = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    for name in ("keras", "tensorflow"):
        module = sys.modules.get(name)
        if getattr(module, "__file__", None):
            dirs.append(os.path.dirname(os.path.abspath(module.__file__)))
    return tuple(d + os.sep for d in dirs)


def _user_stacklevel() -> int:
    """``stacklevel`` for ``warnings.warn`` that points at the user's line, whatever the path.

    ``build`` is reached through Keras (fit, apply, a traced step...), never directly, and a
    fixed ``stacklevel`` is right through one caller only: count the library frames instead.
    """
    library = _library_dirs()
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(library):
        frame, level = frame.f_back, level + 1
    return level


class _LayerwiseMixin:
    """Scale the learning rate per variable by a multiplier keyed on ``variable.path``.

    Mixed into an optimizer class by :func:`layerwise_class`; see the module docstring. A key
    is a path or a ``/``-suffix of one (``"block5_conv1/kernel"``), and the longest matching
    suffix wins: a path's leading scopes are not stable (a Dense built inside a Sequential is
    ``sequential/dense/kernel``, and ``dense/kernel`` once the model is loaded from disk), the
    layer and variable names are.
    """

    # The optimizer class this one adds multipliers to; set by layerwise_class.
    optimizer_class: type = keras.Optimizer

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
        func = type(self).__name__
        multipliers = check_multipliers(multipliers, func)
        default_multiplier = check_real(
            "default_multiplier", default_multiplier, func, low=0, low_open=True, none_ok=True
        )
        factor = check_factor(factor, func)
        check_choice("unit", unit, UNITS, func)
        lr_range = check_lr_range(lr_range, func)
        if factor is not None and lr_range is not None:
            raise invalid_parameter(
                "lr_range", func, "None when 'factor' is given", lr_range,
                "Pass either factor or lr_range: each says how the rates spread.",
            )  # fmt: skip
        super().__init__(*args, **kwargs)  # the parent's own arguments, learning_rate first
        self._multipliers = multipliers
        self._default_multiplier = default_multiplier
        self._factor = factor
        self._unit = unit
        self._lr_range = lr_range
        # Index-aligned with the optimizer's variables (filled in `build`), as floats and as
        # one variable the compiled step reads (one multiply per variable).
        self._lr_multipliers = []
        self._multiplier_values = None

    @property
    def multipliers(self) -> dict[str, float]:
        """``{path or path suffix: multiplier}`` as given to the constructor (a copy)."""
        return dict(self._multipliers)

    @property
    def default_multiplier(self) -> float | None:
        """Multiplier of variables missing from ``multipliers`` (None: refuse them)."""
        return self._default_multiplier

    @property
    def factor(self) -> float | None:
        """Ratio between consecutive groups' rates the multipliers were made with, or None."""
        return self._factor

    @property
    def unit(self) -> str:
        """``"block"`` or ``"layer"``: what one group of the multipliers is."""
        return self._unit

    @property
    def lr_range(self) -> tuple[float, float] | None:
        """``(low, high)`` the multipliers spread geometrically over, or None."""
        return self._lr_range

    def layerwise_settings(self) -> dict | None:
        """Return the arguments that make this optimizer again for other trainable variables.

        Returns:
            The keyword arguments of :func:`tlcourse.optimizers.layerwise_optimizer`:
            ``base_lr`` (the current base rate or schedule; None with ``lr_range``),
            ``factor`` or ``lr_range``, ``unit``, ``optimizer`` (the parent class),
            ``default_multiplier`` when set, and the parent's own settings (momentum, weight
            decay...). None when the optimizer was made from explicit ``multipliers`` only
            (no ``factor`` nor ``lr_range``): there is no rule to extend them.
        """
        if self._factor is None and self._lr_range is None:
            return None
        config = self.get_config()
        for key in ("name", "learning_rate", *LAYERWISE_ARGUMENTS):
            config.pop(key, None)
        schedule = getattr(self, "_learning_rate", None)
        if self._lr_range is not None:
            base_lr, spread = None, {"lr_range": self._lr_range}
        elif isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            base_lr, spread = schedule, {"factor": self._factor}
        else:
            base_lr, spread = float(self.learning_rate), {"factor": self._factor}
        if self._default_multiplier is not None:
            config["default_multiplier"] = self._default_multiplier
        return {
            "base_lr": base_lr,
            **spread,
            "unit": self._unit,
            "optimizer": self.optimizer_class,
            **config,
        }

    def assign_multipliers(self, optimizer) -> None:
        """Train with the multipliers of ``optimizer`` from now on, without tracing again.

        The multipliers live in an optimizer variable that the compiled train step reads (as
        Keras keeps the base ``learning_rate`` in one), so a model compiled once trains with
        other rates at no new tracing: ``tlcourse compare`` fine-tunes with one rate (factor
        1) and with differential rates (factor 3) through one compiled model. The recipe
        (``multipliers``, ``default_multiplier``, ``factor``, ``unit``, ``lr_range``) comes too,
        so ``get_config`` describes the new rates; the base learning rate stays this one's.

        Args:
            optimizer: a layerwise optimizer of the same class, made for the same variables
                (e.g. by :func:`~tlcourse.optimizers.layerwise_optimizer` for the same
                model or a copy of it); built or not.

        Raises:
            InvalidParameterError: this optimizer is not built yet, ``optimizer`` is of another
                class, or it has no multiplier for a variable this one trains.

        Example:
            >>> import keras
            >>> w = keras.Variable([1.0], name="w")
            >>> opt = LayerwiseSGD(0.1, multipliers={"w": 1.0})
            >>> opt.build([w])
            >>> opt.assign_multipliers(LayerwiseSGD(0.1, multipliers={"w": 0.5}))
            >>> opt.apply([keras.ops.convert_to_tensor([1.0])], [w])
            >>> opt.multiplier(w), round(float(w.numpy()[0]), 6)
            (0.5, 0.95)
        """
        func = f"{type(self).__name__}.assign_multipliers"
        if not self.built:
            raise InvalidParameterError(
                f"{func}: this optimizer is not built yet (it gets its variables in build, "
                "at the first training step); make it with the new multipliers instead."
            )
        if type(optimizer) is not type(self):
            raise invalid_parameter(
                "optimizer", func, f"a {type(self).__name__}", type(optimizer).__name__
            )
        values = [optimizer.multiplier(v.path) for v in self._trainable_variables]
        unknown = [
            v.path for v, m in zip(self._trainable_variables, values, strict=True) if m is None
        ]
        if unknown:
            raise invalid_parameter(
                "optimizer", func, "an optimizer with a multiplier for every variable this one "
                "trains", type(optimizer).__name__, f"It has none for {unknown[:3]}.",
            )  # fmt: skip
        self._multipliers = dict(optimizer._multipliers)
        self._default_multiplier = optimizer._default_multiplier
        self._factor, self._unit, self._lr_range = (
            optimizer._factor,
            optimizer._unit,
            optimizer._lr_range,
        )
        self._lr_multipliers = values
        self._multiplier_values.assign(values)

    def multiplier(self, variable) -> float | None:
        """Return the learning-rate multiplier of ``variable`` (a variable or its path).

        Args:
            variable: a model variable, a raw backend variable of a built optimizer, or a path
                such as ``"block5_conv3/kernel"``.

        Returns:
            The multiplier, or None when the variable is unknown and there is no
            ``default_multiplier``.
        """
        if not isinstance(variable, str):
            if self.built:
                try:
                    return self._lr_multipliers[self._get_variable_index(variable)]
                except KeyError:
                    pass
            variable = getattr(variable, "path", None)
        value = None if variable is None else self._match(variable)
        return self._default_multiplier if value is None else value

    def _match(self, path: str) -> float | None:
        """The multiplier of the longest key that ``path`` ends with (at a ``/``), or None."""
        parts = path.split("/")
        for start in range(len(parts)):
            value = self._multipliers.get("/".join(parts[start:]))
            if value is not None:
                return value
        return None

    def build(self, var_list):
        if self.built:
            return
        multipliers, unknown = [], []
        for variable in var_list:
            value = self._match(variable.path)
            if value is None:
                unknown.append(variable.path)
                value = self._default_multiplier
            multipliers.append(value)
        if unknown and self._default_multiplier is None:
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
                f"{unknown[:3]}, train at base_lr * {self._default_multiplier}.",
                stacklevel=_user_stacklevel(),
            )
        self._lr_multipliers = multipliers
        super().build(var_list)
        # As an initializer, not an assign: build may run inside the first traced step.
        self._multiplier_values = self.add_variable(
            (len(multipliers),),
            initializer=lambda shape, dtype: keras.ops.convert_to_tensor(multipliers, dtype),
            dtype="float32",
            name="lr_multipliers",
        )

    def _scale(self, variable):
        """The multiplier of ``variable`` as the traced step reads it (from the variable)."""
        return self._multiplier_values[self._get_variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate):
        # The learning rate, not the gradient: Adam-like optimizers divide the gradient's scale
        # away, so a scaled gradient would change almost nothing. A multiplier of 1 gives the
        # parent's step exactly (lr * 1.0 is lr in float32).
        learning_rate = learning_rate * keras.ops.cast(self._scale(variable), learning_rate.dtype)
        return super().update_step(gradient, variable, learning_rate)

    def _apply_weight_decay(self, variables):
        # Decoupled weight decay is lr * weight_decay * w; scaled like the step it belongs to
        # (as PyTorch/timm param groups do), a slow block also decays slowly.
        if self.weight_decay is None:
            return
        if keras.backend.backend() == "tensorflow":
            _tf_apply_weight_decay(self, variables)
            return
        for variable in variables:
            if self._use_weight_decay(variable):
                scale = keras.ops.cast(self._scale(variable), variable.dtype)
                lr = keras.ops.cast(self.learning_rate, variable.dtype) * scale
                wd = keras.ops.cast(self.weight_decay, variable.dtype)
                variable.assign(variable - variable * wd * lr)

    def get_config(self):
        config = super().get_config()
        config["multipliers"] = {str(k): float(v) for k, v in self._multipliers.items()}
        config["default_multiplier"] = self._default_multiplier
        config["factor"] = self._factor
        config["unit"] = self._unit
        config["lr_range"] = None if self._lr_range is None else list(self._lr_range)
        return config


def _tf_apply_weight_decay(optimizer, variables):
    """TensorFlow's weight decay (through ``tf.distribute``, like TFOptimizer) with multipliers."""
    import tensorflow as tf

    def apply(distribution, variables, **kwargs):
        def decay(variable):
            if optimizer._use_weight_decay(variable):
                scale = tf.cast(optimizer._scale(variable), variable.dtype)
                lr = tf.cast(optimizer.learning_rate, variable.dtype) * scale
                wd = tf.cast(optimizer.weight_decay, variable.dtype)
                variable.assign_sub(variable * wd * lr)

        for variable in variables:
            if isinstance(variable, keras.Variable):
                variable = variable.value
            distribution.extended.update(variable, decay, group=False)

    tf.__internal__.distribute.interim.maybe_merge_call(
        apply, optimizer._distribution_strategy, variables
    )


def is_layerwise(optimizer) -> bool:
    """True for a class made by :func:`layerwise_class`, or an instance of one.

    Example:
        >>> import keras
        >>> is_layerwise(LayerwiseSGD(0.1)), is_layerwise(LayerwiseSGD)
        (True, True)
        >>> is_layerwise(keras.optimizers.SGD(0.1)), is_layerwise(keras.optimizers.SGD)
        (False, False)
    """
    if isinstance(optimizer, type):
        return issubclass(optimizer, _LayerwiseMixin)
    return isinstance(optimizer, _LayerwiseMixin)


_CLASSES: dict[type, type] = {}

_CLASS_DOC = """{parent} with a learning-rate multiplier per variable.

Made by :func:`tlcourse.optimizers.layerwise_class`; build one for a model with
:func:`tlcourse.optimizers.layerwise_optimizer`, which computes the multipliers.

Args:
    *args: the positional arguments of keras.optimizers.{parent} (``learning_rate`` first).
    multipliers: ``{{variable path or path suffix: float}}``; a variable trains at
        ``learning_rate * multiplier`` of its longest matching suffix
        (``block5_conv1/kernel``). Defaults to None (empty).
    default_multiplier: multiplier of variables missing from ``multipliers``; None refuses
        them in ``build``. Defaults to None.
    factor: the ratio between consecutive groups the multipliers were made with (a float
        >= 1), kept so the optimizer can be made again for other blocks. Defaults to None.
    unit: ``"block"`` or ``"layer"``, what one group is. Defaults to ``"block"``.
    lr_range: ``(low, high)`` the multipliers spread over, instead of ``factor``. Defaults to
        None.
    **kwargs: the other keyword arguments of keras.optimizers.{parent}.

The arguments after ``*args`` are keyword-only.
"""


def layerwise_class(optimizer_class: type) -> type:
    """Return the per-variable-learning-rate subclass of a Keras optimizer class.

    The subclass is named ``"Layerwise" + optimizer_class.__name__`` and registered for
    saving as ``"tlcourse>Layerwise..."``. The built-in ones exist as soon as
    ``tlcourse.optimizers`` is imported; for your own optimizer class, call this function
    before ``keras.models.load_model`` so the saved model finds its optimizer again. Its
    ``update_step`` must take the step size from its ``learning_rate`` argument.

    Args:
        optimizer_class: a subclass of ``keras.optimizers.Optimizer``, e.g.
            ``keras.optimizers.SGD``.

    Returns:
        The subclass, whose constructor takes the parent's arguments plus ``multipliers``
        (``{variable path or path suffix: float}``), ``default_multiplier`` (float, or None
        to refuse variables missing from ``multipliers``; defaults to None) and the recipe
        ``factor``, ``unit`` and ``lr_range`` (see the class's docstring). Its
        ``optimizer_class`` attribute is ``optimizer_class``.

    Raises:
        InvalidParameterError: not an optimizer class, or one that per-variable learning rates
            would break (Adafactor, Ftrl, Muon, ScheduleFreeAdamW, wrappers).

    Example:
        >>> import keras
        >>> from tlcourse.optimizers import layerwise_class
        >>> cls = layerwise_class(keras.optimizers.SGD)
        >>> cls.__name__
        'LayerwiseSGD'
        >>> opt = cls(learning_rate=0.1, multipliers={"w": 0.5})
        >>> w = keras.Variable([1.0], name="w")
        >>> opt.apply([keras.ops.convert_to_tensor([1.0])], [w])
        >>> round(float(w.numpy()[0]), 6)
        0.95
    """
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, keras.Optimizer)):
        raise invalid_parameter(
            "optimizer_class",
            "layerwise_class",
            "a subclass of keras.optimizers.Optimizer",
            optimizer_class,
        )
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
    cls = type(
        name,
        (_LayerwiseMixin, optimizer_class),
        {
            "__module__": __name__,
            "__qualname__": name,
            "__doc__": _CLASS_DOC.format(parent=optimizer_class.__name__),
            "optimizer_class": optimizer_class,
        },
    )
    cls = keras.saving.register_keras_serializable(package="tlcourse", name=name)(cls)
    _CLASSES[optimizer_class] = cls
    return cls


LayerwiseAdam = layerwise_class(keras.optimizers.Adam)
LayerwiseAdamW = layerwise_class(keras.optimizers.AdamW)
LayerwiseSGD = layerwise_class(keras.optimizers.SGD)
LayerwiseRMSprop = layerwise_class(keras.optimizers.RMSprop)
for _cls in _SUPPORTED.values():
    layerwise_class(_cls)  # registers the rest for load_model
