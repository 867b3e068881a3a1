"""The EfficientNet-Lite0 architecture: EfficientNet-B0 without squeeze-excite, with ReLU6.

Layer names follow ``keras.applications.MobileNetV2`` (``block_3_expand``...), which is what
freezing by block keys on."""

from __future__ import annotations

import keras
from keras import layers

from tlcourse.models.backbones.registry import POOLING, input_shape_rule, preprocessing
from tlcourse.validation import FRACTION, Interval, validate_params

__all__ = ["NUM_BLOCKS", "NUM_MBCONV_BLOCKS", "STAGES", "build_efficientnet_lite0"]

# (repeats, kernel, stride, expansion, output channels) per stage, as in the reference port.
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192), (1, 3, 1, 6, 320),
)  # fmt: skip
STEM_CHANNELS = 32
TOP_CHANNELS = 1280
NUM_MBCONV_BLOCKS = sum(stage[0] for stage in STAGES)  # 16 inverted residual blocks
NUM_BLOCKS = 1 + NUM_MBCONV_BLOCKS + 1  # backbone_blocks: the stem, the MBConv blocks, the top
# Trained in TensorFlow with epsilon 1e-3: another value shifts every activation.
_BN_EPSILON = 1e-3


def _conv_bn_relu(x, filters, kernel, stride, names: tuple[str, str, str]):
    conv, bn, relu = names
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=conv)(x)
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, name=bn)(x)
    return layers.ReLU(6.0, name=relu)(x)


def _mbconv(x, index: int, kernel: int, stride: int, expansion: int, filters: int):
    """Inverted residual block without squeeze-excite: expand, depthwise, project, add."""
    prefix, in_channels, inputs = f"block_{index}_", x.shape[-1], x
    if expansion != 1:
        names = (prefix + "expand", prefix + "expand_BN", prefix + "expand_relu")
        x = _conv_bn_relu(x, in_channels * expansion, 1, 1, names)
    x = layers.DepthwiseConv2D(kernel, stride, "same", use_bias=False, name=prefix + "depthwise")(x)
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, name=prefix + "depthwise_BN")(x)
    x = layers.ReLU(6.0, name=prefix + "depthwise_relu")(x)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=prefix + "project")(x)
    # Linear bottleneck: no activation after the projection.
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, name=prefix + "project_BN")(x)
    if stride == 1 and in_channels == filters:
        x = layers.Add(name=prefix + "add")([inputs, x])
    return x


@validate_params(
    {"input_shape": [input_shape_rule(32)], "include_top": ["boolean"], "pooling": POOLING,
     "classes": [Interval(int, 1, None)], "dropout": [FRACTION]}
)  # fmt: skip
def build_efficientnet_lite0(
    input_shape: tuple[int, int, int] = (224, 224, 3), include_top: bool = False,
    pooling: str | None = "avg", classes: int = 1000, dropout: float = 0.2,
) -> keras.Model:  # fmt: skip
    """Build EfficientNet-Lite0 with random weights, taking RGB images in 0..255.

    Example:
        >>> build_efficientnet_lite0((96, 96, 3), pooling=None).output_shape
        (None, 3, 3, 1280)
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = preprocessing(inputs, "lite")
    x = _conv_bn_relu(x, STEM_CHANNELS, 3, 2, ("stem_conv", "stem_bn", "stem_relu"))
    index = 0
    for repeats, kernel, stride, expansion, filters in STAGES:
        for repeat in range(repeats):
            x = _mbconv(x, index, kernel, stride if repeat == 0 else 1, expansion, filters)
            index += 1
    x = _conv_bn_relu(x, TOP_CHANNELS, 1, 1, ("top_conv", "top_BN", "top_relu"))
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(dropout, name="top_dropout")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0")
