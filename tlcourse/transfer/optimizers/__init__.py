"""Per-layer (discriminative) learning rates: the head learns fast, early blocks slowly."""

from tlcourse.transfer.optimizers.discriminative import layerwise_optimizer
from tlcourse.transfer.optimizers.layerwise import (
    LayerwiseAdam,
    LayerwiseAdamW,
    LayerwiseRMSprop,
    LayerwiseSGD,
    is_layerwise,
    layerwise_class,
    supported_optimizers,
)
from tlcourse.transfer.optimizers.rates import learning_rates

__all__ = ["LayerwiseAdam", "LayerwiseAdamW", "LayerwiseRMSprop", "LayerwiseSGD", "is_layerwise",
           "layerwise_class", "layerwise_optimizer", "learning_rates",
           "supported_optimizers"]  # fmt: skip
