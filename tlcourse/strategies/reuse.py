"""One compiled model per kind of run, reused by every run of a comparison: Keras traces once.

Keras traces a model's training, evaluation and prediction steps the first time ``fit``,
``evaluate`` and ``predict`` run them. For fine-tuning's blocks above the freeze boundary that
took about 3 CPU-seconds, more than the five epochs themselves on the shipped photos, and every
run paid it again on a newly built model; so did the small CNN trained from scratch (3 s of a
13 s run) and the feature-extraction head (about 2 s for 0.4 s of training).
A :class:`ReusedModel` keeps the compiled model of the first run and, at every later run, loads
into it the state of the model that run has just built: weights, random-seed states (dropout
masks), trainable flags, and the optimizer's state as it was right after it was built. So a
run gets exactly the numbers it would get on its own model (a test checks it), and only the
tracing is saved.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import keras

from tlcourse.strategies.training import compile_classifier

__all__ = ["ReusedModel", "reused_trainer", "seed_generators"]


def seed_generators(model: keras.Model) -> list:
    """The ``keras.random.SeedGenerator`` of every layer of ``model``, in layer order.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5)])
        >>> len(seed_generators(model))
        1
    """
    layers = model._flatten_layers(include_self=True, recursive=True)  # Keras' own traversal
    return [generator for layer in layers for generator in layer._seed_generators]


class ReusedModel:
    """A compiled model (and the model it trains) kept for the next runs of the same kind.

    Args:
        model: the run's model (what the result returns).
        trainer: the compiled model ``fit`` trains: ``model`` or the part of it above the
            boundary (sharing its weights).
        optimizer: the trainer's optimizer (built here, so its initial state can be restored).

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="adam", loss="mse")
        >>> reused = ReusedModel(model, model, model.optimizer)
        >>> fresh = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> reused.load(fresh) is model
        True
    """

    def __init__(self, model: keras.Model, trainer: keras.Model, optimizer):
        self.model, self.trainer, self.optimizer = model, trainer, optimizer
        if not optimizer.built:
            optimizer.build(trainer.trainable_variables)
        self._optimizer_state = [v.numpy() for v in optimizer.variables]

    def load(self, fresh: keras.Model) -> keras.Model:
        """Give the kept model the state of ``fresh`` (built like it, not compiled).

        Returns:
            The kept model, now equal to ``fresh`` in every number, its optimizer reset.
        """
        for kept, new in zip(self.model.weights, fresh.weights, strict=True):
            if kept is not new:  # fine-tuning's models share the backbone's variables
                kept.assign(new)
        for kept, new in zip(seed_generators(self.model), seed_generators(fresh), strict=True):
            kept.state.assign(new.state)
        kept_layers = self.model._flatten_layers(include_self=True, recursive=True)
        fresh_layers = fresh._flatten_layers(include_self=True, recursive=True)
        for kept, new in zip(kept_layers, fresh_layers, strict=True):
            if kept is not new and kept.trainable != new.trainable:
                kept.trainable = new.trainable
        for variable, value in zip(self.optimizer.variables, self._optimizer_state, strict=True):
            variable.assign(value)
        return self.model


def reused_trainer(context, kind: Hashable, fresh: keras.Model, optimizer: Callable) -> keras.Model:
    """A compiled copy of ``fresh``, equal to it in every number, kept for every run of ``kind``.

    The first call for ``kind`` clones ``fresh`` and compiles the clone
    (:func:`~tlcourse.strategies.training.compile_classifier`); every call loads ``fresh``'s state
    into it (:meth:`ReusedModel.load`). Train the returned model, then copy its weights into
    ``fresh`` (``fresh.set_weights(trainer.get_weights())``): the run's result keeps ``fresh``,
    which the next run of the same kind does not touch.

    Args:
        context: the comparison's :class:`~tlcourse.strategies.context.RunContext` (its
            :meth:`~tlcourse.strategies.context.RunContext.memo` keeps the model).
        kind: everything the compiled model depends on besides the weights (the strategy,
            the architecture's arguments, the learning rate).
        fresh: the run's newly built, seeded model (uncompiled).
        optimizer: ``optimizer() -> keras.optimizers.Optimizer``, called once per kind.

    Returns:
        The kept compiled model, in the state of ``fresh``.

    Example:
        >>> from tlcourse.comparison import ComparisonContext
        >>> from tlcourse.models import classification_head
        >>> context = ComparisonContext()
        >>> adam = lambda: keras.optimizers.Adam(1e-3)
        >>> first = reused_trainer(context, "head", classification_head(4, 2), adam)
        >>> fresh = classification_head(4, 2)
        >>> second = reused_trainer(context, "head", fresh, adam)
        >>> second is first, all((a == b).all() for a, b in
        ...                      zip(second.get_weights(), fresh.get_weights()))
        (True, True)
    """

    def compiled() -> ReusedModel:
        kept = keras.models.clone_model(fresh)
        compile_classifier(kept, optimizer())
        return ReusedModel(kept, kept, kept.optimizer)

    return context.memo(("compiled model", kind), compiled).load(fresh)
