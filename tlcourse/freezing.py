"""Freeze a backbone, unfreeze its last blocks, and keep BatchNorm and the optimizer honest.

Three Keras 3 behaviours (3.15.1, TensorFlow backend) make hand-written freezing code silently
wrong:

* a BatchNormalization layer keeps updating its moving statistics during ``fit`` unless the layer
  *itself* has ``trainable = False``; calling the base with ``training=False`` is not enough;
* the trainable variables are fixed when the model is compiled: after changing ``trainable``
  without recompiling, ``fit`` keeps training the old set of weights (frozen layers still move,
  unfrozen ones do not), or fails with "This optimizer can only be called for the variables it
  was originally built with";
* ``layer.trainable = True`` does nothing when the flag is already True, so it does not re-enable
  sublayers frozen one by one (and a nested model with ``trainable = False`` switches off all
  its layers, whatever their own flags).

:func:`set_trainable` handles all three: it sets every layer's flag explicitly, keeps BatchNorm
frozen, and recompiles a compiled model with its own loss, metrics and optimizer settings.
"""

from __future__ import annotations

import math

import keras
import pandas as pd

from tlcourse.backbones import backbone_blocks
from tlcourse.errors import check_bool, check_choice, invalid_parameter, is_int
from tlcourse.groups import BLOCK, HEAD, PREPROCESSING, UNITS, require_backbone, variable_groups
from tlcourse.optimizers import is_layerwise, layerwise_optimizer

__all__ = [
    "fresh_optimizer",
    "freeze",
    "recompile",
    "set_trainable",
    "trainable_summary",
]


def _sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    # Keras' own traversal, so layers nested inside custom blocks are reached too.
    return list(layer._flatten_layers(include_self=True, recursive=True))


def _is_batchnorm(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, keras.layers.BatchNormalization)


def _owns_trainable_weights(layer: keras.layers.Layer) -> bool:
    """True if the layer has weights an optimizer could update (whatever its flag is now)."""
    return any(getattr(sub, "_trainable_variables", None) for sub in _sublayers(layer))


def _trainable_ids(model: keras.Model) -> set[int]:
    return {id(w) for w in model.trainable_weights}


def _trainable_units(backbone: keras.Model, unit: str, train_batchnorm: bool) -> list[list]:
    """The units ``depth`` counts, input to output, each a list of layers."""
    blocks = backbone_blocks(backbone)
    if unit == "block":
        return [list(block.layers) for block in blocks]
    return [
        [layer]
        for block in blocks
        for layer in block.layers
        if _owns_trainable_weights(layer) and (train_batchnorm or not _is_batchnorm(layer))
    ]


def _set_flag(layer: keras.layers.Layer, value: bool, train_batchnorm: bool) -> None:
    # Each sublayer explicitly: on the TensorFlow backend `layer.trainable = v` is skipped when
    # the flag already equals v, so it does not reach sublayers that differ.
    for sub in _sublayers(layer):
        sub.trainable = value and (train_batchnorm or not _is_batchnorm(sub))


def _apply_flags(model, backbone, unfrozen: set[int], every_block: bool, train_batchnorm: bool):
    # A nested model's own flag gates its children: keep it True and decide layer by layer.
    model.trainable = True
    backbone.trainable = True
    for group in variable_groups(model):
        for layer in group.layers:
            if group.kind == HEAD:
                _set_flag(layer, True, train_batchnorm=True)
            elif group.kind == PREPROCESSING:
                # The backbone's input side trains only with the whole backbone.
                _set_flag(layer, every_block, train_batchnorm)
            else:
                _set_flag(layer, id(layer) in unfrozen, train_batchnorm)


def set_trainable(
    model: keras.Model, depth, unit: str = "block", train_batchnorm: bool = False
) -> pd.DataFrame:
    """Freeze the backbone except its last ``depth`` blocks; the head stays trainable.

    The backbone is found inside the classifier (or ``model`` is the backbone itself). All of it
    is frozen, then its last ``depth`` blocks (or layers, with ``unit="layer"``) are unfrozen;
    its preprocessing layers (before the first block) train only with ``depth="all"``.
    Everything outside the backbone, and the backbone's own head layers (pooling,
    ``predictions``), stays trainable. The groups are those of
    :func:`tlcourse.groups.variable_groups`.

    BatchNormalization layers stay frozen (``layer.trainable = False`` on each of them, the only
    setting that stops Keras 3.15 from updating their moving mean and variance during ``fit``)
    unless ``train_batchnorm=True``.

    **Recompiling.** If ``model`` was compiled, it is recompiled for you with the same loss,
    metrics and compile settings and a *fresh* optimizer of the same class and configuration
    (its learning rate included; its moment estimates and iteration count start again). A
    layer-wise optimizer from :func:`tlcourse.optimizers.layerwise_optimizer` is made again for
    the new set of trainable layers from its own ``factor`` (or ``lr_range``) and ``unit``.
    Without this, Keras keeps training the weights that were trainable at compile time, or
    fails with "This optimizer can only be called for the variables it was originally built
    with". Pass the classifier, not only its backbone, so the model you train is the one
    recompiled.

    Args:
        model: a classifier containing a tlcourse backbone, or the backbone itself.
        depth: how many blocks (or layers) to unfreeze, counted from the output end: 0 trains
            the head only (feature extraction), ``"all"`` the whole backbone.
        unit: ``"block"`` (the backbone's named blocks, see
            :func:`tlcourse.backbones.backbone_blocks`) or ``"layer"`` (layers with weights to
            train; BatchNormalization layers count only when ``train_batchnorm`` is True).
            Defaults to ``"block"``.
        train_batchnorm: also train the BatchNormalization layers of the unfrozen part (their
            scale/offset, and their moving statistics follow the batches). Defaults to False.

    Returns:
        DataFrame with one row per layer that has weights (backbone layers and head), input to
        output: ``block`` (block name, ``"preprocessing"`` or ``"head"``), ``layer``,
        ``trainable`` (will ``fit`` update it) and ``parameters``.

    Raises:
        InvalidParameterError: ``model`` is not a Keras model containing a tlcourse backbone,
            or a bad ``depth``, ``unit`` or ``train_batchnorm``.

    Example:
        >>> import keras
        >>> from tlcourse.backbones import load_backbone
        >>> from tlcourse.freezing import set_trainable
        >>> base = load_backbone("mobilenet_v2", weights=None, input_shape=(64, 64, 3))
        >>> clf = keras.Sequential([base, keras.layers.Dense(3)])
        >>> table = set_trainable(clf, 2)
        >>> sorted(table.loc[table.trainable, "block"].unique())
        ['block_16', 'head', 'top']
    """
    _freeze(model, depth, unit, train_batchnorm, "set_trainable")
    recompile(model)
    return _layer_table(model)


def _check_depth(model, depth, unit, train_batchnorm, func: str):
    """Validate the arguments of set_trainable-like ``func``; return backbone, units, depth."""
    backbone, spec = require_backbone(model, func)
    check_choice("unit", unit, UNITS, func)
    train_batchnorm = check_bool("train_batchnorm", train_batchnorm, func)
    units = _trainable_units(backbone, unit, train_batchnorm)
    if not ((isinstance(depth, str) and depth == "all") or _is_depth(depth, len(units))):
        what = "blocks" if unit == BLOCK else "layers with weights to train"
        raise invalid_parameter(
            "depth",
            func,
            f"an int in the range [0, {len(units)}] or 'all' for backbone {spec.name!r} "
            f"({len(units)} {what})",
            depth,
        )
    return backbone, units, len(units) if depth == "all" else int(depth)


def _is_depth(depth, limit: int) -> bool:
    return is_int(depth) and 0 <= depth <= limit


def _freeze(model, depth, unit, train_batchnorm, func: str) -> None:
    backbone, units, depth = _check_depth(model, depth, unit, train_batchnorm, func)
    unfrozen = {id(layer) for group in units[len(units) - depth :] for layer in group}
    _apply_flags(model, backbone, unfrozen, depth == len(units), train_batchnorm)


def freeze(model: keras.Model, depth, unit: str = "block", train_batchnorm: bool = False) -> None:
    """Set the trainable flags exactly as :func:`set_trainable` does, without recompiling.

    For code that compiles the model itself right after, with an optimizer of its own (as
    :func:`tlcourse.finetune.fine_tune` does). Changing ``trainable`` without compiling again
    is silently ignored by ``fit``: compile after this.

    Args:
        model: a classifier containing a tlcourse backbone, or the backbone itself.
        depth: blocks (or layers) to unfreeze from the output end, an int or ``"all"``.
        unit: ``"block"`` or ``"layer"``, as in :func:`set_trainable`. Defaults to ``"block"``.
        train_batchnorm: train the unfrozen BatchNormalization layers. Defaults to False.

    Raises:
        InvalidParameterError: as :func:`set_trainable`.

    Example:
        >>> import keras
        >>> from tlcourse.backbones import load_backbone
        >>> base = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
        >>> clf = keras.Sequential([base, keras.layers.Dense(3)])
        >>> freeze(clf, 1)
        >>> trainable_summary(clf).loc[["block4", "block5"], "trainable_params"].tolist()
        [0, 7079424]
    """
    _freeze(model, depth, unit, train_batchnorm, "freeze")


def _layer_table(model: keras.Model) -> pd.DataFrame:
    trainable = _trainable_ids(model)
    rows = [
        {
            "block": group.name,
            "layer": layer.name,
            "trainable": any(id(w) in trainable for w in layer.weights),
            "parameters": sum(_size(w) for w in layer.weights),
        }
        for group in variable_groups(model)
        for layer in group.layers
        if layer.weights
    ]
    return pd.DataFrame(rows, columns=["block", "layer", "trainable", "parameters"])


def trainable_summary(model: keras.Model) -> pd.DataFrame:
    """Count trainable and frozen parameters per block of the backbone, plus the head.

    The counts are what ``fit`` will see: a layer flagged trainable inside a frozen parent
    counts as frozen. The rows are the groups of :func:`tlcourse.groups.variable_groups`.

    Args:
        model: a classifier containing a tlcourse backbone, or the backbone itself.

    Returns:
        DataFrame indexed by ``block`` (``"preprocessing"`` first when it has weights, the
        backbone's blocks input to output, then ``"head"``, always there) with integer
        columns ``trainable_params`` (parameters ``fit`` will update), ``frozen_params`` (all
        others, BatchNorm moving statistics included) and ``total_params``.

    Raises:
        InvalidParameterError: ``model`` is not a Keras model containing a tlcourse backbone.

    Example:
        >>> import keras
        >>> from tlcourse.backbones import load_backbone
        >>> from tlcourse.freezing import set_trainable, trainable_summary
        >>> base = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
        >>> clf = keras.Sequential([base, keras.layers.Dense(3)])
        >>> _ = set_trainable(clf, 1)
        >>> trainable_summary(clf).loc[["block4", "block5", "head"], "trainable_params"].tolist()
        [0, 7079424, 1539]
    """
    require_backbone(model, "trainable_summary")
    trainable = _trainable_ids(model)
    counts: dict[str, list[int]] = {}
    for group in variable_groups(model):
        row = counts.setdefault(group.name, [0, 0])
        for weight in group.variables:
            row[0 if id(weight) in trainable else 1] += _size(weight)
    if not any(counts.get(PREPROCESSING, [0])):
        counts.pop(PREPROCESSING, None)
    table = pd.DataFrame.from_dict(
        counts, orient="index", columns=["trainable_params", "frozen_params"]
    )
    table["total_params"] = table["trainable_params"] + table["frozen_params"]
    table.index.name = "block"
    return table


def _size(weight) -> int:
    return math.prod(weight.shape)


def fresh_optimizer(model: keras.Model | None, optimizer: keras.optimizers.Optimizer):
    """A new optimizer like ``optimizer``, with no state, for ``model``'s current variables.

    A layer-wise optimizer (from :func:`tlcourse.optimizers.layerwise_optimizer`) is made again
    for the variables trainable *now*, from its own recipe: its current base rate, its
    ``factor`` (or ``lr_range``), ``unit`` and other settings. Any other optimizer, and a
    layer-wise one made from explicit multipliers (no recipe), is copied from its configuration
    (current learning rate included).

    Args:
        model: the model the optimizer will train, or None (copy the configuration only).
        optimizer: the optimizer to copy.

    Returns:
        A ``keras.optimizers.Optimizer`` that has not been built.

    Raises:
        InvalidParameterError: ``model`` is neither a Keras model nor None, or ``optimizer``
            is not a Keras optimizer.

    Example:
        >>> import keras
        >>> from tlcourse.freezing import fresh_optimizer
        >>> old = keras.optimizers.Adam(0.25)
        >>> float(fresh_optimizer(None, old).learning_rate)
        0.25
    """
    func = "fresh_optimizer"
    if model is not None and not isinstance(model, keras.Model):
        raise invalid_parameter("model", func, "a keras.Model or None", model)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise invalid_parameter("optimizer", func, "a keras.optimizers.Optimizer", optimizer)
    settings = optimizer.layerwise_settings() if is_layerwise(optimizer) else None
    # Nothing trainable (a bare backbone at depth 0): no multiplier to compute, a copy will do.
    if settings is not None and model is not None and model.trainable_variables:
        return layerwise_optimizer(model, **settings)
    return optimizer.__class__.from_config(optimizer.get_config())


def recompile(model: keras.Model) -> bool:
    """Recompile a compiled model with its own settings and a fresh optimizer.

    Call it after changing ``layer.trainable`` by hand (:func:`set_trainable` does it for you).
    The loss, loss weights, metrics and compile options are the ones given to ``compile``; the
    optimizer is a fresh copy (see :func:`fresh_optimizer`).

    Args:
        model: any Keras model.

    Returns:
        True if the model was compiled (and has been recompiled), False if it was not compiled
        (nothing to do).

    Raises:
        InvalidParameterError: ``model`` is not a Keras model.

    Example:
        >>> import keras
        >>> from tlcourse.freezing import recompile
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> model.layers[0].trainable = False
        >>> recompile(model), len(model.trainable_weights)
        (True, 0)
    """
    if not isinstance(model, keras.Model):
        raise invalid_parameter("model", "recompile", "a keras.Model", model)
    config = getattr(model, "_compile_config", None)
    if not getattr(model, "compiled", False) or config is None:
        return False
    settings = dict(config.config)
    # The compile config holds the optimizer as the user gave it (before any loss-scale wrap).
    settings["optimizer"] = fresh_optimizer(model, settings["optimizer"])
    model.compile(**settings)
    return True
