"""Training above the freeze boundary: the frozen part of a model runs once per image.

- :mod:`~tlcourse.boundary.cut`: :func:`find_boundary` (where a partly frozen classifier can be
  cut, and the model above the cut), :func:`depth_boundary`, :func:`lower_model`;
- :mod:`~tlcourse.boundary.memory`: how much memory activations need, and the limit;
- :mod:`~tlcourse.boundary.fit`: training a classifier on its boundary activations, as
  :func:`tlcourse.fine_tune` does by default.
"""

from tlcourse.boundary.cut import (
    Boundary,
    BoundaryCacheWarning,
    NoBoundaryError,
    boundary_operation,
    depth_boundary,
    find_boundary,
    lower_model,
)

__all__ = [
    "Boundary",
    "BoundaryCacheWarning",
    "NoBoundaryError",
    "boundary_operation",
    "depth_boundary",
    "find_boundary",
    "lower_model",
]
