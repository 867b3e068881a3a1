"""The lecture's networks: the classifiers the strategies train, and their parameter counts.

:func:`small_cnn` is trained from scratch, :func:`classification_head` on cached features, and
:func:`transfer_classifier` (a backbone plus a head) is what fine-tuning trains.
:func:`parameter_counts` counts the lecture's ImageNet networks with their original tops.
Image sizes follow Keras: an int for a square, or ``(height, width)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import keras
import pandas as pd
from keras import layers

from tlcourse.backbones import get_spec, list_backbones, load_backbone
from tlcourse.errors import (
    check_bool,
    check_choice,
    check_image_size,
    check_int,
    check_int_list,
    check_real,
    invalid_parameter,
)

__all__ = [
    "LECTURE_NETWORKS",
    "SMALL_CNN_SIDE",
    "check_networks",
    "classification_head",
    "parameter_counts",
    "small_cnn",
    "transfer_classifier",
]

#: The networks the lecture compares by size.
LECTURE_NETWORKS = ("vgg16", "resnet50", "mobilenet_v2", "efficientnet_b0", "efficientnet_lite0")


def _check_dropout(dropout, func: str) -> float:
    return check_real("dropout", dropout, func, low=0, high=1, high_open=True)


#: The side (px) :func:`small_cnn` works at: a larger input is average-pooled towards it.
SMALL_CNN_SIDE = 80


def small_cnn(
    num_classes: int, image_size=160, filters=(16, 32, 64, 128), dropout: float = 0.3
) -> keras.Model:
    """A small convolutional network to train from scratch.

    A stride-2 conv, then conv + max-pool blocks, BatchNorm and ReLU. An input of
    ``2 * SMALL_CNN_SIDE`` (160) px or more is first average-pooled by ``side // 80`` (layer
    ``input_pool``): a network this small trained on a hundred photos gains nothing from more
    pixels, and the stem at full resolution would dominate its cost. BatchNorm uses momentum 0.9:
    a few hundred images make only ~100 steps in 30 epochs, too few for Keras's default 0.99 to
    forget its initial statistics. A horizontal flip augments the few training images (active
    only in training). Each block pools before its ReLU, the same function (a ReLU and a
    max-pool commute) on a quarter of the values.

    Args:
        num_classes: number of classes (an int >= 2).
        image_size: side of the square RGB input (0..255), or ``(height, width)``; at least
            32 px and ``2 ** len(filters)`` px. Defaults to 160.
        filters: output channels of the stem and of each following block (ints >= 1).
            Defaults to ``(16, 32, 64, 128)``.
        dropout: dropout rate before the classifier, in [0, 1). Defaults to 0.3.

    Returns:
        An uncompiled ``keras.Model`` named ``"small_cnn"`` outputting class probabilities.

    Raises:
        InvalidParameterError: any argument outside what is described above.

    Example:
        >>> import numpy as np
        >>> small_cnn(np.int64(3), image_size=(64, 48)).input_shape
        (None, 64, 48, 3)
        >>> small_cnn(3, image_size=160).get_layer("input_pool").output.shape
        (None, 80, 80, 3)
    """
    num_classes = check_int("num_classes", num_classes, "small_cnn", low=2)
    filters = check_int_list("filters", filters, "small_cnn", low=1)
    # The stride-2 stem and each pool halve the side: it must not reach 0 before the last block.
    height, width = check_image_size(
        "image_size", image_size, "small_cnn", low=max(32, 2 ** len(filters))
    )
    dropout = _check_dropout(dropout, "small_cnn")
    inputs = keras.Input((height, width, 3), name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    pool = max(1, min(height, width) // SMALL_CNN_SIDE)
    if pool > 1:
        x = layers.AveragePooling2D(pool, name="input_pool")(x)
    # After the pool: the same flip (on an even side the two commute) on fewer pixels.
    x = layers.RandomFlip("horizontal", name="augment_flip")(x)
    for i, channels in enumerate(filters):
        stride = 2 if i == 0 else 1
        x = layers.Conv2D(
            channels, 3, strides=stride, padding="same", use_bias=False, name=f"conv_{i}"
        )(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"conv_{i}_BN")(x)
        if i < len(filters) - 1:
            # relu(max(...)) == max(relu(...)): pooling first, the ReLU sees 4x fewer values.
            x = layers.MaxPooling2D(name=f"conv_{i}_pool")(x)
        x = layers.ReLU(name=f"conv_{i}_relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def classification_head(
    num_features: int, num_classes: int, dropout: float = 0.2, name: str = "head"
) -> keras.Model:
    """The new head: dropout and a softmax layer over backbone features.

    Trained alone on cached features (feature extraction), then reused on top of the backbone
    (fine-tuning), so both strategies start from the same head.

    Args:
        num_features: length of the feature vector (1280 for efficientnet_lite0), an int >= 1.
        num_classes: number of classes (an int >= 2).
        dropout: dropout rate, in [0, 1). Defaults to 0.2.
        name: model name. Defaults to ``"head"``.

    Returns:
        An uncompiled ``keras.Model`` mapping features to class probabilities.

    Raises:
        InvalidParameterError: any argument outside what is described above.

    Example:
        >>> classification_head(1280, 6).count_params()
        7686
    """
    num_features = check_int("num_features", num_features, "classification_head", low=1)
    num_classes = check_int("num_classes", num_classes, "classification_head", low=2)
    dropout = _check_dropout(dropout, "classification_head")
    if not isinstance(name, str) or not name:
        raise invalid_parameter("name", "classification_head", "a non-empty str", name)
    inputs = keras.Input((num_features,), name="features")
    x = layers.Dropout(dropout, name="head_dropout")(inputs)
    outputs = layers.Dense(num_classes, activation="softmax", name="head_predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def _check_weights(weights, func: str):
    if weights is None or weights == "imagenet":
        return weights
    if isinstance(weights, str | os.PathLike) and Path(weights).expanduser().is_file():
        return str(Path(weights).expanduser())
    rule = "'imagenet', None or the path of an existing weights file"
    raise invalid_parameter("weights", func, rule, weights)


def _input_features(model: keras.Model) -> int | None:
    """The length of the vector a head takes, or None when it is not known yet (not built)."""
    try:
        return model.input_shape[-1]
    except (AttributeError, ValueError):  # a Sequential never called has no input yet
        return None


def transfer_classifier(
    backbone: str | keras.Model,
    num_classes: int,
    image_size=160,
    weights: str | None = "imagenet",
    head: keras.Model | None = None,
    augment: bool = True,
) -> keras.Model:
    """A pretrained backbone (frozen) with a new head: the model fine-tuning trains.

    The backbone is called with ``training=False`` and every BatchNorm layer stays frozen via
    :func:`tlcourse.set_trainable` later (in Keras 3.15 ``training=False`` alone does not keep
    BatchNorm statistics frozen once the base is trainable).

    Args:
        backbone: a registry name (see :func:`tlcourse.list_backbones`) or a model from
            :func:`tlcourse.load_backbone`.
        num_classes: number of classes (an int >= 2).
        image_size: side of the square RGB input (0..255), or ``(height, width)``; used when
            ``backbone`` is a name (a model keeps its own input). Defaults to 160.
        weights: backbone weights when ``backbone`` is a name: ``"imagenet"``, None (random) or
            a weights file. Defaults to ``"imagenet"``.
        head: a head from :func:`classification_head` to reuse (e.g. one already trained on
            cached features), taking the backbone's features; a new one when None.
        augment: add a random horizontal flip (active only while training). Defaults to True.

    Returns:
        An uncompiled ``keras.Model`` named ``"classifier"`` with the backbone frozen.

    Raises:
        InvalidParameterError: any argument outside what is described above, or a head whose
            input does not match the backbone's features.
        WeightsUnavailableError: ImageNet weights neither cached nor downloadable (offline).

    Example:
        >>> model = transfer_classifier("mobilenet_v2", 3, image_size=(64, 80), weights=None)
        >>> [layer.name for layer in model.layers][-2:], model.input_shape
        (['mobilenet_v2', 'head'], (None, 64, 80, 3))
    """
    func = "transfer_classifier"
    if not isinstance(backbone, keras.Model):
        check_choice("backbone", backbone, list(list_backbones().index), func)
    num_classes = check_int("num_classes", num_classes, func, low=2)
    low = 32 if isinstance(backbone, keras.Model) else get_spec(backbone).min_input_size
    height, width = check_image_size("image_size", image_size, func, low=low)
    weights = _check_weights(weights, func)
    if head is not None and not isinstance(head, keras.Model):
        rule = "a keras.Model (see classification_head) or None"
        raise invalid_parameter("head", func, rule, head)
    augment = check_bool("augment", augment, func)

    base = backbone
    if not isinstance(backbone, keras.Model):
        base = load_backbone(backbone, input_shape=(height, width, 3), weights=weights)
    base.trainable = False
    features = base.output_shape[-1]
    if head is None:
        head = classification_head(features, num_classes)
    elif _input_features(head) not in (None, features):
        raise invalid_parameter(
            "head",
            func,
            f"a model taking the backbone's {features} features",
            head,
            f"Its input has {_input_features(head)}.",
        )
    inputs = keras.Input(base.input_shape[1:], name="image")
    x = layers.RandomFlip("horizontal", name="augment_flip")(inputs) if augment else inputs
    outputs = head(base(x, training=False))
    return keras.Model(inputs, outputs, name="classifier")


# --------------------------------------------------------------------------------------------
# Parameter counts of the lecture's networks
# --------------------------------------------------------------------------------------------


def check_networks(names, with_head_classes, func: str) -> tuple[tuple[str, ...], int | None]:
    """Validate the arguments of :func:`parameter_counts` for ``func``, which takes them too.

    Example:
        >>> check_networks(["vgg16"], None, "parameter_counts")
        (('vgg16',), None)
    """
    classes = check_int("with_head_classes", with_head_classes, func, low=1, none_ok=True)
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise invalid_parameter(
            "names",
            func,
            "a non-empty list of backbone names",
            names,
            "For example ['vgg16', 'efficientnet_lite0'].",
        )
    known = list(list_backbones().index)
    return tuple(check_choice("names", name, known, func) for name in names), classes


def _count_with_head(name: str, classes: int | None) -> tuple[int, str]:
    if classes is None:
        base = load_backbone(name, weights=None)
        return base.count_params(), f"load_backbone({name!r}, weights=None), global average pool"
    if name == "vgg16":
        # VGG16's own top: flatten 7x7x512, two 4096-unit layers, then the classifier. It holds
        # ~120 M of the ~134 M parameters, which is the lecture's point about VGG16.
        base = load_backbone(name, weights=None, pooling=None)
        x = layers.Flatten(name="flatten")(base.output)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        how = f"original top: flatten, 4096, 4096, {classes} outputs"
    else:
        base = load_backbone(name, weights=None)
        x = base.output
        how = f"global average pool + dense {classes} outputs (its original top)"
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    model = keras.Model(base.input, outputs, name=f"{name}_with_head")
    return model.count_params(), f"load_backbone({name!r}, weights=None), 224 px; {how}"


def parameter_counts(
    names: Sequence[str] = LECTURE_NETWORKS, with_head_classes: int | None = 2
) -> pd.DataFrame:
    """Count the parameters of the lecture's networks, built with random weights.

    Each network is built at 224 px with ``weights=None`` (nothing is downloaded or cached) and
    its **original ImageNet top with** ``with_head_classes`` **outputs** instead of 1000: for
    VGG16 that is flatten, two 4096-unit dense layers and the classifier, which is
    ``keras.applications.VGG16(weights=None, include_top=True, classes=2)``: 134,268,738
    parameters with the default 2 classes, the lecture's "VGG16 with a small head, about 134
    million" (138.4 M with the 1000 ImageNet classes). The others' original top is global
    average pooling + one dense layer. Building VGG16 takes a few seconds and about 0.5 GB.
    :func:`tlcourse.plot_parameter_counts` draws the table.

    Args:
        names: backbone names from :func:`tlcourse.list_backbones`. Defaults to
            ``("vgg16", "resnet50", "mobilenet_v2", "efficientnet_b0", "efficientnet_lite0")``.
        with_head_classes: outputs of the classifier (an int >= 1); None counts the backbone
            alone (global average pooling, no top). Defaults to 2.

    Returns:
        DataFrame with columns ``name``, ``parameters`` (int), ``millions`` (float) and
        ``built_with`` (how the model was built), in the order of ``names``.

    Raises:
        InvalidParameterError: an unknown name or a bad ``with_head_classes``.

    Example:
        >>> parameter_counts(["efficientnet_lite0"])["parameters"].item()
        3415586
    """
    names, with_head_classes = check_networks(names, with_head_classes, "parameter_counts")
    rows = []
    for name in names:
        count, how = _count_with_head(name, with_head_classes)
        rows.append({"name": name, "parameters": int(count), "built_with": how})
    table = pd.DataFrame(rows)
    table.insert(2, "millions", table["parameters"] / 1e6)
    return table
