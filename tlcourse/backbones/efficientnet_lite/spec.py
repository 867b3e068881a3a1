"""The registry record of EfficientNet-Lite0: the backbone whose ImageNet weights work offline."""

from __future__ import annotations

import keras

from tlcourse.backbones.efficientnet_lite.architecture import NUM_BLOCKS, build_efficientnet_lite0
from tlcourse.backbones.efficientnet_lite.pretrained import (
    WEIGHTS_SOURCE,
    imagenet_weights_available,
    load_imagenet_weights,
)
from tlcourse.backbones.preprocessing import MODES
from tlcourse.backbones.registry import BackboneSpec, register_backbone
from tlcourse.weights.loading import load_weights_file

__all__ = ["EFFICIENTNET_LITE0"]


def _build(input_shape, include_top, weights, pooling) -> keras.Model:
    """Registry builder: the architecture, then ImageNet weights, none, or a user's file."""
    model = build_efficientnet_lite0(input_shape, include_top=include_top, pooling=pooling)
    if weights == "imagenet":
        load_imagenet_weights(model, include_top=include_top)
    elif weights is not None:
        load_weights_file(model, weights)
    return model


EFFICIENTNET_LITE0 = register_backbone(
    BackboneSpec(
        name="efficientnet_lite0",
        builder=_build,
        default_input_size=224,
        preprocessing=MODES["lite"],
        weights_source=WEIGHTS_SOURCE,
        licence="Apache-2.0",
        block_rules=(
            (r"stem_(conv|bn|relu)$", "stem"),
            (r"block_(\d+)_", "block_{0}"),
            (r"top_(conv|BN|relu)$", "top"),
        ),
        num_blocks=NUM_BLOCKS,
        weights_available=imagenet_weights_available,
        offline=True,
    )
)
