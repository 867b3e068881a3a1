"""The built-in strategies: the notebooks' recipes, in plain Keras.

- ``scratch`` and ``scratch_backbone``: build the network
  (:func:`~tlcourse.models.classifiers.small_cnn`, or the backbone's architecture from random
  weights), ``compile``, ``fit(data.train, validation_data=data.val)`` for ``budget.epochs``
  epochs with Adam at ``budget.head_lr``, ``predict(data.test)``.
- ``feature_extraction``: the frozen backbone runs once over every image
  (:class:`~tlcourse.transfer.boundary.ActivationCache`, as in notebook 03) and a new head
  (:func:`~tlcourse.models.classifiers.classification_head`) trains on the features, as above.
  Charged to the run: its training, plus every pass over the images so far.
- ``fine_tuning`` and ``fine_tuning_dlr``: :func:`tlcourse.fine_tune` of the last
  ``budget.depth`` blocks for ``budget.fine_tune_epochs`` epochs at ``budget.fine_tune_lr`` (each
  earlier block ``budget.factor`` times slower with differential rates), starting from the
  feature-extraction model of the same split: its first stage (the head on the frozen base) is
  that run, trained once and charged to each run that continues from it. No augmentation: the
  frozen part is a fixed function of the image, so ``fine_tune`` trains on the cached
  activations (``trained_on`` says so). ``ComparisonContext(cache=False)`` runs the whole model
  at every step in both stages, as a plain Keras loop does.
"""

from __future__ import annotations

import keras
import numpy as np

from tlcourse.comparison.context import COMPILE
from tlcourse.comparison.strategies.registry import Strategy, StrategyResult, register_strategy
from tlcourse.measure import combine_records
from tlcourse.models.classifiers import small_cnn, transfer_classifier
from tlcourse.models.graph import nested_layers
from tlcourse.transfer.fine_tune import fine_tune
from tlcourse.transfer.freezing import set_trainable

__all__ = ["feature_extraction", "fine_tuning", "fine_tuning_dlr", "scratch", "scratch_backbone"]

CACHED, WHOLE = "cached activations", "whole model"


def _predict(model, test, num_classes: int) -> np.ndarray:
    if test is None:
        return np.zeros((0, num_classes), np.float32)
    return model.predict(test, verbose=0)


def _result(model, history, probabilities, data, costs: list, trained_on: str, **extra):
    """A run's result: accuracy and loss from the probabilities written out, costs summed."""
    labels = data.labels["test"]
    accuracy = loss = float("nan")
    if len(labels):
        accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
        picked = probabilities[np.arange(len(labels)), labels]
        loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    history = {k: [float(v) for v in values] for k, values in history.items()}
    cost = combine_records(costs)
    return StrategyResult(model, history, accuracy, loss, trainable, cost,
                          test_probabilities=probabilities, trained_on=trained_on,
                          **extra)  # fmt: skip


def _train_end_to_end(context, data, seed: int, build, label: str) -> StrategyResult:
    budget = context.budget

    def work():
        keras.utils.set_random_seed(seed)
        model = build()
        model.compile(optimizer=keras.optimizers.Adam(budget.head_lr), **COMPILE)
        # data.train reshuffles itself every epoch (seeded): no shuffle of fit's own.
        history = model.fit(data.train, validation_data=data.val, epochs=budget.epochs,
                            shuffle=False, callbacks=[*context.callbacks], verbose=0)  # fmt: skip
        return model, history.history, _predict(model, data.test, data.num_classes)

    (model, history, probabilities), cost = context.measure(label, work)
    return _result(model, history, probabilities, data, [cost], WHOLE,
                   deployable=lambda: model)  # fmt: skip


def scratch(context, data, seed: int) -> StrategyResult:
    """Train :func:`~tlcourse.models.classifiers.small_cnn` from random weights."""
    build = lambda: small_cnn(data.num_classes, data.image_size)  # noqa: E731
    return _train_end_to_end(context, data, seed, build, "scratch")


def scratch_backbone(context, data, seed: int) -> StrategyResult:
    """Train the comparison's backbone architecture from random weights, every layer."""

    def build():
        model = transfer_classifier(context.backbone, data.num_classes, data.image_size,
                                    weights=None)  # fmt: skip
        set_trainable(model, "all", train_batchnorm=True)
        # A few batches per epoch: at Keras's 0.99 the moving statistics lag far behind (as in
        # small_cnn and notebook 05).
        for *_, layer in nested_layers(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.9
        return model

    return _train_end_to_end(context, data, seed, build, "scratch_backbone")


def feature_extraction(context, data, seed: int) -> StrategyResult:
    """Train a new head on the frozen backbone's cached features."""
    head, history, probabilities, cost = context.trained_head(data, seed)
    cache, pass_cost = context.features(data)

    def deployable():
        return transfer_classifier(cache.backbone, data.num_classes, head=head, augment=False)

    return _result(head, history, probabilities, data, [cost, pass_cost], CACHED,
                   deployable=deployable)  # fmt: skip


def _copy(model: keras.Model) -> keras.Model:
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin


def _fine_tune(context, data, seed: int, factor, label: str) -> StrategyResult:
    budget = context.budget
    costs, head, head_history = [], None, {}
    if context.cache:  # stage 1 is the feature-extraction run of this split: continue from it
        head, head_history, _, head_cost = context.trained_head(data, seed)
        cache, passes = context.features(data)
        costs = [head_cost, passes]
    else:  # as written in Keras: the whole model in the loop, both stages, no pass to charge
        cache = False

    def work():
        keras.utils.set_random_seed(seed)
        model = transfer_classifier(context.pretrained_backbone(), data.num_classes,
                                    head=head and _copy(head), augment=False)  # fmt: skip
        history = fine_tune(
            model, data.train, data.val, head_epochs=0 if head else budget.epochs,
            epochs=budget.fine_tune_epochs, depth=budget.depth, base_lr=budget.fine_tune_lr,
            factor=factor, head_lr=budget.head_lr, **COMPILE,
            callbacks=list(context.callbacks), verbose=0, cache=cache,
        )  # fmt: skip
        if history.settings["cached"]:  # the test images' frozen part from the cache too
            return model, history, cache.predict(model, data.as_arrays("test")[0])
        return model, history, _predict(model, data.test, data.num_classes)

    (model, history, probabilities), cost = context.measure(label, work)
    start = len(next(iter(head_history.values()), []))
    joined = {
        key: [*head_history.get(key, []), *history.history.get(key, [])]
        for key in dict.fromkeys([*head_history, *history.history])
    }
    fine_tune_start = history.fine_tune_start
    if head is not None and fine_tune_start is not None:
        fine_tune_start += start
    return _result(model, joined, probabilities, data, [cost, *costs],
                   CACHED if history.settings["cached"] else WHOLE, deployable=lambda: model,
                   fine_tune_start=fine_tune_start)  # fmt: skip


def fine_tuning(context, data, seed: int) -> StrategyResult:
    """:func:`tlcourse.fine_tune` with one learning rate for every unfrozen block."""
    return _fine_tune(context, data, seed, None, "fine_tuning")


def fine_tuning_dlr(context, data, seed: int) -> StrategyResult:
    """:func:`tlcourse.fine_tune` with differential rates: each earlier block slower."""
    return _fine_tune(context, data, seed, context.budget.factor, "fine_tuning_dlr")


_END_TO_END = ("epochs", "head_lr", "batch_size")
_FINE_TUNING = ("epochs", "fine_tune_epochs", "depth", "head_lr", "fine_tune_lr", "batch_size")

for _record in (
    Strategy("scratch", "From scratch", "#7F7F7F", scratch, network="small_cnn", order=10,
             description="A small CNN trained end to end from random weights.",
             budget_fields=_END_TO_END),
    Strategy("feature_extraction", "Feature extraction", "#0072B2", feature_extraction,
             uses_features=True, order=20, budget_fields=_END_TO_END,
             description="The frozen pretrained backbone runs once over every image; a new "
             "head trains on the cached features."),
    Strategy("fine_tuning", "Fine-tuning", "#E69F00", fine_tuning, uses_features=True,
             order=30, budget_fields=_FINE_TUNING,
             description="tl.fine_tune: a new head, then the last blocks unfrozen and trained "
             "with it at a low learning rate."),
    Strategy("fine_tuning_dlr", "Fine-tuning (differential LRs)", "#009E73", fine_tuning_dlr,
             uses_features=True, order=40, budget_fields=(*_FINE_TUNING, "factor"),
             description="Fine-tuning with differential learning rates: each earlier block a "
             "factor slower than the next."),
    Strategy("scratch_backbone", "Backbone from scratch", "#56B4E9", scratch_backbone,
             default=False, order=50, budget_fields=_END_TO_END,
             description="The backbone's architecture with random weights, trained end to "
             "end: what its size costs without pretraining."),
):  # fmt: skip
    register_strategy(_record)
