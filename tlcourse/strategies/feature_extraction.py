"""Feature extraction: a new head trained on the frozen backbone's cached features.

The pretrained backbone runs **once** over every image (:meth:`RunContext.features
<tlcourse.strategies.context.RunContext.features>`, always with the pristine pretrained
weights); a head (:func:`~tlcourse.models.classification_head`: dropout and a softmax layer)
trains on those features for ``budget.epochs`` epochs with Adam at ``budget.head_lr``, batches of
``budget.batch_size``, reshuffled every epoch with the run's seed. No augmentation: an augmented
image would need a new pass through the backbone every epoch, which is exactly the cost feature
caching removes.

The head is trained once per split (and head budget) and shared (:func:`shared_head`):
fine-tuning starts from it. Charged to the run: the head's training and evaluation, plus every
pass of the comparison so far (the one-time pass is charged to every run that uses it). The
model to deploy is the pretrained backbone with this head on top. The compiled head is reused
from run to run (:func:`~tlcourse.strategies.reuse.reused_trainer`): Keras traces it once.
"""

from __future__ import annotations

import keras

from tlcourse.models import classification_head, transfer_classifier
from tlcourse.strategies.context import Cost, RunContext, StrategyResult
from tlcourse.strategies.registry import Strategy, register_strategy
from tlcourse.strategies.reuse import reused_trainer
from tlcourse.strategies.training import fit, score, trainable_count

__all__ = ["FEATURE_EXTRACTION", "head_training_cost", "run", "shared_head", "train_head"]


def train_head(context: RunContext, data, seed: int) -> StrategyResult:
    """Train a new head on the cached features of ``data`` (see the module), measured.

    Args:
        context: the comparison's :class:`~tlcourse.strategies.context.RunContext`.
        data: the run's :class:`~tlcourse.data.Dataset`.
        seed: seeds the head's initialisation, its dropout and the reshuffling.

    Returns:
        The :class:`~tlcourse.strategies.context.StrategyResult`; ``model`` is the head (it
        takes features, not images), ``cost`` includes the feature passes so far.

    Example:
        >>> from tlcourse.comparison import Budget, ComparisonContext
        >>> context = ComparisonContext(budget=Budget(epochs=2), image_size=32)
        >>> head = train_head(context, context.dataset(seed=0), seed=0)
        >>> head.model.input_shape, head.trainable_params
        ((None, 1280), 7686)
    """
    return _train_head(context, data, seed)[0]


def _train_head(context: RunContext, data, seed: int) -> tuple[StrategyResult, Cost]:
    """The head's result, and the cost of its training alone (no feature pass)."""
    budget = context.budget
    features, feature_cost = context.features(data)

    def work():
        train = features.dataset(data, "train", budget.batch_size, seed=seed)
        val = features.split(data, "val")
        num_features = features.split(data, "train")[0].shape[1]
        head = classification_head(num_features, data.num_classes)
        kind = ("feature_extraction head", num_features, data.num_classes, budget.head_lr)
        trainer = reused_trainer(context, kind, head, lambda: keras.optimizers.Adam(budget.head_lr))
        history = fit(trainer, train, val, budget.epochs, callbacks=context.callbacks)
        scores = score(trainer, *features.split(data, "test"))
        head.set_weights(trainer.get_weights())
        return head, history, scores

    keras.utils.set_random_seed(seed)
    (head, history, (accuracy, loss, probabilities)), cost = context.measure(
        "feature_extraction", work
    )
    backbone = features.backbone  # the pristine copy: never trained

    def deployable():
        return transfer_classifier(backbone, data.num_classes, head=head, augment=False)

    result = StrategyResult(
        model=head,
        history=history,
        test_accuracy=accuracy,
        test_loss=loss,
        trainable_params=trainable_count(head),
        cost=cost + feature_cost,
        test_probabilities=probabilities,
        deployable=deployable,
    )
    return result, cost


def _shared(context: RunContext, data, seed: int) -> tuple[StrategyResult, Cost]:
    budget = context.budget
    # What the head depends on: a budget sweep over depths shares one head per split.
    key = ("feature_extraction head", budget.epochs, budget.head_lr, budget.batch_size)
    return context.shared(key, data, lambda: _train_head(context, data, seed))


def shared_head(context: RunContext, data, seed: int) -> StrategyResult:
    """The head of :func:`train_head` for this split, trained once per comparison and split.

    Every strategy that starts from the feature-extraction head calls this, so the head (and its
    cost) is the same for all of them.

    Args:
        context: the comparison's :class:`~tlcourse.strategies.context.RunContext`.
        data: the run's :class:`~tlcourse.data.Dataset`.
        seed: the run's seed.

    Returns:
        The shared :class:`~tlcourse.strategies.context.StrategyResult` (do not train its model:
        copy it, as fine-tuning does).

    Example:
        >>> from tlcourse.comparison import Budget, ComparisonContext
        >>> context = ComparisonContext(budget=Budget(epochs=1), image_size=32)
        >>> data = context.dataset(seed=0)
        >>> shared_head(context, data, 0) is shared_head(context, context.dataset(seed=0), 0)
        True
    """
    return _shared(context, data, seed)[0]


def head_training_cost(context: RunContext, data, seed: int) -> Cost:
    """The cost of training the shared head of :func:`shared_head` alone (no feature pass).

    A run that starts from the head is charged this plus every pass so far, once.

    Example:
        >>> from tlcourse.comparison import Budget, ComparisonContext
        >>> context = ComparisonContext(budget=Budget(epochs=1), image_size=32)
        >>> data = context.dataset(seed=0)
        >>> cost = head_training_cost(context, data, 0)
        >>> 0 < cost.wall_seconds < shared_head(context, data, 0).cost.wall_seconds
        True
    """
    return _shared(context, data, seed)[1]


def run(context: RunContext, data, seed: int) -> StrategyResult:
    """Feature extraction for one split: the shared head of :func:`shared_head`.

    Args:
        context: the comparison's :class:`~tlcourse.strategies.context.RunContext`.
        data: the run's :class:`~tlcourse.data.Dataset`.
        seed: the run's seed.

    Returns:
        The :class:`~tlcourse.strategies.context.StrategyResult` (model: the head).

    Example:
        >>> from tlcourse.strategies import get_strategy
        >>> get_strategy("feature_extraction").run is run
        True
    """
    return shared_head(context, data, seed)


FEATURE_EXTRACTION = register_strategy(
    Strategy(
        name="feature_extraction",
        order=20,
        label="Feature extraction",
        color="#0072B2",
        run=run,
        network="backbone",
        uses_features=True,
        default=True,
        description=(
            "The frozen pretrained backbone runs once over every image; a new head trains on "
            "the cached features."
        ),
        budget_fields=("epochs", "head_lr", "batch_size"),
    )
)
