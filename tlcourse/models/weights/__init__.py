"""Weights machinery: a safe reader of legacy PyTorch files, a checksummed cache, loading."""

from tlcourse.models.weights.cache import (
    cache_problem,
    cached_weights_file,
    sha256_file,
    weights_dir,
)
from tlcourse.models.weights.loading import WeightsMismatchError, load_weights_file
from tlcourse.models.weights.torch_legacy import CorruptWeightsFileError, load_legacy_state_dict

__all__ = ["CorruptWeightsFileError", "WeightsMismatchError", "cache_problem",
           "cached_weights_file", "load_legacy_state_dict", "load_weights_file", "sha256_file",
           "weights_dir"]  # fmt: skip
