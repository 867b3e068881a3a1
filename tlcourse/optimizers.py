"""Per-layer (discriminative) learning rates: the head learns fast, early blocks slowly.

Fine-tuning a pretrained backbone works best when the layers that are already good (early,
generic features) move less than the layers being re-purposed (late blocks, the new head).
:func:`layerwise_optimizer` builds any Keras optimizer whose learning rate is multiplied, per
variable, by ``factor ** -k`` (``k`` = how many trainable groups the variable sits before the
head), and :func:`learning_rates` shows what every variable trains at right now.

How it works: :func:`layerwise_class` subclasses the chosen optimizer class (``LayerwiseAdam``,
``LayerwiseSGD``...) and scales the ``learning_rate`` handed to ``update_step``, which every
backend calls once per variable (on TensorFlow from inside ``tf.distribute``'s update, with the
raw ``tf.Variable``; hence the lookup by optimizer index, prepared in ``build``). The optimizer's
own ``learning_rate`` stays the *base* (head) rate, so ``LearningRateScheduler``,
``ReduceLROnPlateau`` and learning-rate schedules change every group together and the ratios
hold. The multipliers live in ``get_config``, so ``model.save`` / ``keras.models.load_model``
restore them.
"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
import pandas as pd

from tlcourse.backbones.blocks import backbone_blocks, find_backbone
from tlcourse.errors import InvalidParameterError, check_choice, is_real_number

__all__ = [
    "LayerwiseAdam",
    "LayerwiseAdamW",
    "LayerwiseRMSprop",
    "LayerwiseSGD",
    "layerwise_class",
    "layerwise_optimizer",
    "learning_rates",
]

# Optimizers whose step is proportional to the learning rate handed to update_step, so that a
# per-variable multiplier means "this variable trains `multiplier` times slower".
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

_UNITS = ("block", "layer")


class _LayerwiseMixin:
    """Scale the learning rate per variable by a multiplier keyed on ``variable.path``.

    Mixed into an optimizer class by :func:`layerwise_class`; see the module docstring. A key
    is a path or a ``/``-suffix of one (``"block5_conv1/kernel"``), and the longest matching
    suffix wins: a path's leading scopes are not stable (a Dense built inside a Sequential is
    ``sequential/dense/kernel``, and ``dense/kernel`` once the model is loaded from disk), the
    layer and variable names are.
    """

    def __init__(self, multipliers=None, default_multiplier=None, **kwargs):
        multipliers = _check_multipliers(multipliers, type(self).__name__)
        if default_multiplier is not None:
            default_multiplier = _check_positive(
                "default_multiplier", default_multiplier, type(self).__name__
            )
        super().__init__(**kwargs)
        self._multipliers = multipliers
        self._default_multiplier = default_multiplier
        # Index-aligned with the optimizer's variables (filled in `build`), so update_step does
        # one list lookup at trace time and the compiled step carries one multiply per variable.
        self._lr_multipliers = []

    @property
    def multipliers(self) -> dict[str, float]:
        """``{path or path suffix: multiplier}`` as given to the constructor (a copy)."""
        return dict(self._multipliers)

    @property
    def default_multiplier(self) -> float | None:
        """Multiplier of variables missing from ``multipliers`` (None: refuse them)."""
        return self._default_multiplier

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
                stacklevel=2,
            )
        self._lr_multipliers = multipliers
        super().build(var_list)

    def update_step(self, gradient, variable, learning_rate):
        # The learning rate, not the gradient: Adam-like optimizers divide the gradient's scale
        # away, so a scaled gradient would change almost nothing.
        scale = self._lr_multipliers[self._get_variable_index(variable)]
        if scale != 1.0:
            learning_rate = learning_rate * scale
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
                lr = keras.ops.cast(self.learning_rate, variable.dtype) * self.multiplier(variable)
                wd = keras.ops.cast(self.weight_decay, variable.dtype)
                variable.assign(variable - variable * wd * lr)

    def get_config(self):
        config = super().get_config()
        config["multipliers"] = {str(k): float(v) for k, v in self._multipliers.items()}
        config["default_multiplier"] = self._default_multiplier
        return config


def _tf_apply_weight_decay(optimizer, variables):
    """TensorFlow's weight decay (through ``tf.distribute``, like TFOptimizer) with multipliers."""
    import tensorflow as tf

    def apply(distribution, variables, **kwargs):
        def decay(variable):
            if optimizer._use_weight_decay(variable):
                lr = tf.cast(optimizer.learning_rate, variable.dtype) * optimizer.multiplier(
                    variable
                )
                wd = tf.cast(optimizer.weight_decay, variable.dtype)
                variable.assign_sub(variable * wd * lr)

        for variable in variables:
            if isinstance(variable, keras.Variable):
                variable = variable.value
            distribution.extended.update(variable, decay, group=False)

    tf.__internal__.distribute.interim.maybe_merge_call(
        apply, optimizer._distribution_strategy, variables
    )


_CLASSES: dict[type, type] = {}


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
        (``{variable path or path suffix: float}``) and ``default_multiplier`` (float, or None
        to refuse variables missing from ``multipliers``; defaults to None).

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
        raise InvalidParameterError(
            "The 'optimizer_class' parameter of layerwise_class must be a subclass of "
            f"keras.optimizers.Optimizer. Got {optimizer_class!r} instead."
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
            "__doc__": (
                f"{optimizer_class.__name__} with a learning-rate multiplier per variable.\n\n"
                "Made by :func:`tlcourse.optimizers.layerwise_class`; build one with "
                ":func:`tlcourse.optimizers.layerwise_optimizer`.\n\n"
                "Args:\n"
                "    multipliers: ``{variable path or path suffix: float}``; a variable\n"
                "        trains at ``learning_rate * multiplier`` of its longest matching\n"
                "        suffix (``block5_conv1/kernel``). Defaults to None (empty).\n"
                "    default_multiplier: multiplier of variables missing from\n"
                "        ``multipliers``; None refuses them in ``build``. Defaults to None.\n"
                f"    **kwargs: the arguments of keras.optimizers.{optimizer_class.__name__}.\n"
            ),
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


def _check_positive(param: str, value, func: str) -> float:
    if not (is_real_number(value) and value > 0):
        raise InvalidParameterError(
            f"The {param!r} parameter of {func} must be a float > 0. Got {value!r} instead."
        )
    return float(value)


def _check_multipliers(multipliers, func: str) -> dict[str, float]:
    if multipliers is None:
        return {}
    if not isinstance(multipliers, dict) or not all(isinstance(k, str) for k in multipliers):
        raise InvalidParameterError(
            f"The 'multipliers' parameter of {func} must be a dict {{variable path: float}}. "
            f"Got {type(multipliers).__name__} instead."
        )
    for key, value in multipliers.items():
        if not (is_real_number(value) and value > 0):
            raise InvalidParameterError(
                f"The 'multipliers' parameter of {func} must map paths to floats > 0. Got "
                f"{key!r}: {value!r} instead."
            )
    return {key: float(value) for key, value in multipliers.items()}


def _resolve_optimizer(optimizer) -> type:
    if isinstance(optimizer, str):
        name = optimizer.lower().replace("_", "")
        if name in _SUPPORTED:
            return _SUPPORTED[name]
        refused = {cls.__name__.lower(): cls for cls in _REFUSED}
        if name in refused:
            return layerwise_class(refused[name])  # raises, saying why
        check_choice("optimizer", optimizer, sorted(_SUPPORTED), "layerwise_optimizer")
    if isinstance(optimizer, keras.Optimizer):
        raise InvalidParameterError(
            "The 'optimizer' parameter of layerwise_optimizer must be a name or an optimizer "
            "class, with its settings as keyword arguments, e.g. layerwise_optimizer(model, "
            f"1e-3, optimizer='sgd', momentum=0.9). Got an instance of "
            f"{type(optimizer).__name__} instead."
        )
    if isinstance(optimizer, type) and issubclass(optimizer, keras.Optimizer):
        return optimizer
    raise InvalidParameterError(
        "The 'optimizer' parameter of layerwise_optimizer must be one of "
        f"{sorted(_SUPPORTED)} or a keras.optimizers.Optimizer subclass. Got {optimizer!r} "
        "instead."
    )


def _check_base_lr(base_lr):
    if isinstance(base_lr, keras.optimizers.schedules.LearningRateSchedule):
        return base_lr
    if not (is_real_number(base_lr) and base_lr > 0):
        raise InvalidParameterError(
            "The 'base_lr' parameter of layerwise_optimizer must be a float > 0 or a "
            f"keras.optimizers.schedules.LearningRateSchedule. Got {base_lr!r} instead."
        )
    return float(base_lr)


def _check_lr_range(lr_range) -> tuple[float, float]:
    ok = (
        isinstance(lr_range, tuple | list)
        and len(lr_range) == 2
        and all(is_real_number(v) for v in lr_range)
        and 0 < lr_range[0] <= lr_range[1]
    )
    if not ok:
        raise InvalidParameterError(
            "The 'lr_range' parameter of layerwise_optimizer must be a pair (low, high) with "
            f"0 < low <= high, like fast.ai's slice(low, high). Got {lr_range!r} instead."
        )
    return float(lr_range[0]), float(lr_range[1])


def _owners(model: keras.Model):
    """Map ``id(variable)`` to ``(layer name, block name or "head")`` for every model weight.

    Also returns ``(layer name, block name)`` for the backbone's non-head layers, input to
    output, which orders the groups. Raises if the model holds no registered backbone.
    """
    backbone, spec = find_backbone(model)
    blocks = backbone_blocks(backbone)
    block_of = {id(layer): block.name for block in blocks for layer in block.layers}
    owners: dict[int, tuple[str, str | None]] = {}
    order: list[tuple[str, str]] = []
    for layer in backbone.layers:
        if layer.name in spec.head_layers or not blocks:
            block = "head"
        else:
            # Layers before the first block (input, preprocessing) sit on the input side: if
            # one ever has trainable weights, it learns with the earliest block.
            block = block_of.get(id(layer), blocks[0].name)
            order.append((layer.name, block))
        for variable in layer.weights:
            owners.setdefault(id(variable), (layer.name, block))
    for variable in model.weights:
        if id(variable) not in owners:
            owners[id(variable)] = (variable.path.rsplit("/", 1)[0], "head")
    return owners, order


def _short_key(path: str, values: dict[str, float]) -> str:
    """The shortest ``layer/variable``-or-longer suffix of ``path`` that no other path ends with.

    Saved models keep layer and variable names but not always the leading scopes, so the key
    keeps only what identifies the variable.
    """
    parts = path.split("/")
    for start in range(max(len(parts) - 2, 0), -1, -1):
        key = "/".join(parts[start:])
        if not any(p != path and (p == key or p.endswith("/" + key)) for p in values):
            return key
    return path


def layerwise_optimizer(
    model: keras.Model,
    base_lr: float | keras.optimizers.schedules.LearningRateSchedule | None = None,
    factor: float = 3.0,
    optimizer: str | type = "adam",
    unit: str = "block",
    lr_range: tuple[float, float] | None = None,
    **optimizer_kwargs,
) -> keras.Optimizer:
    """Make an optimizer that trains the head at ``base_lr`` and earlier blocks ever slower.

    Only trainable groups count, in backbone order: the head (every trainable variable outside
    the backbone, plus the backbone's own pooling/classifier layers) trains at ``base_lr``, the
    last trainable block at ``base_lr / factor``, the one before at ``base_lr / factor**2``...
    Freeze and unfreeze first, then call this, then ``model.compile(optimizer=...)``: the
    optimizer knows the variables that were trainable when it was made, and refuses others.

    ``optimizer.learning_rate`` is the head's (base) rate: callbacks and schedules that change
    it change every group in proportion. Decoupled weight decay scales with each group's rate.

    Args:
        model: a model containing a tlcourse backbone (see ``tlcourse.load_backbone``), with
            the parts to train set ``trainable``.
        base_lr: the head's learning rate, a float or a
            ``keras.optimizers.schedules.LearningRateSchedule``. Required unless ``lr_range`` is
            given. Defaults to None.
        factor: ratio between the rates of consecutive groups, a float >= 1 (the lecture's
            advice: 3 to 10). Ignored with ``lr_range``. Defaults to 3.0.
        optimizer: a name among ``adadelta, adagrad, adam, adamax, adamw, lamb, lion, nadam,
            rmsprop, sgd`` (case-insensitive), or a ``keras.optimizers.Optimizer`` subclass
            whose ``update_step`` uses its ``learning_rate`` argument. Defaults to ``"adam"``.
        unit: ``"block"`` (one group per backbone block, from the registry's block rules) or
            ``"layer"`` (one group per weighted layer). Defaults to ``"block"``.
        lr_range: ``(low, high)``: spread the rates geometrically from ``low`` (earliest
            trainable group) to ``high`` (head), like fast.ai's ``slice(low, high)``; replaces
            ``base_lr`` and ``factor``. Defaults to None.
        **optimizer_kwargs: passed to the optimizer class (``momentum=0.9``,
            ``weight_decay=1e-4``, ``clipnorm=1.0``...), never ``learning_rate``; also
            ``default_multiplier=m`` to train variables made trainable later at
            ``base_lr * m`` (with a warning) instead of refusing them.

    Returns:
        An instance of the ``Layerwise...`` subclass of the optimizer class (see
        :func:`layerwise_class`), with one multiplier per trainable variable, keyed by the
        shortest unique suffix of its path (``"block5_conv1/kernel"``, ``"dense/bias"``).

    Raises:
        InvalidParameterError: a bad ``base_lr``, ``factor``, ``lr_range``, ``unit`` or
            ``optimizer``; optimizer arguments the class refuses; no backbone in ``model``; no
            trainable variable.

    Example:
        >>> import keras
        >>> from tlcourse.backbones import load_backbone
        >>> from tlcourse.optimizers import layerwise_optimizer, learning_rates
        >>> base = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
        >>> for layer in base.layers:
        ...     layer.trainable = layer.name.startswith(("block4", "block5"))
        >>> inputs = keras.Input((32, 32, 3))
        >>> model = keras.Model(inputs, keras.layers.Dense(3, name="head")(base(inputs)))
        >>> model.compile(layerwise_optimizer(model, 1e-3, factor=10), "mse")
        >>> print(learning_rates(model, by="block")[["block", "multiplier", "learning_rate"]])
            block  multiplier  learning_rate
        0  block4        0.01        0.00001
        1  block5        0.10        0.00010
        2    head        1.00        0.00100
    """
    func = "layerwise_optimizer"
    check_choice("unit", unit, _UNITS, func)
    if lr_range is not None:
        low, high = _check_lr_range(lr_range)
        if base_lr is not None:
            raise InvalidParameterError(
                "Pass either base_lr (with factor) or lr_range to layerwise_optimizer, not "
                f"both: lr_range's high end is the head's rate. Got base_lr={base_lr!r} and "
                f"lr_range={lr_range!r}."
            )
        base_lr = high
    elif base_lr is None:
        raise InvalidParameterError(
            "layerwise_optimizer needs the head's learning rate: pass base_lr (e.g. 1e-3) or "
            "lr_range=(low, high)."
        )
    else:
        base_lr = _check_base_lr(base_lr)
        if not (is_real_number(factor) and factor >= 1):
            raise InvalidParameterError(
                "The 'factor' parameter of layerwise_optimizer must be a float >= 1; the "
                f"lecture's advice is 3 to 10. Got {factor!r} instead."
            )
    parent = _resolve_optimizer(optimizer)
    optimizer_class = layerwise_class(parent)
    for reserved in ("learning_rate", "lr", "multipliers"):
        if reserved in optimizer_kwargs:
            raise InvalidParameterError(
                f"layerwise_optimizer sets {reserved!r} itself: give the head's rate as base_lr "
                f"(or lr_range). Got {reserved}={optimizer_kwargs[reserved]!r}."
            )

    owners, order = _owners(model)
    trainable = model.trainable_variables
    if not trainable:
        raise InvalidParameterError(
            f"layerwise_optimizer found no trainable variable in model {model.name!r}: "
            "everything is frozen. Set layer.trainable = True on the head (and on the blocks "
            "to fine-tune) before calling it."
        )
    # Rank every backbone group input to output; the head has no rank. Only groups with a
    # trainable variable count, so frozen blocks do not push the trainable ones further down.
    key = 1 if unit == "block" else 0
    ranks = {name: i for i, name in enumerate(dict.fromkeys(pair[key] for pair in order))}
    group_of = {
        vid: (None if block == "head" else ranks[(layer, block)[key]])
        for vid, (layer, block) in owners.items()
    }
    used = sorted({group_of[id(v)] for v in trainable} - {None})
    depth = {group: len(used) - i for i, group in enumerate(used)}  # groups before the head
    if lr_range is not None:
        ratio = low / high
        scale = {g: ratio ** (d / len(used)) for g, d in depth.items()}
    else:
        scale = {g: float(factor) ** -d for g, d in depth.items()}

    values = {
        variable.path: 1.0 if group_of[id(variable)] is None else scale[group_of[id(variable)]]
        for variable in trainable
    }
    if len(values) < len(trainable):
        raise InvalidParameterError(
            f"Some trainable variables of model {model.name!r} share a path; give their layers "
            "distinct names."
        )
    multipliers = {_short_key(path, values): value for path, value in values.items()}
    try:
        optimizer = optimizer_class(
            learning_rate=base_lr, multipliers=multipliers, **optimizer_kwargs
        )
    except (TypeError, ValueError) as error:
        raise InvalidParameterError(
            f"{parent.__name__} refused the arguments "
            f"{sorted(optimizer_kwargs)} passed by layerwise_optimizer: {error}"
        ) from None
    # Remember how it was made, so set_trainable can rebuild it exactly for other blocks.
    spread = {"lr_range": (low, high)} if lr_range is not None else {"factor": float(factor)}
    optimizer._tlcourse_layerwise_settings = {
        **spread,
        "optimizer": parent,
        "unit": unit,
        **optimizer_kwargs,
    }
    return optimizer


def learning_rates(model: keras.Model, by: str | None = None, include_frozen: bool = False):
    """Tabulate the learning rate every variable trains at, now.

    The effective rate is the optimizer's current base rate (a schedule is evaluated at the
    optimizer's current iteration) times the variable's multiplier; a plain optimizer has
    multiplier 1 everywhere. Handy to check a fine-tuning setup before a long ``fit``, the way
    timm prints its parameter groups.

    Args:
        model: a compiled model (``model.optimizer`` set). Block names come from its tlcourse
            backbone; without one, ``block`` is None.
        by: None (one row per variable), ``"block"`` (one row per block and rate) or
            ``"layer"`` (one row per layer). Defaults to None.
        include_frozen: also list the weights the optimizer does not train (frozen layers,
            BatchNorm statistics) with ``trainable`` False and learning rate 0. Defaults to
            False.

    Returns:
        A ``pandas.DataFrame`` in model order. Per variable: ``path``, ``layer``, ``block``
        (``"head"`` for the head), ``parameters``, ``trainable``, ``multiplier`` and
        ``learning_rate``. Grouped: ``block`` or ``layer``, ``multiplier``, ``learning_rate``,
        ``variables`` and ``parameters``.

    Raises:
        InvalidParameterError: the model is not compiled, or ``by`` is not a valid choice.

    Example:
        >>> import keras
        >>> from tlcourse.optimizers import learning_rates
        >>> inputs = keras.Input((2,))
        >>> model = keras.Model(inputs, keras.layers.Dense(1, name="d")(inputs))
        >>> model.compile(keras.optimizers.SGD(0.5), "mse")
        >>> learning_rates(model)[["path", "learning_rate"]].values.tolist()
        [['d/kernel', 0.5], ['d/bias', 0.5]]
    """
    if by is not None:
        check_choice("by", by, ("block", "layer"), "learning_rates")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise InvalidParameterError(
            f"learning_rates needs a compiled model; model {model.name!r} has no optimizer. "
            "Call model.compile(optimizer=layerwise_optimizer(model, ...), loss=...) first."
        )
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    base = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    try:
        owners, _ = _owners(model)
    except InvalidParameterError:
        owners = {id(v): (v.path.rsplit("/", 1)[0], None) for v in model.weights}

    trainable_ids = {id(v) for v in model.trainable_variables}
    rows = []
    for variable in model.weights:
        is_trainable = id(variable) in trainable_ids
        if not (is_trainable or include_frozen):
            continue
        if not is_trainable:
            multiplier = 0.0
        elif isinstance(optimizer, _LayerwiseMixin):
            multiplier = optimizer.multiplier(variable)
            multiplier = math.nan if multiplier is None else multiplier
        else:
            multiplier = 1.0
        layer, block = owners.get(id(variable), (variable.path.rsplit("/", 1)[0], None))
        rows.append(
            {
                "path": variable.path,
                "layer": layer,
                "block": block,
                "parameters": int(np.prod(variable.shape)),
                "trainable": is_trainable,
                "multiplier": multiplier,
                "learning_rate": base * multiplier,
            }
        )
    columns = ["path", "layer", "block", "parameters", "trainable", "multiplier", "learning_rate"]
    table = pd.DataFrame(rows, columns=columns)
    if by is None:
        return table
    return (
        table.groupby([by, "multiplier", "learning_rate"], sort=False, dropna=False)
        .agg(variables=("path", "size"), parameters=("parameters", "sum"))
        .reset_index()
    )
