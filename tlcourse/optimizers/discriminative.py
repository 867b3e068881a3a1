"""Discriminative learning rates for a transfer model: the head learns fast, early blocks slowly.

Layers that are already good (early, generic features) should move less than the ones being
re-purposed (late blocks, the new head): :func:`layerwise_optimizer` gives each trainable
variable the multiplier ``factor ** -k``, ``k`` being how many trainable groups of
:func:`tlcourse.groups.variable_groups` it sits before the head.
"""

from __future__ import annotations

import keras

from tlcourse.errors import InvalidParameterError, invalid_parameter
from tlcourse.groups import HEAD, PREPROCESSING, require_backbone, variable_groups
from tlcourse.optimizers.layerwise import (
    _BY_NAME,
    _SUPPORTED,
    FACTOR,
    LR_RANGE,
    UNIT,
    layerwise_class,
)
from tlcourse.validation import LEARNING_RATE, Rule, StrOptions, validate_params

__all__ = ["layerwise_optimizer"]


class _Name(StrOptions):
    """An optimizer name, in any case (``"Adam"`` as Keras's ``compile`` accepts it)."""

    def accepts(self, value) -> bool:
        return isinstance(value, str) and value.lower() in _BY_NAME

    def convert(self, value):
        return _BY_NAME[value.lower()]


def _variable_owners(model: keras.Model, unit: str) -> dict[int, tuple[str, str, int | None]]:
    """``{id(variable): (layer name, group name, rank)}`` for every weight of ``model``.

    The rank orders the groups that learn more slowly than the head, input to output; the head
    has rank None. With ``unit="block"`` preprocessing shares the first block's rank (it is
    that block's input side); with ``unit="layer"`` every backbone layer is its own group.
    """
    owners: dict[int, tuple[str, str, int | None]] = {}
    next_rank = 0
    for group in variable_groups(model):
        if group.kind == HEAD:
            rank = None
        elif unit == "block":
            rank = next_rank
            next_rank += group.kind != PREPROCESSING
        for layer in group.layers:
            if group.kind != HEAD and unit == "layer":
                rank, next_rank = next_rank, next_rank + 1
            for variable in layer.weights:
                owners.setdefault(id(variable), (layer.name, group.name, rank))
    for variable in model.weights:  # a variable of the model itself, outside every layer
        owners.setdefault(id(variable), (variable.path.rsplit("/", 1)[0], HEAD, None))
    return owners


def _short_key(path: str, paths) -> str:
    """The shortest ``layer/variable``-or-longer suffix of ``path`` no other path ends with.

    Saved models keep layer and variable names but not always the leading scopes.
    """
    parts = path.split("/")
    for start in range(max(len(parts) - 2, 0), -1, -1):
        key = "/".join(parts[start:])
        if not any(p != path and (p == key or p.endswith("/" + key)) for p in paths):
            return key
    return path


@validate_params(
    {
        "model": [keras.Model],
        "base_lr": [LEARNING_RATE, keras.optimizers.schedules.LearningRateSchedule, None],
        "factor": [FACTOR],
        "optimizer": [
            _Name(_SUPPORTED),
            Rule(
                lambda c: isinstance(c, type) and issubclass(c, keras.Optimizer),
                "a keras.optimizers.Optimizer subclass, its settings as keyword arguments "
                "(optimizer='sgd', momentum=0.9)",
            ),
        ],
        "unit": [UNIT],
        "lr_range": [LR_RANGE, None],
    }
)
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

    Only trainable groups count, input to output: the head (every layer outside the backbone,
    plus the backbone's own pooling/classifier layers) trains at ``base_lr``, the last
    trainable block at ``base_lr / factor``, the one before at ``base_lr / factor**2``... Freeze
    and unfreeze first, then call this, then ``model.compile(optimizer=...)``: the optimizer
    refuses variables that were not trainable when it was made (``set_trainable`` and
    ``recompile`` make it again from its own recipe). ``optimizer.learning_rate`` is the head's
    rate: callbacks and schedules that change it keep the ratios.

    Args:
        model: a model containing a tlcourse backbone (``tlcourse.load_backbone``).
        base_lr: the head's learning rate, a float or a ``LearningRateSchedule``; required
            unless ``lr_range`` is given. Defaults to None.
        factor: ratio between the rates of consecutive groups, >= 1 (the lecture's advice: 3
            to 10). Defaults to 3.0.
        optimizer: one of :func:`~tlcourse.optimizers.supported_optimizers` (any case), or a
            ``keras.optimizers.Optimizer`` subclass. Defaults to ``"adam"``.
        unit: ``"block"`` (one group per backbone block) or ``"layer"`` (one per weighted
            layer). Defaults to ``"block"``.
        lr_range: ``(low, high)``: rates spread geometrically from ``low`` (earliest trainable
            group) to ``high`` (head), like fast.ai's ``slice(low, high)``; replaces
            ``base_lr`` and ``factor``. Defaults to None.
        **optimizer_kwargs: passed to the optimizer (``momentum=0.9``, ``weight_decay=1e-4``,
            ``clipnorm=1.0``...); ``default_multiplier=m`` trains variables made trainable
            later at ``base_lr * m`` (with a warning) instead of refusing them.

    Returns:
        The ``Layerwise...`` subclass of the optimizer (:func:`layerwise_class`), with one
        multiplier per trainable variable and its recipe (``factor`` or ``lr_range``, ``unit``)
        in its configuration.

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
    if lr_range is not None and base_lr is not None:
        raise invalid_parameter(
            "lr_range", func, "None when base_lr is given", lr_range,
            "lr_range's high end is the head's rate: pass either base_lr (with factor) or "
            "lr_range.",
        )  # fmt: skip
    if lr_range is None and base_lr is None:
        raise invalid_parameter(
            "base_lr", func, "a float > 0 or a LearningRateSchedule, unless lr_range is given",
            base_lr, "layerwise_optimizer needs the head's learning rate: pass base_lr (e.g. "
            "1e-3) or lr_range=(low, high).",
        )  # fmt: skip
    require_backbone(model, func)
    optimizer_class = layerwise_class(optimizer)  # refuses, saying why, what would break
    trainable = model.trainable_variables
    if not trainable:
        raise invalid_parameter(
            "model", func, "a model with a trainable variable", model,
            f"layerwise_optimizer found no trainable variable in model {model.name!r}: "
            "everything is frozen. Set layer.trainable = True on the head (and on the blocks "
            "to fine-tune) before calling it.",
        )  # fmt: skip
    # Only groups with a trainable variable count: frozen blocks do not push the others down.
    owners = _variable_owners(model, unit)
    rank_of = {id(v): owners[id(v)][2] for v in trainable}
    used = sorted(set(rank_of.values()) - {None})
    depth = {rank: len(used) - i for i, rank in enumerate(used)}  # groups before the head
    if lr_range is not None:
        base_lr, factor = lr_range[1], None
        scale = {r: (lr_range[0] / lr_range[1]) ** (d / len(used)) for r, d in depth.items()}
    else:
        scale = {rank: factor**-d for rank, d in depth.items()}
    values = {v.path: 1.0 if rank_of[id(v)] is None else scale[rank_of[id(v)]] for v in trainable}
    if len(values) < len(trainable):
        raise InvalidParameterError(
            f"Some trainable variables of model {model.name!r} share a path; give their layers "
            "distinct names."
        )
    multipliers = {_short_key(path, values): value for path, value in values.items()}
    try:
        return optimizer_class(
            learning_rate=base_lr,
            multipliers=multipliers,
            factor=factor,
            unit=unit,
            lr_range=lr_range,
            **optimizer_kwargs,
        )
    except (TypeError, ValueError) as error:
        raise InvalidParameterError(
            f"{optimizer_class.optimizer_class.__name__} refused the arguments "
            f"{sorted(optimizer_kwargs)} passed by layerwise_optimizer: {error}"
        ) from None
