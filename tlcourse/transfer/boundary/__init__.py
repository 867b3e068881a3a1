"""Training above the freeze boundary: the frozen part of a model runs once per image."""

from tlcourse.transfer.boundary.cache import ActivationCache, CacheMemoryError
from tlcourse.transfer.boundary.cut import (
    Boundary,
    BoundaryCacheWarning,
    NoBoundaryError,
    depth_boundary,
    find_boundary,
    lower_model,
)

__all__ = ["ActivationCache", "Boundary", "BoundaryCacheWarning", "CacheMemoryError",
           "NoBoundaryError", "depth_boundary", "find_boundary", "lower_model"]  # fmt: skip
