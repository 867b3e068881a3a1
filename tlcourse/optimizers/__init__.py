"""Per-layer (discriminative) learning rates: the head learns fast, early blocks slowly.

- :mod:`~tlcourse.optimizers.layerwise`: the ``Layerwise...`` optimizer classes, which scale the
  learning rate per variable and keep their recipe (``factor``/``lr_range``, ``unit``) in
  ``get_config``;
- :mod:`~tlcourse.optimizers.discriminative`: :func:`layerwise_optimizer`, the multipliers of a
  transfer model from its blocks;
- :mod:`~tlcourse.optimizers.rates`: :func:`learning_rates`, what every variable trains at;
- :mod:`~tlcourse.optimizers.support`: which Keras optimizers per-variable rates keep correct;
- :mod:`~tlcourse.optimizers.checks`: the argument checks the first two share.
"""

from tlcourse.optimizers.discriminative import layerwise_optimizer
from tlcourse.optimizers.layerwise import (
    LayerwiseAdam,
    LayerwiseAdamW,
    LayerwiseRMSprop,
    LayerwiseSGD,
    is_layerwise,
    layerwise_class,
)
from tlcourse.optimizers.rates import learning_rates
from tlcourse.optimizers.support import supported_optimizers

__all__ = [
    "LayerwiseAdam",
    "LayerwiseAdamW",
    "LayerwiseRMSprop",
    "LayerwiseSGD",
    "is_layerwise",
    "layerwise_class",
    "layerwise_optimizer",
    "learning_rates",
    "supported_optimizers",
]
