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
import numbers
import warnings

import keras
import pandas as pd

from tlcourse.backbones import backbone_blocks, find_backbone
from tlcourse.errors import InvalidParameterError, check_choice

__all__ = ["fresh_optimizer", "recompile", "set_trainable", "trainable_summary"]

HEAD = "head"
PREPROCESSING = "preprocessing"


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


def _layer_groups(model: keras.Model) -> list[tuple[str, keras.layers.Layer]]:
    """``(group, layer)`` for every top-level layer of the backbone and of the classifier.

    Groups are the backbone's block names (input to output), ``"preprocessing"`` for backbone
    layers before the first block, and ``"head"`` for the backbone's head layers (pooling,
    classifier) and every classifier layer outside the backbone.
    """
    backbone, spec = find_backbone(model)
    block_of = {
        id(layer): block.name for block in backbone_blocks(backbone) for layer in block.layers
    }
    groups = []
    for layer in model.layers if model is not backbone else [backbone]:
        if layer is not backbone:
            groups.append((HEAD, layer))
            continue
        for inner in backbone.layers:
            if id(inner) in block_of:
                groups.append((block_of[id(inner)], inner))
            elif inner.name in spec.head_layers:
                groups.append((HEAD, inner))
            else:
                groups.append((PREPROCESSING, inner))
    return groups


def _check_depth(depth, limit: int, what: str, spec_name: str, func: str):
    valid = (
        isinstance(depth, numbers.Integral) and not isinstance(depth, bool) and 0 <= depth <= limit
    ) or (isinstance(depth, str) and depth == "all")
    if not valid:
        raise InvalidParameterError(
            f"The 'depth' parameter of {func} must be an int in [0, {limit}] or 'all' for "
            f"backbone {spec_name!r} ({limit} {what}). Got {depth!r} instead."
        )
    return limit if depth == "all" else int(depth)


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


def _apply_flags(model, backbone, unfrozen: set[int], train_batchnorm: bool) -> None:
    # A nested model's own flag gates its children: keep it True and decide layer by layer.
    model.trainable = True
    backbone.trainable = True
    for group, layer in _layer_groups(model):
        if group == HEAD:
            _set_flag(layer, True, train_batchnorm=True)
        else:
            _set_flag(layer, id(layer) in unfrozen, train_batchnorm)


def set_trainable(
    model: keras.Model, depth, unit: str = "block", train_batchnorm: bool = False
) -> pd.DataFrame:
    """Freeze the backbone except its last ``depth`` blocks; the head stays trainable.

    The backbone is found inside the classifier (or ``model`` is the backbone itself). All of it
    is frozen, then its last ``depth`` blocks (or layers, with ``unit="layer"``) are unfrozen.
    Everything outside the backbone, and the backbone's own head layers (pooling,
    ``predictions``), stays trainable.

    BatchNormalization layers stay frozen (``layer.trainable = False`` on each of them, the only
    setting that stops Keras 3.15 from updating their moving mean and variance during ``fit``)
    unless ``train_batchnorm=True``.

    **Recompiling.** If ``model`` was compiled, it is recompiled for you with the same loss,
    metrics and compile settings and a *fresh* optimizer of the same class and configuration
    (its learning rate included; its moment estimates and iteration count start again). A
    layer-wise optimizer from :func:`tlcourse.optimizers.layerwise_optimizer` is rebuilt for the
    new set of trainable layers. Without this, Keras keeps training the weights that were
    trainable at compile time, or fails with "This optimizer can only be called for the
    variables it was originally built with". Pass the classifier, not only its backbone, so the
    model you train is the one recompiled.

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
        InvalidParameterError: no tlcourse backbone in ``model``, or a bad ``depth``, ``unit``
            or ``train_batchnorm``.

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
    _freeze(model, depth, unit, train_batchnorm)
    recompile(model)
    return _layer_table(model)


def _check_depth_for(model, depth, unit, train_batchnorm, func: str = "set_trainable"):
    """Validate the arguments; return the backbone, its units and ``depth`` as an int."""
    backbone, spec = find_backbone(model)
    check_choice("unit", unit, ["block", "layer"], func)
    if not isinstance(train_batchnorm, bool):
        raise InvalidParameterError(
            f"The 'train_batchnorm' parameter of {func} must be a bool. "
            f"Got {train_batchnorm!r} instead."
        )
    units = _trainable_units(backbone, unit, train_batchnorm)
    what = "blocks" if unit == "block" else "layers with weights to train"
    return backbone, units, _check_depth(depth, len(units), what, spec.name, func)


def _freeze(model, depth, unit: str = "block", train_batchnorm: bool = False) -> None:
    """Set the trainable flags as :func:`set_trainable` does, without recompiling."""
    backbone, units, depth = _check_depth_for(model, depth, unit, train_batchnorm)
    unfrozen = {id(layer) for group in units[len(units) - depth :] for layer in group}
    _apply_flags(model, backbone, unfrozen, train_batchnorm)


def _layer_table(model: keras.Model) -> pd.DataFrame:
    trainable = _trainable_ids(model)
    rows = [
        {
            "block": group,
            "layer": layer.name,
            "trainable": any(id(w) in trainable for w in layer.weights),
            "parameters": sum(_size(w) for w in layer.weights),
        }
        for group, layer in _layer_groups(model)
        if layer.weights
    ]
    return pd.DataFrame(rows, columns=["block", "layer", "trainable", "parameters"])


def trainable_summary(model: keras.Model) -> pd.DataFrame:
    """Count trainable and frozen parameters per block of the backbone, plus the head.

    The counts are what ``fit`` will see: a layer flagged trainable inside a frozen parent
    counts as frozen.

    Args:
        model: a classifier containing a tlcourse backbone, or the backbone itself.

    Returns:
        DataFrame indexed by ``block`` (``"preprocessing"`` first when it has weights, the
        backbone's blocks input to output, then ``"head"``) with integer columns
        ``trainable_params`` (parameters ``fit`` will update), ``frozen_params`` (all others,
        BatchNorm moving statistics included) and ``total_params``.

    Raises:
        InvalidParameterError: no tlcourse backbone in ``model``.

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
    groups = _layer_groups(model)
    trainable = _trainable_ids(model)
    counts: dict[str, list[int]] = {}
    for group, layer in groups:
        row = counts.setdefault(group, [0, 0])
        for weight in layer.weights:
            row[0 if id(weight) in trainable else 1] += _size(weight)
    if not any(counts.get(PREPROCESSING, [0])):
        counts.pop(PREPROCESSING, None)
    counts[HEAD] = counts.pop(HEAD, [0, 0])
    table = pd.DataFrame.from_dict(
        counts, orient="index", columns=["trainable_params", "frozen_params"]
    )
    table["total_params"] = table["trainable_params"] + table["frozen_params"]
    table.index.name = "block"
    return table


def _size(weight) -> int:
    return math.prod(weight.shape)


def is_layerwise(optimizer) -> bool:
    """True for an optimizer made by :func:`tlcourse.optimizers.layerwise_optimizer`."""
    return hasattr(optimizer, "multipliers") and callable(getattr(optimizer, "multiplier", None))


def is_layerwise_class(cls: type) -> bool:
    """True for a class made by :func:`tlcourse.optimizers.layerwise_class`."""
    return hasattr(cls, "multipliers") and hasattr(cls, "multiplier")


def _base_learning_rate(optimizer):
    schedule = getattr(optimizer, "_learning_rate", None)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return schedule
    return float(optimizer.learning_rate)


def _guess_unit(model: keras.Model, multipliers: dict[str, float]) -> str:
    # With unit="layer", two layers of one block train at different rates.
    _, spec = find_backbone(model)
    rates: dict[str, set[float]] = {}
    for path, value in multipliers.items():
        block = spec.block_of(path.rsplit("/", 1)[0])
        if block is not None:
            rates.setdefault(block, set()).add(value)
    return "layer" if any(len(values) > 1 for values in rates.values()) else "block"


def _layerwise_settings(model: keras.Model, optimizer) -> dict:
    """Recover ``layerwise_optimizer``'s arguments from one of its optimizers.

    Settings recorded by :func:`tlcourse.finetune.fine_tune` (or an earlier rebuild) are used as
    they are. Otherwise only the per-variable multipliers are known: the ratio between
    consecutive groups (``factor``) is read back from them, and ``unit="layer"`` is recognised
    when two layers of one block train at different rates.
    """
    recorded = getattr(optimizer, "_tlcourse_layerwise_settings", None)
    if recorded is not None:
        return dict(recorded)
    below_one = sorted({m for m in optimizer.multipliers.values() if m < 1.0}, reverse=True)
    if not below_one:
        warnings.warn(
            "The layer-wise optimizer trained only the head (every multiplier is 1), so its "
            "factor is unknown; rebuilt it with factor=3.0. To choose, call "
            "model.compile(optimizer=layerwise_optimizer(model, base_lr, factor=...), ...) "
            "after set_trainable.",
            stacklevel=6,  # the caller of set_trainable
        )
    parent = next(
        cls
        for cls in type(optimizer).__mro__[1:]
        if issubclass(cls, keras.Optimizer) and not is_layerwise_class(cls)
    )
    config = optimizer.get_config()
    for key in ("name", "learning_rate", "multipliers", "default_multiplier"):
        config.pop(key, None)
    return {
        "factor": 1.0 / below_one[0] if below_one else 3.0,
        "optimizer": parent,
        "unit": _guess_unit(model, optimizer.multipliers),
        **config,
    }


def _rebuild_layerwise(model: keras.Model, optimizer):
    from tlcourse.optimizers import layerwise_optimizer

    settings = _layerwise_settings(model, optimizer)
    base_lr = None if "lr_range" in settings else _base_learning_rate(optimizer)
    fresh = layerwise_optimizer(model, base_lr, **settings)
    fresh._tlcourse_layerwise_settings = settings
    return fresh


def fresh_optimizer(model: keras.Model, optimizer: keras.optimizers.Optimizer):
    """A new optimizer like ``optimizer``, with no state, for ``model``'s current variables.

    A layer-wise optimizer (from :func:`tlcourse.optimizers.layerwise_optimizer`) is made again
    for the variables trainable *now*, keeping its base rate, its ratio between consecutive
    groups (``factor``) and its other settings; any other optimizer is copied from its
    configuration (current learning rate included).

    Args:
        model: the model the optimizer will train.
        optimizer: the optimizer to copy.

    Returns:
        A ``keras.optimizers.Optimizer`` that has not been built.

    Example:
        >>> import keras
        >>> from tlcourse.freezing import fresh_optimizer
        >>> old = keras.optimizers.Adam(0.25)
        >>> float(fresh_optimizer(None, old).learning_rate)
        0.25
    """
    if is_layerwise(optimizer) and model is not None:
        return _rebuild_layerwise(model, optimizer)
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

    Example:
        >>> import keras
        >>> from tlcourse.freezing import recompile
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> model.layers[0].trainable = False
        >>> recompile(model), len(model.trainable_weights)
        (True, 0)
    """
    config = getattr(model, "_compile_config", None)
    if not getattr(model, "compiled", False) or config is None:
        return False
    settings = dict(config.config)
    # The compile config holds the optimizer as the user gave it (before any loss-scale wrap).
    settings["optimizer"] = fresh_optimizer(model, settings["optimizer"])
    model.compile(**settings)
    return True
