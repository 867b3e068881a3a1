"""Which Keras optimizers a per-variable learning rate keeps correct, and why the others not.

A multiplier means "this variable trains ``multiplier`` times slower" only for an optimizer
whose step is proportional to the learning rate its ``update_step`` is handed; the tables below
are the ones checked (:func:`tlcourse.optimizers.layerwise_class` refuses the others, saying
why).
"""

from __future__ import annotations

import keras

__all__ = ["supported_optimizers"]

# Optimizers whose step is proportional to the learning rate handed to update_step, so that a
# per-variable multiplier means "this variable trains `multiplier` times slower".
_SUPPORTED = {
    cls.__name__.lower(): cls
    for cls in (
        keras.optimizers.Adadelta,
        keras.optimizers.Adagrad,
        keras.optimizers.Adam,
        keras.optimizers.Adamax,
        keras.optimizers.AdamW,
        keras.optimizers.Lamb,
        keras.optimizers.Lion,
        keras.optimizers.Nadam,
        keras.optimizers.RMSprop,
        keras.optimizers.SGD,
    )
}

# Known optimizers that a per-variable learning rate would silently break, and why.
_REFUSED = {
    keras.optimizers.Adafactor: "its relative step caps the learning rate at 1/sqrt(step), "
    "which erases the ratios between groups",
    keras.optimizers.Ftrl: "the learning rate enters FTRL-proximal's update non-linearly, so "
    "the steps would not keep the ratios",
    keras.optimizers.Muon: "it reads the optimizer-wide learning rate in its own weight decay "
    "and rescales Adam-handled variables",
    keras.optimizers.ScheduleFreeAdamW: "its schedule-free averaging is not verified with "
    "per-variable learning rates",
    keras.optimizers.LossScaleOptimizer: "it is a wrapper; pass the optimizer it would wrap "
    "(Keras adds loss scaling itself under mixed precision)",
    keras.optimizers.MultiOptimizer: "it is a wrapper around several optimizers; a layerwise "
    "optimizer replaces it",
}


def supported_optimizers() -> list[str]:
    """The optimizer names :func:`~tlcourse.optimizers.layerwise_class` accepts by name, sorted.

    Example:
        >>> supported_optimizers()[:3]
        ['adadelta', 'adagrad', 'adam']
    """
    return sorted(_SUPPORTED)
