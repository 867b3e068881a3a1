"""Strategies: how a classifier is trained (from scratch, feature extraction, fine-tuning...).

A registry of records, timm-style (:mod:`~tlcourse.comparison.strategies.registry`), read by
:func:`tlcourse.compare`, the figures and ``tlcourse compare``: adding a strategy is calling
:func:`register_strategy`. The built-in ones are in :mod:`~tlcourse.comparison.strategies.builtin`.

**The run contract.** ``run(context, data, seed) -> StrategyResult``, where ``context`` (a
:class:`tlcourse.comparison.ComparisonContext`) gives ``budget``, ``backbone``, ``callbacks``
(for every ``fit``), ``measure(label, work) -> (value, record)`` (time, energy and CO2 of
``work()``), ``pretrained_backbone()`` and ``features(data) -> (cache, record)`` (the
:class:`~tlcourse.transfer.boundary.ActivationCache` of the pretrained backbone holding ``data``'s
images, and the record of the passes over the images so far), ``trained_head(data, seed)``
(feature extraction's head of this split, trained once); ``data`` is the run's
:class:`tlcourse.Dataset`; call ``keras.utils.set_random_seed(seed)`` before building what you
train. The result's ``cost`` sums everything the run relies on.

Example:
    A nearest-class-mean probe on cached features, registered from a notebook, then run alone:

    >>> import numpy as np
    >>> from tlcourse.measure import combine_records
    >>> def run(context, data, seed):
    ...     cache, pass_cost = context.features(data)
    ...     def work():
    ...         x, y = cache.split(data, "train")
    ...         means = np.stack([x[y == k].mean(axis=0) for k in range(data.num_classes)])
    ...         test_x, test_y = cache.split(data, "test")
    ...         nearest = ((test_x[:, None] - means) ** 2).sum(axis=2).argmin(axis=1)
    ...         return means, float((nearest == test_y).mean())
    ...     (means, accuracy), cost = context.measure("class_means", work)
    ...     return StrategyResult(means, {}, accuracy, float("nan"), trainable_params=0,
    ...                           cost=combine_records([cost, pass_cost]))
    >>> probe = register_strategy(Strategy("class_means", "Class means", "#CC79A7", run=run,
    ...                                    uses_features=True, default=False))
    >>> from tlcourse.comparison import ComparisonContext
    >>> context = ComparisonContext(image_size=32)
    >>> result = probe.run(context, context.dataset(seed=0), seed=0)
    >>> 0 < result.test_accuracy <= 1, "class_means" in list_strategies().index
    (True, True)
    >>> _ = unregister_strategy("class_means")
"""

import tlcourse.comparison.strategies.builtin  # noqa: F401 (registers the built-in strategies)
from tlcourse.comparison.strategies.registry import (
    Strategy,
    StrategyResult,
    get_strategy,
    list_strategies,
    register_strategy,
    strategy_color,
    strategy_label,
    strategy_names,
    unregister_strategy,
)  # fmt: skip

__all__ = [
    "STRATEGIES", "Strategy", "StrategyResult", "get_strategy", "list_strategies",
    "register_strategy", "strategy_color", "strategy_label", "strategy_names",
    "unregister_strategy"
]  # fmt: skip

#: The default strategies, in table order (what ``compare()`` runs without ``strategies``).
STRATEGIES = strategy_names(default=True)
