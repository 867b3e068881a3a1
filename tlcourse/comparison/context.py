"""The :class:`~tlcourse.strategies.context.RunContext` of one comparison.

It holds two copies of the pretrained backbone: one only ever computes features and boundary
activations (the :class:`~tlcourse.comparison.FeatureCache`), the other is handed to strategies
that train it and gets its pretrained weights back at every
:meth:`ComparisonContext.pretrained_backbone` call. So everything cached comes from the pristine
pretrained weights, whatever fine-tuning did before.

The pass over the images computes, at once, the pooled features and the activations at the
freeze boundary of every depth the comparison fine-tunes (``boundary_depths``): fine-tuning then
costs no second pass. Where those activations would not fit in memory, the pass keeps the
features only and fine-tuning learns why when it asks (:class:`CacheMemoryError`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import keras
import tensorflow as tf

from tlcourse.backbones import list_backbones, load_backbone
from tlcourse.boundary import NoBoundaryError, depth_boundary
from tlcourse.boundary.memory import CacheMemoryError
from tlcourse.comparison.budget import Budget
from tlcourse.comparison.features import FeatureCache
from tlcourse.data import load_dataset
from tlcourse.errors import (
    check_bool,
    check_choice,
    check_image_size,
    check_int,
    check_int_list,
    invalid_parameter,
)
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
        boundary_cache: fine-tune on cached boundary activations where that is the same
            computation; False trains the whole model at every step. Defaults to True.
        boundary_depths: depths whose boundary activations the pass computes with the
            features. Defaults to None (the budget's depth).

    Raises:
        InvalidParameterError: a bad ``backbone``, ``image_size``, ``budget``,
            ``distribution``, ``boundary_cache`` or ``boundary_depths``.

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
        boundary_cache: bool = True,
        boundary_depths=None,
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
        self.boundary_cache = check_bool("boundary_cache", boundary_cache, func)
        if boundary_depths is None:
            boundary_depths = [self.budget.depth]
        depths = ()
        if not (isinstance(boundary_depths, list | tuple) and not boundary_depths):
            depths = check_int_list("boundary_depths", boundary_depths, func, low=0, extra=["all"])
        self.boundary_depths = tuple(d for d in depths if d != "all")  # "all": nothing frozen
        self.callbacks = ()
        self._memory_errors: dict[str, str] = {}
        self._training_backbone: keras.Model | None = None
        self._pretrained_weights: list | None = None
        self._features: FeatureCache | None = None
        self._feature_cost = Cost()
        self._shared: dict[tuple, Any] = {}
        self._last_dataset: tuple | None = None

    def dataset(self, seed: int = 0, train_per_class: int | None = None):
        """Load the split of ``seed`` (and training-set size), batched by the budget.

        Seeds Keras and TensorFlow with ``seed`` first (``keras.utils.set_random_seed``):
        ``tf.data``'s seeded shuffle also depends on TensorFlow's global seed when the pipeline
        is made, so without it a run of seed 1 after seed 0 trained on other batches than seed
        1 alone (a test checks they are now the same).

        Args:
            seed: seed of the split and of the shuffling. Defaults to 0.
            train_per_class: training images per class; None for all. Defaults to None.

        Returns:
            A :class:`~tlcourse.data.Dataset`.
        """
        seed = check_int("seed", seed, "ComparisonContext.dataset", low=0)
        keras.utils.set_random_seed(seed)
        # The runs of one split follow each other: the last split is kept (one, for memory)
        # and each run gets a copy with its own pipelines, nothing decoded again.
        key = (seed, train_per_class, self.budget.batch_size)
        if self._last_dataset is None or self._last_dataset[0] != key:
            data = load_dataset(
                self.data,
                image_size=self.image_size,
                seed=seed,
                batch_size=self.budget.batch_size,
                train_per_class=train_per_class,
            )
            self._last_dataset = (key, data)
        return self._last_dataset[1].copy()

    def _load_backbone(self) -> keras.Model:
        with self.distribution.scope():
            if self._pretrained_weights is None:
                return load_backbone(self.backbone, input_shape=(*self.image_size, 3))
            # A second copy: the pretrained weights are in memory already, not read again.
            backbone = load_backbone(self.backbone, input_shape=(*self.image_size, 3),
                                     weights=None)  # fmt: skip
            backbone.set_weights(self._pretrained_weights)
            return backbone

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

    def features(self, data, layer: str | None = None) -> tuple[FeatureCache, Cost]:
        """The cache, holding ``data``'s images (and ``layer``'s activations), and the cost of
        every pass so far. Raises :class:`CacheMemoryError` when ``layer``'s would not fit."""
        if self._features is None:
            self._features = FeatureCache(self._load_backbone())
            if self.boundary_cache:
                for name in self._boundaries(self._features.backbone):
                    self._features.add_layer(name)
        cache = self._features
        if layer is not None:
            if layer in self._memory_errors:
                raise CacheMemoryError(self._memory_errors[layer])
            cache.add_layer(layer)
        if any(cache.missing(data, key) for key in (None, *cache.layers)):
            try:
                self._pass(data)
            except CacheMemoryError as error:
                # Keep the features (they still fit) and tell fine-tuning why it has no cache.
                dropped = [name for name in cache.layers if cache.missing(data, name)]
                for name in dropped:
                    self._memory_errors[name] = str(error)
                    cache.drop_layer(name)
                self._pass(data)
                if layer in dropped:
                    raise
        return cache, self._feature_cost

    def _pass(self, data) -> None:
        _, cost = self._measured("feature pass", lambda: self._features.add(data))
        self._feature_cost = self._feature_cost + cost

    def _boundaries(self, backbone) -> list[str]:
        names = []
        for depth in self.boundary_depths:
            try:
                name = depth_boundary(backbone, depth)
            except (NoBoundaryError, ValueError):
                continue  # that depth trains in the loop; the strategy says why
            if name is not None and name not in names:
                names.append(name)
        return names

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
