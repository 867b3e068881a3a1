"""Pretrained weights: a safe reader for legacy PyTorch files and the cached Keras conversion."""

from tlcourse.weights.convert import (
    WeightsMismatchError,
    assign_state_dict,
    convert_efficientnet_lite0,
    efficientnet_lite0_source_file,
    imagenet_weights_file,
    load_imagenet_weights,
    load_weights_file,
)
from tlcourse.weights.torch_legacy import CorruptWeightsFileError, load_legacy_state_dict

__all__ = [
    "CorruptWeightsFileError",
    "WeightsMismatchError",
    "assign_state_dict",
    "convert_efficientnet_lite0",
    "efficientnet_lite0_source_file",
    "imagenet_weights_file",
    "load_imagenet_weights",
    "load_legacy_state_dict",
    "load_weights_file",
]
