"""Fine-tuning: the feature-extraction head, then the backbone's last blocks trained with it.

Two strategies, one recipe:

- ``fine_tuning``: the head of :func:`~tlcourse.strategies.feature_extraction.shared_head`
  (trained on cached features for ``budget.epochs``), copied onto the pretrained backbone
  (pristine weights, random horizontal flip before it); :func:`~tlcourse.freezing.set_trainable`
  unfreezes the last ``budget.depth`` blocks (BatchNorm stays frozen) and the model trains
  ``budget.fine_tune_epochs`` more epochs with Adam at ``budget.fine_tune_lr``.
- ``fine_tuning_dlr``: the same with differential learning rates
  (:func:`~tlcourse.optimizers.layerwise_optimizer`: ``budget.fine_tune_lr`` for the head and
  the last block, each earlier block ``budget.factor`` times slower).

Training the head on cached features is the same computation as training it on top of the
frozen base without augmentation (BatchNorm frozen, same dropout), only 20x+ faster. Charged to
each run: its fine-tuning stage, plus the shared head (its training and the feature passes so
far), so both fine-tuning strategies carry the head's cost. The history holds the head's epochs
then the fine-tuning epochs; ``fine_tune_start`` is the index of the first fine-tuning epoch.
"""

from __future__ import annotations

import keras

from tlcourse.freezing import set_trainable
from tlcourse.models import transfer_classifier
from tlcourse.optimizers import layerwise_optimizer
from tlcourse.strategies.context import RunContext, StrategyResult
from tlcourse.strategies.feature_extraction import shared_head
from tlcourse.strategies.registry import Strategy, register_strategy
from tlcourse.strategies.training import (
    compile_classifier,
    evaluate,
    fit,
    join_histories,
    trainable_count,
)

__all__ = ["FINE_TUNING", "FINE_TUNING_DLR", "fine_tune_from_head", "run", "run_differential"]


def fine_tune_from_head(
    context: RunContext, data, seed: int, *, differential: bool, label: str
) -> StrategyResult:
    """Fine-tune the last ``budget.depth`` blocks under the shared head (see the module).

    Args:
        context: the comparison's :class:`~tlcourse.strategies.context.RunContext`.
        data: the run's :class:`~tlcourse.data.Dataset`.
        seed: seeds the head copy, the flip, dropout and the shuffling.
        differential: differential learning rates (``budget.factor`` per block).
        label: the name of the measured block.

    Returns:
        The :class:`~tlcourse.strategies.context.StrategyResult` (model: backbone and head).

    Example:
        >>> from tlcourse.comparison import Budget, ComparisonContext
        >>> context = ComparisonContext(budget=Budget(epochs=1, fine_tune_epochs=1, depth=1),
        ...                             image_size=32)
        >>> result = fine_tune_from_head(context, context.dataset(seed=0), 0,
        ...                              differential=False, label="fine_tuning")
        >>> len(result.history["loss"]), result.fine_tune_start
        (2, 1)
    """
    budget = context.budget
    head = shared_head(context, data, seed)
    base = context.pretrained_backbone()

    def work():
        head_copy = keras.models.clone_model(head.model)
        head_copy.set_weights(head.model.get_weights())
        model = transfer_classifier(base, data.num_classes, head=head_copy)
        set_trainable(model, budget.depth)
        if differential:
            optimizer = layerwise_optimizer(model, budget.fine_tune_lr, factor=budget.factor)
        else:
            optimizer = keras.optimizers.Adam(budget.fine_tune_lr)
        compile_classifier(model, optimizer)
        start = len(head.history["loss"])
        history = fit(model, data.train, data.val, budget.fine_tune_epochs, initial_epoch=start)
        return model, start, history, evaluate(model, data.test)

    keras.utils.set_random_seed(seed)
    (model, start, history, (accuracy, loss)), cost = context.measure(label, work)
    return StrategyResult(
        model=model,
        history=join_histories(head.history, history),
        test_accuracy=accuracy,
        test_loss=loss,
        trainable_params=trainable_count(model),
        cost=cost + head.cost,
        fine_tune_start=start,
    )


def run(context: RunContext, data, seed: int) -> StrategyResult:
    """``fine_tuning``: one Adam learning rate for every unfrozen block (see the module).

    Args:
        context: the comparison's :class:`~tlcourse.strategies.context.RunContext`.
        data: the run's :class:`~tlcourse.data.Dataset`.
        seed: the run's seed.

    Returns:
        The :class:`~tlcourse.strategies.context.StrategyResult`.

    Example:
        >>> from tlcourse.strategies import get_strategy
        >>> get_strategy("fine_tuning").run is run
        True
    """
    return fine_tune_from_head(context, data, seed, differential=False, label="fine_tuning")


def run_differential(context: RunContext, data, seed: int) -> StrategyResult:
    """``fine_tuning_dlr``: each earlier block ``budget.factor`` times slower (see the module).

    Args:
        context: the comparison's :class:`~tlcourse.strategies.context.RunContext`.
        data: the run's :class:`~tlcourse.data.Dataset`.
        seed: the run's seed.

    Returns:
        The :class:`~tlcourse.strategies.context.StrategyResult`.

    Example:
        >>> from tlcourse.strategies import get_strategy
        >>> get_strategy("fine_tuning_dlr").run is run_differential
        True
    """
    return fine_tune_from_head(context, data, seed, differential=True, label="fine_tuning_dlr")


_FIELDS = ("epochs", "fine_tune_epochs", "depth", "head_lr", "fine_tune_lr", "batch_size")

FINE_TUNING = register_strategy(
    Strategy(
        name="fine_tuning",
        order=30,
        label="Fine-tuning",
        color="#E69F00",
        run=run,
        network="backbone",
        uses_features=True,
        default=True,
        description=(
            "The feature-extraction head, then the last blocks unfrozen and trained with the "
            "head at a low learning rate."
        ),
        budget_fields=_FIELDS,
    )
)

FINE_TUNING_DLR = register_strategy(
    Strategy(
        name="fine_tuning_dlr",
        order=40,
        label="Fine-tuning (differential LRs)",
        color="#009E73",
        run=run_differential,
        network="backbone",
        uses_features=True,
        default=True,
        description=(
            "Fine-tuning with differential learning rates: each earlier block a factor slower"
            " than the next."
        ),
        budget_fields=(*_FIELDS, "factor"),
    )
)
