"""What the runs of one comparison share: the data, the budget, the pretrained backbone, the cache
and the head trained on its features.

It holds two copies of the pretrained backbone: one only ever computes activations (the
:class:`~tlcourse.transfer.boundary.ActivationCache`), the other is handed to strategies that train
it and gets its pretrained weights back at every :meth:`ComparisonContext.pretrained_backbone` call.
The pass over the images computes, at once, the features and the activations at the freeze boundary
of every depth the comparison fine-tunes: fine-tuning then costs no second pass. Fine-tuning's first
stage *is* feature extraction (the same head, features, seed and budget), so
:meth:`ComparisonContext.trained_head` trains it once per split and every run that builds on it is
charged its cost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from tlcourse.comparison.budget import Budget
from tlcourse.data import load_dataset
from tlcourse.measure import EmissionsRecord, combine_records, track
from tlcourse.models.backbones import load_backbone
from tlcourse.models.classifiers import classification_head
from tlcourse.transfer.boundary import ActivationCache, CacheMemoryError, NoBoundaryError

__all__ = ["COMPILE", "ComparisonContext"]

#: What every strategy compiles with (besides its optimizer).
COMPILE = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}


class ComparisonContext:
    """What the runs of one comparison share; :func:`tlcourse.compare` makes one per call.

    Build one yourself to run a single strategy outside ``compare`` (see the example).

    ``data``, ``backbone``, ``image_size``, ``budget`` (None: ``Budget()``), ``country`` and
    ``distribution`` (None: one device) are as :func:`tlcourse.compare` takes them. ``cache``:
    fine-tune on cached activations where that is the same computation; False runs the whole
    model at every step, as a plain Keras loop does. ``depths``: the depths whose boundary
    activations the pass computes with the features (None: the budget's).

    Example:
        >>> from tlcourse.comparison.strategies import get_strategy
        >>> context = ComparisonContext(budget=Budget(epochs=1), image_size=32)
        >>> result = get_strategy("scratch").run(context, context.dataset(seed=0), seed=0)
        >>> 0 <= result.test_accuracy <= 1, result.cost.wall_seconds > 0
        (True, True)
    """

    def __init__(self, data="photos", backbone: str = "efficientnet_lite0",
                 image_size: int | tuple[int, int] = 160, budget: Budget | None = None,
                 country: str | None = None, distribution: tf.distribute.Strategy | None = None,
                 cache: bool = True, depths=None):  # fmt: skip
        self.data, self.backbone, self.country, self.cache = data, backbone, country, cache
        self.image_size = (image_size, image_size) if isinstance(image_size, int) else image_size
        self.budget = budget or Budget()
        self.distribution = distribution or tf.distribute.get_strategy()
        self.depths = (self.budget.depth,) if depths is None else tuple(depths)
        self.callbacks = ()
        self._training_backbone = None
        self._pretrained_weights = None
        self._cache = None
        self._passes: list[EmissionsRecord] = []
        self._last_dataset = None
        self._head = None

    def dataset(self, seed: int = 0, train_per_class: int | None = None):
        """The split of ``seed`` (and training-set size), batched by the budget.

        Seeds Keras and TensorFlow with ``seed`` first: ``tf.data``'s seeded shuffle also depends on
        TensorFlow's global seed when the pipeline is made."""
        keras.utils.set_random_seed(seed)
        # The runs of one split follow each other: the last split is kept, and each run gets
        # a copy with its own pipelines (nothing decoded again).
        key = (seed, train_per_class, self.budget.batch_size)
        if self._last_dataset is None or self._last_dataset[0] != key:
            data = load_dataset(self.data, image_size=self.image_size, seed=seed,
                                batch_size=self.budget.batch_size,
                                train_per_class=train_per_class)  # fmt: skip
            self._last_dataset = (key, data)
        return self._last_dataset[1].copy()

    def measure(self, label: str, work: Callable[[], Any]) -> tuple[Any, EmissionsRecord]:
        """Run ``work()`` in the distribution scope, tracked; return ``(value, its record)``."""
        with self.distribution.scope(), track(label, country=self.country) as record:
            value = work()
        return value, record

    def _load_backbone(self) -> keras.Model:
        # A second copy takes the pretrained weights from memory: they are not read again.
        weights = "imagenet" if self._pretrained_weights is None else None
        with self.distribution.scope():
            backbone = load_backbone(self.backbone, (*self.image_size, 3), weights=weights)
        if weights:
            self._pretrained_weights = backbone.get_weights()
        else:
            backbone.set_weights(self._pretrained_weights)
        return backbone

    def pretrained_backbone(self) -> keras.Model:
        """The training copy of the backbone, its pretrained weights restored."""
        if self._training_backbone is None:
            self._training_backbone = self._load_backbone()
        self._training_backbone.set_weights(self._pretrained_weights)
        return self._training_backbone

    def features(self, data) -> tuple[ActivationCache, EmissionsRecord]:
        """The cache, holding the features (and boundary activations) of ``data``'s images,
        and the cost of every pass over the images so far."""
        if self._cache is None:
            self._cache = ActivationCache(self._load_backbone())
        depths = [0]
        for depth in self.depths if self.cache else ():
            try:
                self._cache.boundary(depth)
                depths.append(depth)
            except NoBoundaryError:
                pass  # that depth trains in the loop; fine_tune says why
        with self.distribution.scope(), track("activation pass", country=self.country) as record:
            try:
                self._cache.add(data, depths)
            except CacheMemoryError:  # the features alone, and fine-tuning says why
                self._cache.add(data)
        self._passes.append(record)
        return self._cache, combine_records(self._passes)

    def trained_head(self, data, seed: int) -> tuple[keras.Model, dict, Any, EmissionsRecord]:
        """The head trained on the frozen backbone's features of ``data``'s split (feature
        extraction), its history, its test probabilities and its cost, trained once per split
        and budget: fine-tuning continues from a copy of it."""
        budget = self.budget
        key = (seed, tuple(data.files["train"]), budget.epochs, budget.head_lr, budget.batch_size)
        if self._head is not None and self._head[0] == key:
            return self._head[1]
        cache, _ = self.features(data)

        def work():
            keras.utils.set_random_seed(seed)
            (x, y), (val_x, val_y), (test_x, _) = (cache.split(data, s)
                                                   for s in ("train", "val", "test"))  # fmt: skip
            head = classification_head(x.shape[-1], data.num_classes)
            head.compile(optimizer=keras.optimizers.Adam(budget.head_lr), **COMPILE)
            history = head.fit(x, y, batch_size=budget.batch_size, epochs=budget.epochs,
                               validation_data=(val_x, val_y) if len(val_y) else None,
                               callbacks=list(self.callbacks), verbose=0)  # fmt: skip
            return head, history.history, head.predict(test_x, verbose=0)

        (head, history, probabilities), record = self.measure("feature_extraction", work)
        self._head = (key, (head, history, probabilities, record))
        return self._head[1]
