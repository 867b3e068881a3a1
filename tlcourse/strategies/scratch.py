"""Training from scratch: a small CNN, random weights, end to end.

The baseline every transfer strategy is measured against. :func:`~tlcourse.models.small_cnn`
(with a random horizontal flip) trains for ``budget.epochs`` epochs with Adam at
``budget.head_lr``, batches of ``budget.batch_size`` (reshuffled every epoch with the run's
seed). Charged to the run: building, training and evaluating the network; nothing is shared
with other runs but the compiled model (see :func:`~tlcourse.strategies.reuse.reused_trainer`:
each run loads its own freshly built, seeded network into it, so Keras traces the training step
once per comparison).
"""

from __future__ import annotations

import keras

from tlcourse.boundary.batches import shuffled_batches
from tlcourse.models import small_cnn
from tlcourse.strategies.context import RunContext, StrategyResult
from tlcourse.strategies.registry import Strategy, register_strategy
from tlcourse.strategies.reuse import reused_trainer
from tlcourse.strategies.training import fit, score, trainable_count

__all__ = ["SCRATCH", "run", "train_from_scratch"]


def train_from_scratch(context: RunContext, data, seed: int, build, label: str) -> StrategyResult:
    """Seed, then build ``build()``, train it end to end and evaluate it, measured.

    Args:
        context: the comparison's :class:`~tlcourse.strategies.context.RunContext`.
        data: the run's :class:`~tlcourse.data.Dataset`.
        seed: seeds the initialisation and the shuffling.
        build: ``build() -> keras.Model``, an uncompiled classifier with every layer to train
            trainable; called inside the measured block and the distribution scope.
        label: the name of the measured block.

    Returns:
        The :class:`~tlcourse.strategies.context.StrategyResult`.
    """
    budget = context.budget
    kind = (label, context.backbone, data.num_classes, data.image_size, budget.head_lr)

    def work():
        model = build()
        trainer = reused_trainer(
            context, kind, model, lambda: keras.optimizers.Adam(budget.head_lr)
        )
        # uint8 batches (the network casts its input): 1.7x faster epochs than data.train's
        # float32, and made here, after seeding, so their order depends on the seed only.
        train = shuffled_batches(data.as_arrays("train", "uint8"), budget.batch_size, seed)
        val = data.as_arrays("val", "uint8")
        history = fit(trainer, train, val, budget.epochs, callbacks=context.callbacks)
        scores = score(trainer, *data.as_arrays("test", "uint8"))
        model.set_weights(trainer.get_weights())
        return model, history, scores

    keras.utils.set_random_seed(seed)
    (model, history, (accuracy, loss, probabilities)), cost = context.measure(label, work)
    return StrategyResult(
        model=model,
        history=history,
        test_accuracy=accuracy,
        test_loss=loss,
        trainable_params=trainable_count(model),
        cost=cost,
        test_probabilities=probabilities,
        deployable=lambda: model,
    )


def run(context: RunContext, data, seed: int) -> StrategyResult:
    """Train :func:`~tlcourse.models.small_cnn` from random weights (see the module).

    Args:
        context: the comparison's :class:`~tlcourse.strategies.context.RunContext`.
        data: the run's :class:`~tlcourse.data.Dataset`.
        seed: seeds the initialisation and the shuffling.

    Returns:
        The :class:`~tlcourse.strategies.context.StrategyResult` (model: the small CNN).

    Example:
        >>> from tlcourse.strategies import get_strategy
        >>> get_strategy('scratch').run is run, get_strategy('scratch').network
        (True, 'small_cnn')
    """
    return train_from_scratch(
        context, data, seed, lambda: small_cnn(data.num_classes, data.image_size), "scratch"
    )


SCRATCH = register_strategy(
    Strategy(
        name="scratch",
        order=10,
        label="From scratch",
        color="#7F7F7F",
        run=run,
        network="small_cnn",
        uses_features=False,
        default=True,
        description="A small CNN trained end to end from random weights.",
        budget_fields=("epochs", "head_lr", "batch_size"),
    )
)
