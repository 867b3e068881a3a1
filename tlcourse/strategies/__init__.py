"""Strategies: how a classifier is trained (from scratch, feature extraction, fine-tuning...).

One module per strategy, each registering a :class:`~tlcourse.strategies.registry.Strategy`
when imported; every module of this package is imported here. The comparison runner
(:func:`tlcourse.compare`), the figures and ``tlcourse compare`` read the registry, so adding a
strategy is adding one module (and its test), or calling :func:`register_strategy` from a
notebook.

**The run contract.** A strategy's ``run(context, data, seed) -> StrategyResult``:

- ``context``: a :class:`~tlcourse.strategies.context.RunContext`, what the runs of one
  comparison share: ``context.budget`` (:class:`tlcourse.Budget`), ``context.backbone`` (registry
  name), ``context.country``, ``context.distribution``, and

  - ``context.measure(label, work) -> (value, cost)``: runs ``work()`` inside the distribution
    scope and measures its time, energy and CO2;
  - ``context.pretrained_backbone()``: the backbone with its pristine pretrained weights, to
    train (restored at every call);
  - ``context.features(data, layer=None) -> (cache, cost)``: the :class:`tlcourse.FeatureCache`
    of the pristine backbone (with the activations of ``layer``, a freeze boundary, when
    asked), and the cost of the passes so far;
  - ``context.shared(name, data, compute)``: a value computed once per split and reused, such
    as the head trained on cached features
    (:func:`~tlcourse.strategies.feature_extraction.shared_head`);
  - ``context.memo(name, compute)``: a value computed once per comparison (a compiled model
    reused by every run of one kind);
  - ``context.callbacks``: Keras callbacks to pass to every ``fit`` (the progress bar counts
    epochs with them); ``context.boundary_cache``: whether fine-tuning may train on cached
    boundary activations.
- ``data``: the run's :class:`tlcourse.Dataset`, loaded fresh for every run.
- ``seed``: call ``keras.utils.set_random_seed(seed)`` just before building what you train.

It returns a :class:`~tlcourse.strategies.context.StrategyResult`: the model, the history, test
accuracy and loss, trainable parameters, and the :class:`~tlcourse.strategies.context.Cost`
charged to the run (sum the costs of everything it relies on: ``cost + feature_cost``);
optionally the test probabilities (``predictions.csv`` is written from them, and the row's
accuracy taken from them) and the deployable model. The runner turns it into a results row;
the row's ``backbone`` column comes from ``Strategy.network``, its ``fine_tune_epochs`` and
``depth`` from the budget when the strategy lists them in ``Strategy.budget_fields``.

Example:
    A nearest-class-mean probe on cached features, registered from a notebook, then run alone
    (``tl.compare(strategies="feature_extraction,class_means")`` would run it beside the
    others):

    >>> import numpy as np
    >>> def run(context, data, seed):
    ...     features, feature_cost = context.features(data)
    ...     def work():
    ...         x, y = features.split(data, "train")
    ...         means = np.stack([x[y == k].mean(axis=0) for k in range(data.num_classes)])
    ...         test_x, test_y = features.split(data, "test")
    ...         nearest = ((test_x[:, None] - means) ** 2).sum(axis=2).argmin(axis=1)
    ...         return means, float((nearest == test_y).mean())
    ...     (means, accuracy), cost = context.measure("class_means", work)
    ...     return StrategyResult(means, {}, accuracy, float("nan"), trainable_params=0,
    ...                           cost=cost + feature_cost)
    >>> probe = register_strategy(Strategy("class_means", "Class means", "#CC79A7", run=run,
    ...                                    uses_features=True, default=False))
    >>> from tlcourse.comparison import ComparisonContext
    >>> context = ComparisonContext(image_size=32)
    >>> result = probe.run(context, context.dataset(seed=0), seed=0)
    >>> 0 < result.test_accuracy <= 1, "class_means" in list_strategies().index
    (True, True)
    >>> _ = unregister_strategy("class_means")
"""

import importlib
import pkgutil

from tlcourse.strategies.context import Cost, RunContext, StrategyResult
from tlcourse.strategies.registry import (
    Strategy,
    get_strategy,
    list_strategies,
    register_strategy,
    strategy_color,
    strategy_label,
    strategy_names,
    unregister_strategy,
)

__all__ = [
    "STRATEGIES",
    "Cost",
    "RunContext",
    "Strategy",
    "StrategyResult",
    "get_strategy",
    "list_strategies",
    "register_strategy",
    "strategy_color",
    "strategy_label",
    "strategy_names",
    "unregister_strategy",
]

# Every strategy module registers its records when imported: import them all, so a new module
# is picked up without touching this file.
for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

#: The default strategies, in table order (what ``compare()`` runs without ``strategies``).
STRATEGIES = strategy_names(default=True)
