"""Freeze a backbone, unfreeze its last blocks, and keep BatchNorm and the optimizer honest.

Three Keras 3 behaviours make hand-written freezing code silently wrong, and
:func:`set_trainable` handles all three:

* BatchNormalization keeps updating its moving statistics during ``fit`` unless the layer
  *itself* has ``trainable = False`` (``training=False`` on the base is not enough);
* the trainable variables are fixed at ``compile``: after changing ``trainable``, ``fit`` trains
  the old set, or fails, until the model is compiled again;
* ``layer.trainable = True`` does nothing when the flag is already True, so it does not
  re-enable sublayers frozen one by one.
"""

from __future__ import annotations

import math

import keras
import pandas as pd

from tlcourse.keras_private import compile_arguments
from tlcourse.models.backbones import backbone_blocks, find_backbone
from tlcourse.models.backbones.registry import MODEL_WITH_BACKBONE
from tlcourse.models.graph import nested_layers
from tlcourse.transfer.groups import BLOCK, HEAD, PREPROCESSING, UNITS, variable_groups
from tlcourse.transfer.optimizers import is_layerwise, layerwise_optimizer
from tlcourse.validation import Interval, StrOptions, validate_params

__all__ = ["DEPTH", "freeze", "fresh_optimizer", "recompile", "set_trainable", "trainable_summary"]


def _is_batchnorm(layer) -> bool:
    return isinstance(layer, keras.layers.BatchNormalization)


def _units(backbone: keras.Model, unit: str, train_batchnorm: bool) -> list[list]:
    """What ``depth`` counts, input to output, each a list of layers."""
    blocks = backbone_blocks(backbone)
    if unit == BLOCK:
        return [list(block.layers) for block in blocks]
    weighted = [layer for block in blocks for layer in block.layers if layer.weights]
    return [[layer] for layer in weighted if train_batchnorm or not _is_batchnorm(layer)]


def _depth_rule(arguments) -> list:
    """``depth``: an int up to the backbone's number of units, or ``"all"``."""
    backbone, spec = find_backbone(arguments["model"])
    unit, train_batchnorm = arguments.get("unit", BLOCK), arguments.get("train_batchnorm", False)
    count = len(_units(backbone, unit, train_batchnorm))
    return [Interval(int, 0, count), StrOptions({"all"})]


# fine_tune declares it too, after model, unit and train_batchnorm.
DEPTH = _depth_rule
_CONSTRAINTS = {"model": [MODEL_WITH_BACKBONE], "unit": [StrOptions(UNITS)],
                "train_batchnorm": ["boolean"], "depth": DEPTH}  # fmt: skip


def _set_flag(layer: keras.layers.Layer, value: bool, train_batchnorm: bool) -> None:
    # Each sublayer explicitly: `layer.trainable = v` is skipped when the flag already equals v.
    for *_, sub in nested_layers(layer):
        sub.trainable = value and (train_batchnorm or not _is_batchnorm(sub))


def _freeze(model, depth, unit: str = BLOCK, train_batchnorm: bool = False) -> None:
    """Set the flags for ``depth``, which the caller has checked."""
    backbone, _ = find_backbone(model)
    units = _units(backbone, unit, train_batchnorm)
    depth = len(units) if depth == "all" else depth
    unfrozen = {id(layer) for group in units[len(units) - depth :] for layer in group}
    # A nested model's own flag gates its children: keep it True and decide layer by layer.
    model.trainable = backbone.trainable = True
    for group in variable_groups(model):
        for layer in group.layers:
            if group.kind == HEAD:
                _set_flag(layer, True, train_batchnorm=True)
            elif group.kind == PREPROCESSING:  # trains only with the whole backbone
                _set_flag(layer, depth == len(units), train_batchnorm)
            else:
                _set_flag(layer, id(layer) in unfrozen, train_batchnorm)


@validate_params(_CONSTRAINTS)
def set_trainable(
    model: keras.Model, depth, unit: str = "block", train_batchnorm: bool = False
) -> pd.DataFrame:
    """Freeze the backbone except its last ``depth`` blocks; the head stays trainable.

    ``depth=0`` trains the head only, ``"all"`` the whole backbone; ``unit="layer"`` counts layers
    with weights instead of blocks. BatchNormalization stays frozen unless ``train_batchnorm``. A
    compiled model is recompiled with a fresh optimizer: pass the classifier, not its backbone.
    Returns one row per layer with weights: ``block``, ``layer``, ``trainable``, ``parameters``.

    Example:
        >>> from tlcourse.models.backbones import load_backbone
        >>> base = load_backbone("mobilenet_v2", weights=None, input_shape=(64, 64, 3))
        >>> clf = keras.Sequential([base, keras.layers.Dense(3)])
        >>> table = set_trainable(clf, 2)
        >>> sorted(table.loc[table.trainable, "block"].unique())
        ['block_16', 'head', 'top']
    """
    _freeze(model, depth, unit, train_batchnorm)
    recompile(model)
    trainable = {id(w) for w in model.trainable_weights}
    rows = [
        (group.name, layer.name, any(id(w) in trainable for w in layer.weights),
         sum(math.prod(w.shape) for w in layer.weights))
        for group in variable_groups(model)
        for layer in group.layers
        if layer.weights
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["block", "layer", "trainable", "parameters"])


@validate_params(_CONSTRAINTS)
def freeze(model: keras.Model, depth, unit: str = "block", train_batchnorm: bool = False) -> None:
    """Set the flags as :func:`set_trainable` does, without recompiling."""
    _freeze(model, depth, unit, train_batchnorm)


@validate_params({"model": [MODEL_WITH_BACKBONE]})
def trainable_summary(model: keras.Model) -> pd.DataFrame:
    """Trainable and frozen parameters per group, as ``fit`` will see them."""
    trainable = {id(w) for w in model.trainable_weights}
    counts: dict[str, list[int]] = {}
    for group in variable_groups(model):
        row = counts.setdefault(group.name, [0, 0])
        for weight in group.variables:
            row[0 if id(weight) in trainable else 1] += math.prod(weight.shape)
    if not any(counts.get(PREPROCESSING, [0])):
        counts.pop(PREPROCESSING, None)
    columns = ["trainable_params", "frozen_params"]
    table = pd.DataFrame.from_dict(counts, orient="index", columns=columns)
    table["total_params"] = table["trainable_params"] + table["frozen_params"]
    table.index.name = "block"
    return table


@validate_params({"model": [keras.Model, None], "optimizer": [keras.optimizers.Optimizer]})
def fresh_optimizer(model: keras.Model | None, optimizer: keras.optimizers.Optimizer):
    """A new optimizer like ``optimizer`` for ``model``'s trainable variables now.

    A layer-wise optimizer is made again from its recipe; any other is copied from its config."""
    settings = optimizer.layerwise_settings() if is_layerwise(optimizer) else None
    # Nothing trainable (a bare backbone at depth 0): no multiplier to compute, a copy will do.
    if settings is not None and model is not None and model.trainable_variables:
        return layerwise_optimizer(model, **settings)
    return optimizer.__class__.from_config(optimizer.get_config())


@validate_params({"model": [keras.Model]})
def recompile(model: keras.Model) -> bool:
    """Recompile a compiled model with its own settings and a :func:`fresh_optimizer`.

    Call it after changing ``layer.trainable`` by hand. Returns False for a model never compiled.
    """
    settings = compile_arguments(model)
    if settings is None:
        return False
    settings["optimizer"] = fresh_optimizer(model, settings["optimizer"])
    model.compile(**settings)
    return True
