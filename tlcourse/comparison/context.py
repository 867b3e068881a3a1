"""The :class:`~tlcourse.strategies.context.RunContext` of one comparison.

It holds two copies of the pretrained backbone: one only ever computes features (the
:class:`~tlcourse.comparison.FeatureCache`), the other is handed to strategies that train it and
gets its pretrained weights back at every :meth:`ComparisonContext.pretrained_backbone` call.
So features always come from the pristine pretrained weights, whatever fine-tuning did before.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import keras
import tensorflow as tf

from tlcourse.backbones import list_backbones, load_backbone
from tlcourse.comparison.budget import Budget
from tlcourse.comparison.features import FeatureCache
from tlcourse.data import load_dataset
from tlcourse.errors import check_choice, check_image_size, check_int, invalid_parameter
from tlcourse.strategies.context import Cost, RunContext
from tlcourse.tracking import track

__all__ = ["ComparisonContext"]


class ComparisonContext(RunContext):
    """What the runs of one comparison share; :func:`tlcourse.compare` makes one per call.

    Build one yourself to run a single strategy outside ``compare`` (see the example).

    Args:
        data: a dataset name or a folder of class subfolders (as :func:`tlcourse.load_dataset`
            takes it). Defaults to ``"photos"``.
        backbone: registry name of the pretrained backbone. Defaults to
            ``"efficientnet_lite0"``.
        image_size: an int or ``(height, width)``. Defaults to 160.
        budget: the :class:`~tlcourse.comparison.Budget`; None for ``Budget()``.
        country: ISO-3 code of the grid for the CO2 estimate; None for the world average.
        distribution: a ``tf.distribute.Strategy``; None for the default (one device).

    Raises:
        InvalidParameterError: a bad ``backbone``, ``image_size``, ``budget`` or
            ``distribution``.

    Example:
        >>> from tlcourse.strategies import get_strategy
        >>> context = ComparisonContext(budget=Budget(epochs=1), image_size=32)
        >>> result = get_strategy("scratch").run(context, context.dataset(seed=0), seed=0)
        >>> 0 <= result.test_accuracy <= 1, result.cost.wall_seconds > 0
        (True, True)
    """

    def __init__(
        self,
        data="photos",
        backbone: str = "efficientnet_lite0",
        image_size: int | tuple[int, int] = 160,
        budget: Budget | None = None,
        country: str | None = None,
        distribution: tf.distribute.Strategy | None = None,
    ):
        func = "ComparisonContext"
        self.data = data
        self.backbone = check_choice("backbone", backbone, list_backbones().index, func)
        self.image_size = check_image_size("image_size", image_size, func)
        if budget is not None and not isinstance(budget, Budget):
            raise invalid_parameter("budget", func, "a tlcourse.Budget or None", budget)
        self.budget = budget or Budget()
        self.country = country
        if distribution is not None and not isinstance(distribution, tf.distribute.Strategy):
            raise invalid_parameter(
                "distribution", func, "a tf.distribute.Strategy or None", distribution
            )
        self.distribution = distribution or tf.distribute.get_strategy()
        self._training_backbone: keras.Model | None = None
        self._pretrained_weights: list | None = None
        self._features: FeatureCache | None = None
        self._feature_cost = Cost()
        self._shared: dict[tuple, Any] = {}

    def dataset(self, seed: int = 0, train_per_class: int | None = None):
        """Load the split of ``seed`` (and training-set size), batched by the budget.

        Args:
            seed: seed of the split and of the shuffling. Defaults to 0.
            train_per_class: training images per class; None for all. Defaults to None.

        Returns:
            A :class:`~tlcourse.data.Dataset`.
        """
        seed = check_int("seed", seed, "ComparisonContext.dataset", low=0)
        return load_dataset(
            self.data,
            image_size=self.image_size,
            seed=seed,
            batch_size=self.budget.batch_size,
            train_per_class=train_per_class,
        )

    def _load_backbone(self) -> keras.Model:
        with self.distribution.scope():
            return load_backbone(self.backbone, input_shape=(*self.image_size, 3))

    def measure(self, label: str, work: Callable[[], Any]) -> tuple[Any, Cost]:
        """Run ``work()`` in the distribution scope, tracked; return ``(value, cost)``."""
        with self.distribution.scope():
            return self._measured(label, work)

    def _measured(self, label: str, work: Callable[[], Any]) -> tuple[Any, Cost]:
        with track(label, country=self.country) as record:
            value = work()
        return value, Cost.of(record)

    def pretrained_backbone(self) -> keras.Model:
        """The training copy of the backbone, its pretrained weights restored (see the module)."""
        if self._training_backbone is None:
            self._training_backbone = self._load_backbone()
            self._pretrained_weights = self._training_backbone.get_weights()
        # Fine-tuning changes the backbone in place: every run starts from the pretrained weights.
        self._training_backbone.set_weights(self._pretrained_weights)
        return self._training_backbone

    def features(self, data) -> tuple[FeatureCache, Cost]:
        """The cache, holding ``data``'s images, and the cost of every feature pass so far."""
        if self._features is None:
            self._features = FeatureCache(self._load_backbone())
        if self._features.missing(data):
            _, cost = self._measured("feature pass", lambda: self._features.add(data))
            self._feature_cost = self._feature_cost + cost
        return self._features, self._feature_cost

    def shared(self, name: Hashable, data, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per ``name`` and split of ``data`` (files of every split)."""
        key = (
            name,
            data.name,
            data.seed,
            *(tuple(data.files[s]) for s in ("train", "val", "test")),
        )
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]
