"""The only reads and writes of private Keras state in tlcourse, each with the reason.

Keras 3 (3.15, TensorFlow backend) has no public view of these. ``tests/test_keras_private.py``
fails when an upgrade moves any of them, so the break shows here, not as a silent change."""

from __future__ import annotations

import keras

__all__ = ["all_layers", "compile_arguments", "compiled_flags", "set_compiled_flags",
           "variable_index"]  # fmt: skip


def compile_arguments(model: keras.Model) -> dict | None:
    """The arguments of the model's last ``compile()``, or None if it was never compiled.

    ``get_compile_config()`` serializes them, losing custom losses and metrics; recompiling after a
    freeze needs the objects themselves."""
    config = getattr(model, "_compile_config", None)
    return dict(config.config) if getattr(model, "compiled", False) and config else None


def compiled_flags(model: keras.Model) -> dict | None:
    """``{layer: trainable}`` as each layer was at the last ``compile()``, or None.

    ``fit`` trains that set, not the current flags: the setup check warns when they differ."""
    flags = getattr(model, "_compiled_trainable_state", None)
    return flags if getattr(model, "compiled", False) and isinstance(flags, dict) else None


def set_compiled_flags(model: keras.Model, flags: dict) -> None:
    """Record ``{layer: trainable}`` as at the last ``compile()`` (the grader, after a load)."""
    model._compiled_trainable_state = dict(flags)


def all_layers(model: keras.Model) -> list:
    """The model and every layer inside it, in the order Keras keys the compiled flags."""
    return list(model._flatten_layers())


def variable_index(optimizer: keras.optimizers.Optimizer, variable) -> int:
    """The position of ``variable`` in the optimizer's slot lists.

    On TensorFlow, ``update_step`` receives the raw ``tf.Variable``, without a path."""
    return optimizer._get_variable_index(variable)
