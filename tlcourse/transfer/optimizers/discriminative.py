"""Discriminative learning rates: generic early features move less than the new head."""

from __future__ import annotations

import keras

from tlcourse.errors import InvalidParameterError, invalid_parameter
from tlcourse.transfer.groups import HEAD, PREPROCESSING, require_backbone, variable_groups
from tlcourse.transfer.optimizers.layerwise import (
    FACTOR,
    LR_RANGE,
    OPTIMIZER,
    UNIT,
    layerwise_class,
)
from tlcourse.validation import LEARNING_RATE, validate_params

__all__ = ["layerwise_optimizer"]


def _variable_owners(model: keras.Model, unit: str) -> dict[int, tuple[str, str, int | None]]:
    """``{id(variable): (layer name, group name, rank)}``, ranks input to output, head None."""
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
    """The shortest ``layer/variable``-or-longer suffix of ``path`` no other path ends with."""
    parts = path.split("/")
    for start in range(max(len(parts) - 2, 0), -1, -1):
        key = "/".join(parts[start:])
        if not any(p != path and (p == key or p.endswith("/" + key)) for p in paths):
            return key
    return path


@validate_params(
    {"model": [keras.Model], "factor": [FACTOR], "optimizer": OPTIMIZER, "unit": [UNIT],
     "base_lr": [LEARNING_RATE, keras.optimizers.schedules.LearningRateSchedule, None],
     "lr_range": [LR_RANGE, None]}
)  # fmt: skip
def layerwise_optimizer(
    model: keras.Model, base_lr=None, factor: float = 3.0, optimizer="adam", unit: str = "block",
    lr_range=None, **optimizer_kwargs,
) -> keras.Optimizer:  # fmt: skip
    """Make an optimizer that trains the head at ``base_lr`` and earlier blocks ever slower.

    Only trainable groups count: the head trains at ``base_lr``, the last trainable block at
    ``base_lr / factor``, the one before at ``base_lr / factor**2``... Set ``trainable`` first, then
    call this, then ``compile``. ``lr_range=(low, high)`` instead spreads the rates geometrically
    from the earliest trainable group to the head, like fast.ai's ``slice(low, high)``. Other
    keyword arguments go to the optimizer; ``default_multiplier=m`` trains variables made trainable
    later at ``base_lr * m`` instead of refusing them.

    Example:
        >>> from tlcourse.models.backbones import load_backbone
        >>> from tlcourse.transfer.optimizers import layerwise_optimizer, learning_rates
        >>> base = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
        >>> for layer in base.layers:
        ...     layer.trainable = layer.name.startswith(("block4", "block5"))
        >>> model = keras.Sequential([base, keras.layers.Dense(3, name="head")])
        >>> model.compile(layerwise_optimizer(model, 1e-3, factor=10), "mse")
        >>> print(learning_rates(model, by="block")[["block", "multiplier", "learning_rate"]])
            block  multiplier  learning_rate
        0  block4        0.01        0.00001
        1  block5        0.10        0.00010
        2    head        1.00        0.00100
    """
    func = "layerwise_optimizer"
    if (base_lr is None) == (lr_range is None):
        raise invalid_parameter(
            "base_lr", func, "given, or else lr_range", base_lr,
            "Pass the head's learning rate as base_lr (e.g. 1e-3, with factor) or as the high "
            "end of lr_range=(low, high), not both.",
        )  # fmt: skip
    require_backbone(model, func)
    optimizer_class = layerwise_class(optimizer)  # refuses, saying why, what would break
    if not (trainable := model.trainable_variables):
        raise invalid_parameter(
            "model", func, "a model with a trainable variable", model,
            "Everything is frozen: set layer.trainable = True on the head (and on the blocks "
            "to fine-tune) first.",
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
        raise InvalidParameterError("Rename layers: trainable variables share a path.")
    multipliers = {_short_key(path, values): value for path, value in values.items()}
    recipe = {"factor": factor, "unit": unit, "lr_range": lr_range}
    try:
        return optimizer_class(base_lr, multipliers=multipliers, **recipe, **optimizer_kwargs)
    except (TypeError, ValueError) as error:
        raise InvalidParameterError(
            f"{optimizer_class.optimizer_class.__name__} refused the arguments "
            f"{sorted(optimizer_kwargs)} passed by layerwise_optimizer: {error}"
        ) from None
