"""Fine-tuning: the feature-extraction head, then the backbone's last blocks trained with it.

Two strategies, one recipe:

- ``fine_tuning``: the head of :func:`~tlcourse.strategies.feature_extraction.shared_head`
  (trained on cached features for ``budget.epochs``), copied onto the pretrained backbone
  (pristine weights); :func:`~tlcourse.freezing.set_trainable` unfreezes the last
  ``budget.depth`` blocks (BatchNorm stays frozen) and the model trains
  ``budget.fine_tune_epochs`` more epochs with Adam at ``budget.fine_tune_lr``.
- ``fine_tuning_dlr``: the same with differential learning rates
  (:func:`~tlcourse.optimizers.layerwise_optimizer`: ``budget.fine_tune_lr`` for the head and
  the last block, each earlier block ``budget.factor`` times slower).

**No augmentation, so the frozen blocks run once per image.** As in feature extraction, the
images are not augmented: the frozen blocks are then a fixed function of the image, so their
output at the freeze boundary (the input of the first unfrozen block, found by
:func:`tlcourse.boundary.find_boundary`) is computed once, in the comparison's pass over the
images, and only the unfrozen blocks and the head train, on those activations
(``context.boundary_cache``). That is the same computation as training the whole model with
the same data order (a test checks the weights), 4-10x cheaper per epoch. Measured on the
shipped photos (``benchmarks/bench_compare.py``): a random horizontal flip, which would make
the whole model run at every step, bought no accuracy over three seeds (see the README).
Where the cache cannot be used (a backbone with dropout in its frozen blocks, activations too
large for memory) the whole model trains at every step, on the same batches, and a warning
says why once.

The compiled model of the first run of each kind is reused by the next ones
(:class:`~tlcourse.strategies.reuse.ReusedModel`): Keras traces it once per comparison, not
once per run, and every run still starts from exactly the state it would build itself. Both
strategies train with a layer-wise Adam (one rate is factor 1: each multiplier 1.0, exactly
Adam's step), whose multipliers live in a variable
(:meth:`~tlcourse.optimizers.LayerwiseAdam.assign_multipliers`): ``fine_tuning`` and
``fine_tuning_dlr`` share one compiled model too (its tracing cost 1.4 s per comparison).

Training the head on cached features is the same computation as training it on top of the
frozen base without augmentation (BatchNorm frozen, same dropout). Charged to each run: its
fine-tuning stage, the shared head's training and every pass so far, so both fine-tuning
strategies carry the head's cost. The history holds the head's epochs then the fine-tuning
epochs; ``fine_tune_start`` is the index of the first fine-tuning epoch.
"""

from __future__ import annotations

import warnings

import keras

from tlcourse.boundary import BoundaryCacheWarning, NoBoundaryError, depth_boundary, find_boundary
from tlcourse.boundary.batches import shuffled_batches
from tlcourse.boundary.cut import boundary_operation
from tlcourse.boundary.memory import CacheMemoryError
from tlcourse.freezing import set_trainable
from tlcourse.models import transfer_classifier
from tlcourse.optimizers import layerwise_optimizer
from tlcourse.strategies.context import RunContext, StrategyResult
from tlcourse.strategies.feature_extraction import head_training_cost, shared_head
from tlcourse.strategies.registry import Strategy, register_strategy
from tlcourse.strategies.reuse import ReusedModel
from tlcourse.strategies.training import (
    compile_classifier,
    fit,
    join_histories,
    score,
    trainable_count,
)

__all__ = ["FINE_TUNING", "FINE_TUNING_DLR", "fine_tune_from_head", "run", "run_differential"]


def _position(backbone, layer) -> int:
    """Where the boundary ``layer`` is made, the same in every copy of the backbone."""
    return backbone.operations.index(boundary_operation(backbone, layer))


def _boundary(context: RunContext, data, label: str):
    """``(cached, layer, position, cache, cost of the passes so far)`` of a run.

    ``cached`` is False when the whole model must train at every step (a warning says why);
    ``layer`` names the boundary in the cache's backbone, None for depth 0 (the features).
    """
    depth = context.budget.depth
    if context.boundary_cache:
        try:
            if depth == "all":
                raise NoBoundaryError("every block trains: there is no frozen part to cache")
            # Named in the cache's own (pristine) copy: automatic names differ between copies.
            pristine = context.features(data)[0].backbone
            layer = depth_boundary(pristine, depth)
            cache, pass_cost = context.features(data, layer)
            return True, layer, _position(pristine, layer), cache, pass_cost
        except (NoBoundaryError, CacheMemoryError) as error:
            warnings.warn(
                f"{label} trains the whole model at every step, without a boundary cache: {error}",
                BoundaryCacheWarning,
                stacklevel=4,
            )
    cache, pass_cost = context.features(data)
    return False, None, None, cache, pass_cost


def fine_tune_from_head(
    context: RunContext, data, seed: int, *, differential: bool, label: str, augment: bool = False
) -> StrategyResult:
    """Fine-tune the last ``budget.depth`` blocks under the shared head (see the module).

    Args:
        context: the comparison's :class:`~tlcourse.strategies.context.RunContext`.
        data: the run's :class:`~tlcourse.data.Dataset`.
        seed: seeds the head copy, dropout and the shuffling.
        differential: differential learning rates (``budget.factor`` per block).
        label: the name of the measured block.
        augment: a random horizontal flip before the backbone (what the comparison did before
            the boundary cache): the whole model then trains at every step. Defaults to False.

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
    if augment:
        cached, layer, position, (cache, pass_cost) = False, None, None, context.features(data)
    else:
        cached, layer, position, cache, pass_cost = _boundary(context, data, label)

    def rates(model):
        """This run's Adam: each earlier block ``factor`` times slower, or one rate (factor 1)."""
        factor = budget.factor if differential else 1.0
        return layerwise_optimizer(model, budget.fine_tune_lr, factor=factor)

    def compiled(model):
        """The first run of this kind: the trainer, compiled (later runs reuse it)."""
        optimizer = rates(model)
        trainer = model
        if cached:
            # Train above the boundary on the cached activations; `model` shares its weights.
            boundary = find_boundary(model)
            if _position(base, boundary.layer) != position:  # flags and depth: one boundary
                raise RuntimeError(f"boundary {boundary.layer!r} is not {layer!r}")
            trainer = boundary.upper
        compile_classifier(trainer, optimizer)
        return ReusedModel(model, trainer, optimizer)

    def work():
        head_copy = keras.models.clone_model(head.model)
        head_copy.set_weights(head.model.get_weights())
        model = transfer_classifier(base, data.num_classes, head=head_copy, augment=augment)
        set_trainable(model, budget.depth)
        # The rates are not part of it: both strategies train through one compiled model.
        kind = (augment, cached, position, data.num_classes, budget.depth, budget.fine_tune_lr)
        reused = context.memo(("fine-tuning model", kind), lambda: compiled(model))
        if reused.model is not model:
            model = reused.load(model)
            reused.optimizer.assign_multipliers(rates(model))
        if cached:
            inputs = {s: cache.split(data, s, layer)[0] for s in ("train", "val", "test")}
        else:
            inputs = {s: data.as_arrays(s)[0] for s in ("train", "val", "test")}
        start = len(head.history["loss"])
        # The same batches in both cases: the order depends on the seed only.
        train = shuffled_batches((inputs["train"], data.labels["train"]), budget.batch_size, seed)
        val = (inputs["val"], data.labels["val"])
        history = fit(
            reused.trainer, train, val, budget.fine_tune_epochs, start,
            callbacks=context.callbacks,
        )  # fmt: skip
        scores = score(reused.trainer, inputs["test"], data.labels["test"])
        return model, start, history, scores

    keras.utils.set_random_seed(seed)
    (model, start, history, (accuracy, loss, probabilities)), cost = context.measure(label, work)
    return StrategyResult(
        model=model,
        history=join_histories(head.history, history),
        test_accuracy=accuracy,
        test_loss=loss,
        trainable_params=trainable_count(model),
        cost=cost + head_training_cost(context, data, seed) + pass_cost,
        fine_tune_start=start,
        test_probabilities=probabilities,
        deployable=lambda: model,
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
