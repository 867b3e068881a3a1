"""What every variable of a compiled model trains at, now: the table behind the LR figures."""

from __future__ import annotations

import math

import keras
import pandas as pd

from tlcourse.errors import InvalidParameterError
from tlcourse.transfer.optimizers.discriminative import _variable_owners
from tlcourse.transfer.optimizers.layerwise import is_layerwise
from tlcourse.validation import StrOptions, validate_params

__all__ = ["learning_rates"]


@validate_params(
    {"model": [keras.Model], "by": [StrOptions({"block", "layer"}), None],
     "include_frozen": ["boolean"]}
)  # fmt: skip
def learning_rates(model: keras.Model, by: str | None = None, include_frozen: bool = False):
    """Tabulate the learning rate every variable of a compiled model trains at, now.

    The optimizer's current rate times the variable's multiplier: a check before a long ``fit``,
    the way timm prints its parameter groups. ``by="block"`` or ``"layer"`` gives a row per group
    and rate; ``include_frozen`` lists frozen weights too, at rate 0.

    Example:
        >>> import keras
        >>> inputs = keras.Input((2,))
        >>> model = keras.Model(inputs, keras.layers.Dense(1, name="d")(inputs))
        >>> model.compile(keras.optimizers.SGD(0.5), "mse")
        >>> learning_rates(model)[["path", "learning_rate"]].values.tolist()
        [['d/kernel', 0.5], ['d/bias', 0.5]]
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise InvalidParameterError(f"learning_rates needs a compiled model, not {model.name!r}.")
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    base = float(optimizer.learning_rate)
    try:
        owners = {vid: owner[:2] for vid, owner in _variable_owners(model, "block").items()}
    except InvalidParameterError:  # no tlcourse backbone: no blocks either
        owners = {id(v): (v.path.rsplit("/", 1)[0], None) for v in model.weights}
    trainable_ids = {id(v) for v in model.trainable_variables}
    columns = ["path", "layer", "block", "parameters", "trainable", "multiplier", "learning_rate"]
    rows = []
    for variable in model.weights:
        trains = id(variable) in trainable_ids
        if not (trains or include_frozen):
            continue
        multiplier = optimizer.multiplier(variable) if is_layerwise(optimizer) else 1.0
        multiplier = (math.nan if multiplier is None else multiplier) if trains else 0.0
        layer, block = owners[id(variable)]
        size = math.prod(variable.shape)
        rows.append((variable.path, layer, block, size, trains, multiplier, base * multiplier))
    table = pd.DataFrame(rows, columns=columns)
    if by is None:
        return table
    groups = table.groupby([by, "multiplier", "learning_rate"], sort=False, dropna=False)
    return groups.agg(variables=("path", "size"), parameters=("parameters", "sum")).reset_index()
