"""The lecture's networks, in stock Keras layers so that a saved model loads with plain Keras."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import pandas as pd
from keras import layers

from tlcourse.errors import invalid_parameter
from tlcourse.models.backbones import get_spec, load_backbone
from tlcourse.models.backbones.registry import BACKBONE, WEIGHTS_FILE
from tlcourse.validation import FRACTION, IMAGE_SIZE, Interval, Rule, StrOptions, validate_params

__all__ = ["LECTURE_NETWORKS", "SMALL_CNN_SIDE", "classification_head", "parameter_counts",
           "small_cnn", "transfer_classifier"]  # fmt: skip

#: The networks the lecture compares by size.
LECTURE_NETWORKS = ("vgg16", "resnet50", "mobilenet_v2", "efficientnet_b0", "efficientnet_lite0")

#: The side (px) :func:`small_cnn` works at: a larger input is average-pooled towards it.
SMALL_CNN_SIDE = 80

_CLASSES = [Interval(int, 2, None)]


def _side_at_least(low: int) -> list:
    return [Rule(
        lambda v: IMAGE_SIZE.accepts(v) and min(IMAGE_SIZE.convert(v)) >= low,
        f"an int >= {low} or a pair (height, width) of ints >= {low}", IMAGE_SIZE.convert,
    )]  # fmt: skip


@validate_params(
    {
        "num_classes": _CLASSES,
        "filters": [Rule(lambda v: bool(v) and all(Interval(int, 1, None).accepts(f) for f in v),
                         "a non-empty list of ints >= 1", lambda v: [int(f) for f in v])],
        # The stride-2 stem and each pool halve the side: it must not reach 0 before the end.
        "image_size": lambda a: _side_at_least(max(32, 2 ** len(a["filters"]))),
        "dropout": [FRACTION],
    }
)  # fmt: skip
def small_cnn(
    num_classes: int, image_size=160, filters=(16, 32, 64, 128), dropout: float = 0.3
) -> keras.Model:
    """A small convolutional network to train from scratch.

    An input of 160 px or more is first average-pooled by ``side // 80``: a network this small
    trained on a hundred photos gains nothing from more pixels. BatchNorm momentum is 0.9: a few
    hundred images make ~100 steps in 30 epochs, too few for 0.99 to forget its initial statistics.

    Example:
        >>> import numpy as np
        >>> small_cnn(np.int64(3), image_size=(64, 48)).input_shape
        (None, 64, 48, 3)
        >>> small_cnn(3, image_size=160).get_layer("input_pool").output.shape
        (None, 80, 80, 3)
    """
    height, width = image_size
    inputs = keras.Input((height, width, 3), name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    pool = max(1, min(height, width) // SMALL_CNN_SIDE)
    if pool > 1:
        x = layers.AveragePooling2D(pool, name="input_pool")(x)
    # After the pool: the same flip (on an even side the two commute) on fewer pixels.
    x = layers.RandomFlip("horizontal", name="augment_flip")(x)
    for i, channels in enumerate(filters):
        stride = 2 if i == 0 else 1
        x = layers.Conv2D(channels, 3, stride, "same", use_bias=False, name=f"conv_{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"conv_{i}_BN")(x)
        if i < len(filters) - 1:
            x = layers.MaxPooling2D(name=f"conv_{i}_pool")(x)
        x = layers.ReLU(name=f"conv_{i}_relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


@validate_params(
    {"num_features": [Interval(int, 1, None)], "num_classes": _CLASSES, "dropout": [FRACTION],
     "name": [Rule(lambda v: isinstance(v, str) and bool(v), "a non-empty str")]}
)  # fmt: skip
def classification_head(
    num_features: int, num_classes: int, dropout: float = 0.2, name: str = "head"
) -> keras.Model:
    """The new head: dropout and a softmax layer over ``num_features`` backbone features."""
    inputs = keras.Input((num_features,), name="features")
    x = layers.Dropout(dropout, name="head_dropout")(inputs)
    outputs = layers.Dense(num_classes, activation="softmax", name="head_predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@validate_params(
    {"backbone": [BACKBONE, keras.Model], "num_classes": _CLASSES,
     "image_size": lambda a: _side_at_least(
         32 if isinstance(a["backbone"], keras.Model) else get_spec(a["backbone"]).min_input_size),
     "weights": [StrOptions(["imagenet"]), None, WEIGHTS_FILE],
     "head": [None, Rule(lambda v: isinstance(v, keras.Model), "a keras.Model")],
     "augment": ["boolean"]}
)  # fmt: skip
def transfer_classifier(
    backbone: str | keras.Model, num_classes: int, image_size=160,
    weights: str | None = "imagenet", head: keras.Model | None = None, augment: bool = True,
) -> keras.Model:  # fmt: skip
    """A pretrained backbone (frozen) with a new head: the model fine-tuning trains.

    ``backbone`` is a registry name (built at ``image_size`` with ``weights``) or a model from
    :func:`tlcourse.load_backbone`; ``head`` may reuse one trained on cached features; ``augment``
    adds a random horizontal flip.

    Example:
        >>> model = transfer_classifier("mobilenet_v2", 3, image_size=(64, 80), weights=None)
        >>> [layer.name for layer in model.layers][-2:], model.input_shape
        (['mobilenet_v2', 'head'], (None, 64, 80, 3))
    """
    base = backbone
    if not isinstance(backbone, keras.Model):
        base = load_backbone(backbone, input_shape=(*image_size, 3), weights=weights)
    base.trainable = False
    features = base.output_shape[-1]
    if head is None:
        head = classification_head(features, num_classes)
    elif head.built and head.input_shape[-1] != features:
        raise invalid_parameter(
            "head", "transfer_classifier", f"a model taking the backbone's {features} features",
            head, f"Its input has {head.input_shape[-1]}.",
        )  # fmt: skip
    inputs = keras.Input(base.input_shape[1:], name="image")
    x = layers.RandomFlip("horizontal", name="augment_flip")(inputs) if augment else inputs
    outputs = head(base(x, training=False))
    return keras.Model(inputs, outputs, name="classifier")


def _count_with_head(name: str, classes: int | None) -> tuple[int, str]:
    if classes is None:
        base = load_backbone(name, weights=None)
        return base.count_params(), f"load_backbone({name!r}, weights=None), global average pool"
    if name == "vgg16":
        # VGG16's own top holds ~120 M of its ~134 M parameters: the lecture's point.
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


_NAMES = Rule(
    lambda v: isinstance(v, Sequence) and not isinstance(v, str) and bool(v)
    and all(BACKBONE.accepts(n) for n in v),
    "a non-empty list of backbone names, for example ['vgg16', 'efficientnet_lite0']", tuple,
    hint=lambda v: " ".join(BACKBONE.hint(n) for n in v if not BACKBONE.accepts(n))
    if isinstance(v, list | tuple) else "",
)  # fmt: skip


@validate_params({"names": [_NAMES], "with_head_classes": [Interval(int, 1, None), None]})
def parameter_counts(
    names: Sequence[str] = LECTURE_NETWORKS, with_head_classes: int | None = 2
) -> pd.DataFrame:
    """Count the parameters of the lecture's networks, at 224 px with random weights.

    Each gets its original ImageNet top with ``with_head_classes`` outputs (VGG16: flatten and two
    4096-unit layers, "about 134 million"); None counts the backbone alone.

    Example:
        >>> parameter_counts(["efficientnet_lite0"])["parameters"].item()
        3415586
    """
    counts = [(name, *_count_with_head(name, with_head_classes)) for name in names]
    table = pd.DataFrame(counts, columns=["name", "parameters", "built_with"])
    table.insert(2, "millions", table["parameters"] / 1e6)
    return table
