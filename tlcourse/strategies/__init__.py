"""Strategies: how a classifier is trained (from scratch, feature extraction, fine-tuning...).

A registry of records, timm-style (:mod:`~tlcourse.strategies.registry`): the comparison runner
(:func:`tlcourse.compare`), the figures and ``tlcourse compare`` read it, so adding a strategy is
calling :func:`register_strategy`, from a module or a notebook. The built-in ones are in
:mod:`~tlcourse.strategies.builtin`.

**The run contract.** A strategy's ``run(context, data, seed) -> StrategyResult``:

- ``context``, a :class:`tlcourse.comparison.ComparisonContext`, is what the runs of one
  comparison share: ``context.budget``, ``context.backbone`` (registry name),
  ``context.callbacks`` (pass them to every ``fit``: the progress bar counts epochs with them),
  ``context.measure(label, work) -> (value, cost)`` (runs ``work()`` and measures its time,
  energy and CO2), ``context.pretrained_backbone()`` (the backbone, pretrained weights
  restored, to train) and ``context.features(data) -> (cache, cost)`` (the
  :class:`~tlcourse.boundary.ActivationCache` holding the pretrained backbone's features of
  ``data``, and the cost of the passes over the images so far);
- ``data``: the run's :class:`tlcourse.Dataset`;
- ``seed``: call ``keras.utils.set_random_seed(seed)`` just before building what you train.

It returns a :class:`StrategyResult` whose ``cost`` sums everything the run relies on
(``cost + pass_cost``).

Example:
    A nearest-class-mean probe on cached features, registered from a notebook, then run alone:

    >>> import numpy as np
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
    ...                           cost=cost + pass_cost)
    >>> probe = register_strategy(Strategy("class_means", "Class means", "#CC79A7", run=run,
    ...                                    uses_features=True, default=False))
    >>> from tlcourse.comparison import ComparisonContext
    >>> context = ComparisonContext(image_size=32)
    >>> result = probe.run(context, context.dataset(seed=0), seed=0)
    >>> 0 < result.test_accuracy <= 1, "class_means" in list_strategies().index
    (True, True)
    >>> _ = unregister_strategy("class_means")
"""

import tlcourse.strategies.builtin  # noqa: F401 (registers the built-in strategies)
from tlcourse.strategies.context import Cost, StrategyResult
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

#: The default strategies, in table order (what ``compare()`` runs without ``strategies``).
STRATEGIES = strategy_names(default=True)
