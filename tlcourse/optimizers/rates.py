"""What every variable of a compiled model trains at, now: the table behind the LR figures."""

from __future__ import annotations

import math

import keras
import numpy as np
import pandas as pd

from tlcourse.errors import InvalidParameterError, check_bool, check_choice, invalid_parameter
from tlcourse.optimizers.discriminative import _variable_owners
from tlcourse.optimizers.layerwise import is_layerwise

__all__ = ["learning_rates"]


def learning_rates(model: keras.Model, by: str | None = None, include_frozen: bool = False):
    """Tabulate the learning rate every variable trains at, now.

    The effective rate is the optimizer's current base rate (a schedule is evaluated at the
    optimizer's current iteration) times the variable's multiplier; a plain optimizer has
    multiplier 1 everywhere. Handy to check a fine-tuning setup before a long ``fit``, the way
    timm prints its parameter groups.

    Args:
        model: a compiled model (``model.optimizer`` set). With a tlcourse backbone inside,
            ``block`` is the variable's group in :func:`tlcourse.groups.variable_groups` (a
            block name, ``"preprocessing"`` or ``"head"``) and ``layer`` the top-level layer
            that owns it; without one, ``block`` is None.
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
        InvalidParameterError: ``model`` is not a compiled Keras model, or a bad ``by`` or
            ``include_frozen``.

    Example:
        >>> import keras
        >>> from tlcourse.optimizers import learning_rates
        >>> inputs = keras.Input((2,))
        >>> model = keras.Model(inputs, keras.layers.Dense(1, name="d")(inputs))
        >>> model.compile(keras.optimizers.SGD(0.5), "mse")
        >>> learning_rates(model)[["path", "learning_rate"]].values.tolist()
        [['d/kernel', 0.5], ['d/bias', 0.5]]
    """
    func = "learning_rates"
    if not isinstance(model, keras.Model):
        raise invalid_parameter("model", func, "a compiled keras.Model", model)
    if by is not None:
        check_choice("by", by, ("block", "layer"), func)
    check_bool("include_frozen", include_frozen, func)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise invalid_parameter(
            "model", func, "a compiled keras.Model", model,
            f"learning_rates needs a compiled model; model {model.name!r} has no optimizer. "
            "Call model.compile(optimizer=layerwise_optimizer(model, ...), loss=...) first.",
        )  # fmt: skip
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    base = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    try:
        owners = {vid: owner[:2] for vid, owner in _variable_owners(model, "block").items()}
    except InvalidParameterError:  # no tlcourse backbone: no blocks either
        owners = {id(v): (v.path.rsplit("/", 1)[0], None) for v in model.weights}

    trainable_ids = {id(v) for v in model.trainable_variables}
    rows = []
    for variable in model.weights:
        is_trainable = id(variable) in trainable_ids
        if not (is_trainable or include_frozen):
            continue
        if not is_trainable:
            multiplier = 0.0
        elif is_layerwise(optimizer):
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
