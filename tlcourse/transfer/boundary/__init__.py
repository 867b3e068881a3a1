"""Training above the freeze boundary: the frozen part of a model runs once per image.

- :mod:`~tlcourse.transfer.boundary.cut`: :func:`find_boundary` (where a partly frozen classifier
can be
  cut, and the model above the cut), :func:`depth_boundary`, :func:`lower_model`;
- :mod:`~tlcourse.transfer.boundary.cache`: :class:`ActivationCache`, the frozen part's outputs
computed
  once per image, for feature extraction and for fine-tuning.
"""

from tlcourse.transfer.boundary.cache import ActivationCache, CacheMemoryError
from tlcourse.transfer.boundary.cut import (
    Boundary,
    BoundaryCacheWarning,
    NoBoundaryError,
    depth_boundary,
    find_boundary,
    lower_model,
)

__all__ = [
    "ActivationCache",
    "Boundary",
    "BoundaryCacheWarning",
    "CacheMemoryError",
    "NoBoundaryError",
    "depth_boundary",
    "find_boundary",
    "lower_model",
]
