"""The classifiers the three strategies train: a small CNN, a head, a backbone plus a head."""

from __future__ import annotations

import keras
from keras import layers

from tlcourse.backbones import load_backbone
from tlcourse.errors import InvalidParameterError


def _check_classes(num_classes, func: str) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise InvalidParameterError(
            f"The 'num_classes' parameter of {func} must be an int >= 2. Got {num_classes!r}."
        )
    return num_classes


def small_cnn(
    num_classes: int, image_size: int = 160, filters=(16, 32, 64, 128), dropout: float = 0.3
) -> keras.Model:
    """A small convolutional network to train from scratch.

    A stride-2 conv, then conv + max-pool blocks: cheap on a laptop CPU at 160 px (2.4x faster
    than without the first pool, for the same accuracy on the shipped photos). BatchNorm uses
    momentum 0.9 because a few hundred images make only ~100 steps in 30 epochs, too few for
    Keras's default 0.99 to forget its initial statistics (the model would then predict one class
    at test time). A horizontal flip augments the few training images (active only in training).

    Args:
        num_classes: number of classes (>= 2).
        image_size: side of the square RGB input (0..255). Defaults to 160.
        filters: output channels of the stem and of each following block. Defaults to
            ``(16, 32, 64, 128)``.
        dropout: dropout rate before the classifier. Defaults to 0.3.

    Returns:
        An uncompiled ``keras.Model`` named ``"small_cnn"`` outputting class probabilities.

    Example:
        >>> small_cnn(3, image_size=64).output_shape
        (None, 3)
    """
    _check_classes(num_classes, "small_cnn")
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = layers.RandomFlip("horizontal", name="augment_flip")(x)
    for i, width in enumerate(filters):
        stride = 2 if i == 0 else 1
        x = layers.Conv2D(
            width, 3, strides=stride, padding="same", use_bias=False, name=f"conv_{i}"
        )(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"conv_{i}_BN")(x)
        x = layers.ReLU(name=f"conv_{i}_relu")(x)
        if i < len(filters) - 1:
            x = layers.MaxPooling2D(name=f"conv_{i}_pool")(x)
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
        num_features: length of the feature vector (1280 for efficientnet_lite0).
        num_classes: number of classes (>= 2).
        dropout: dropout rate. Defaults to 0.2.
        name: model name. Defaults to ``"head"``.

    Returns:
        An uncompiled ``keras.Model`` mapping features to class probabilities.

    Example:
        >>> classification_head(1280, 6).count_params()
        7686
    """
    _check_classes(num_classes, "classification_head")
    inputs = keras.Input((num_features,), name="features")
    x = layers.Dropout(dropout, name="head_dropout")(inputs)
    outputs = layers.Dense(num_classes, activation="softmax", name="head_predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def transfer_classifier(
    backbone: str | keras.Model,
    num_classes: int,
    image_size: int = 160,
    weights: str | None = "imagenet",
    head: keras.Model | None = None,
    augment: bool = True,
) -> keras.Model:
    """A pretrained backbone (frozen) with a new head: the model fine-tuning trains.

    The backbone is called with ``training=False`` and every BatchNorm layer stays frozen via
    :func:`tlcourse.set_trainable` later (in Keras 3.15 ``training=False`` alone does not keep
    BatchNorm statistics frozen once the base is trainable).

    Args:
        backbone: a registry name or a model from :func:`tlcourse.load_backbone`.
        num_classes: number of classes (>= 2).
        image_size: side of the square RGB input (0..255). Defaults to 160.
        weights: backbone weights when ``backbone`` is a name. Defaults to ``"imagenet"``.
        head: a head from :func:`classification_head` to reuse (e.g. one already trained on
            cached features); a new one when None.
        augment: add a random horizontal flip (active only while training). Defaults to True.

    Returns:
        An uncompiled ``keras.Model`` named ``"classifier"`` with the backbone frozen.

    Example:
        >>> model = transfer_classifier("mobilenet_v2", 3, image_size=64, weights=None)
        >>> [layer.name for layer in model.layers][-2:]
        ['mobilenet_v2', 'head']
    """
    _check_classes(num_classes, "transfer_classifier")
    base = backbone
    if not isinstance(backbone, keras.Model):
        base = load_backbone(backbone, input_shape=(image_size, image_size, 3), weights=weights)
    base.trainable = False
    if head is None:
        head = classification_head(base.output_shape[-1], num_classes)
    inputs = keras.Input(base.input_shape[1:], name="image")
    x = layers.RandomFlip("horizontal", name="augment_flip")(inputs) if augment else inputs
    outputs = head(base(x, training=False))
    return keras.Model(inputs, outputs, name="classifier")
