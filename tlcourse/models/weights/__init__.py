"""Weights machinery: a safe reader for legacy PyTorch files, a checksummed cache of weights
files, and loading a Keras weights file with a clear error. What is specific to one network
lives with its builder (:mod:`tlcourse.models.backbones.efficientnet_lite.pretrained`).
"""

from tlcourse.models.weights.cache import (
    cache_problem,
    cached_weights_file,
    sha256_file,
    weights_dir,
)
from tlcourse.models.weights.loading import WeightsMismatchError, load_weights_file
from tlcourse.models.weights.torch_legacy import CorruptWeightsFileError, load_legacy_state_dict

__all__ = [
    "CorruptWeightsFileError", "WeightsMismatchError", "cache_problem", "cached_weights_file",
    "load_legacy_state_dict", "load_weights_file", "sha256_file", "weights_dir",
]  # fmt: skip
