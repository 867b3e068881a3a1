"""EfficientNet-Lite0 in Keras, with ImageNet weights that work offline and without torch."""

from tlcourse.models.backbones.efficientnet_lite.architecture import (
    NUM_BLOCKS,
    NUM_MBCONV_BLOCKS,
    STAGES,
    build_efficientnet_lite0,
)
from tlcourse.models.backbones.efficientnet_lite.pretrained import (
    WEIGHTS_SOURCE,
    assign_state_dict,
    convert_efficientnet_lite0,
    efficientnet_lite0_source_file,
    imagenet_weights_available,
    imagenet_weights_file,
    load_imagenet_weights,
)
from tlcourse.models.backbones.registry import MODES, BackboneSpec, register_backbone
from tlcourse.models.weights.loading import load_weights_file

__all__ = ["EFFICIENTNET_LITE0", "NUM_BLOCKS", "NUM_MBCONV_BLOCKS", "STAGES", "assign_state_dict",
           "build_efficientnet_lite0", "convert_efficientnet_lite0",
           "efficientnet_lite0_source_file", "imagenet_weights_available", "imagenet_weights_file",
           "load_imagenet_weights"]  # fmt: skip


def _build(input_shape, include_top, weights, pooling):
    model = build_efficientnet_lite0(input_shape, include_top=include_top, pooling=pooling)
    if weights == "imagenet":
        load_imagenet_weights(model, include_top=include_top)
    elif weights is not None:
        load_weights_file(model, weights)
    return model


EFFICIENTNET_LITE0 = register_backbone(BackboneSpec(
    name="efficientnet_lite0", builder=_build, default_input_size=224, preprocessing=MODES["lite"],
    weights_source=WEIGHTS_SOURCE, licence="Apache-2.0", num_blocks=NUM_BLOCKS,
    block_rules=((r"stem_(conv|bn|relu)$", "stem"), (r"block_(\d+)_", "block_{0}"),
                 (r"top_(conv|BN|relu)$", "top")),
    weights_available=imagenet_weights_available, offline=True,
))  # fmt: skip
