"""The frozen part of a model is a fixed function of the image: compute its output once.

Feature extraction caches it at the top of the backbone, fine-tuning at the freeze boundary. Entries
are keyed by the frozen weights, the boundary, the image size and the image, so a lookup never
returns an output of other weights or of another cut. Activations are float32, so training on them
is exactly the whole model's computation."""

from __future__ import annotations

import hashlib
import math
import zlib

import keras
import numpy as np
import psutil
import tensorflow as tf

from tlcourse.errors import TLCourseError
from tlcourse.transfer.boundary.cut import (
    Boundary,
    NoBoundaryError,
    depth_boundary,
    find_boundary,
    lower_model,
)

__all__ = ["ActivationCache", "CacheMemoryError", "format_bytes", "shuffled_batches"]

#: Share of the available memory a cache may take.
MEMORY_SHARE = 0.5
_SPLITS = ("train", "val", "test")


class CacheMemoryError(TLCourseError, MemoryError):
    """Cached activations would not fit in memory; the message says what to do."""


def format_bytes(count: float) -> str:
    """``"19.2 MB"``-style text for a number of bytes."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} B"


def memory_limit() -> tuple[int, int]:
    """``(limit, available)`` in bytes."""
    available = int(psutil.virtual_memory().available)
    return int(available * MEMORY_SHARE), available


def shuffled_batches(arrays: tuple, batch_size: int, seed: int | None) -> tf.data.Dataset:
    """``arrays`` as batches, reshuffled every epoch with ``seed`` (None: in order).

    The order depends on the seed and the length only: images and their activations match."""
    pipeline = tf.data.Dataset.from_tensor_slices(arrays)
    if seed is not None:
        pipeline = pipeline.shuffle(len(arrays[0]), seed=seed)
    return pipeline.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _digest(image) -> bytes:
    # The same image as uint8 or float32 gives the same key.
    return hashlib.blake2b(np.asarray(image, np.float32).tobytes(), digest_size=16).digest()


class ActivationCache:
    """Outputs of a model's frozen part, computed once per image and kept.

    ``backbone`` is the one whose features :meth:`add` and :meth:`split` give; :meth:`activations`
    takes the boundaries of any model.

    Example:
        >>> from tlcourse import load_backbone, load_dataset
        >>> data = load_dataset("photos", image_size=32)
        >>> cache = ActivationCache(load_backbone("efficientnet_lite0", input_shape=(32, 32, 3)))
        >>> cache.add(data)  # the backbone runs once over every image
        >>> features, labels = cache.split(data, "test")
        >>> features.shape, cache.split(data, "test", depth=3)[0].shape
        ((46, 1280), (46, 1, 1, 192))
    """

    def __init__(self, backbone: keras.Model | None = None, batch_size: int = 64):
        self.backbone = backbone
        self.batch_size = batch_size
        self._store: dict[tuple, dict[bytes, np.ndarray]] = {}
        self._depths: dict = {}

    @property
    def nbytes(self) -> int:
        """Bytes held by the cache."""
        return sum(a.nbytes for store in self._store.values() for a in store.values())

    def key(self, boundary: Boundary, image_shape) -> tuple:
        """What one boundary's activations depend on, besides the image itself."""
        checksum = 0
        for weight in boundary.frozen_weights:
            checksum = zlib.crc32(np.ascontiguousarray(weight.numpy()).tobytes(), checksum)
        layers = tuple(repr(layer.get_config()) for layer, _ in boundary.pre)
        return checksum, boundary.index, layers, tuple(int(d) for d in image_shape)

    def activations(self, boundaries: list[Boundary], images, keys=None) -> list[np.ndarray]:
        """One float32 array per boundary of one model, computing the images not seen yet."""
        images = np.asarray(images)
        keys = keys or [self.key(b, images.shape[1:]) for b in boundaries]
        stores = [self._store.setdefault(k, {}) for k in keys]
        digests = [_digest(image) for image in images]
        todo = [i for i, d in enumerate(digests) if any(d not in s for s in stores)]
        if todo:
            needed = len(todo) * sum(4 * math.prod(b.shape) for b in boundaries)
            limit, available = memory_limit()
            if needed + self.nbytes > limit:
                raise CacheMemoryError(
                    f"The activations of {len(todo)} more images would need "
                    f"{format_bytes(needed)} ({format_bytes(self.nbytes)} held already); the "
                    f"limit is {format_bytes(limit)} ({MEMORY_SHARE:.0%} of the "
                    f"{format_bytes(available)} of memory available now). Use fewer or smaller "
                    "images, or a smaller depth (the boundary moves up, where activations are "
                    "smaller), or train the whole model (cache=False)."
                )
            outputs = lower_model(*boundaries).predict(
                images[todo], batch_size=self.batch_size, verbose=0
            )
            outputs = outputs if isinstance(outputs, list) else [outputs]
            for store, output in zip(stores, outputs, strict=True):
                for row, i in enumerate(todo):
                    store.setdefault(digests[i], output[row])
        return [
            np.stack([s[d] for d in digests]) if digests else np.zeros((0, *b.shape), "float32")
            for s, b in zip(stores, boundaries, strict=True)
        ]

    def predict(self, model: keras.Model, images) -> np.ndarray:
        """``model.predict(images)``, the frozen part's output read from the cache."""
        boundary = find_boundary(model)
        activations = self.activations([boundary], images)[0]
        return boundary.upper.predict(activations, batch_size=self.batch_size, verbose=0)

    def boundary(self, depth: int | str = 0) -> Boundary:
        """The backbone's boundary when its last ``depth`` blocks train (0: the features)."""
        if depth not in self._depths:
            self._depths[depth] = depth_boundary(self.backbone, depth)
        return self._depths[depth]

    def add(self, data, depths=(0,)) -> None:
        """Compute the features (and activations at ``depths``) of every image of ``data``."""
        images = np.concatenate([data.as_arrays(s, "uint8")[0] for s in _SPLITS])
        self.activations([self.boundary(d) for d in depths], images)

    def split(self, data, split: str, depth: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(features, labels)`` of one split, in file order (``depth``: boundary activations)."""
        images, labels = data.as_arrays(split, "uint8")
        return self.activations([self.boundary(depth)], images)[0], labels

    def fit_data(self, boundaries: list[Boundary], data) -> tuple[list, tuple, int | None, bool]:
        """Training data of ``fit`` as cached activations, one array per boundary.

        ``data``: arrays or a finite ``tf.data`` pipeline, read twice (both passes must hold the
        same images). Returns ``(activations, targets, batch size, same order both times)``."""
        if isinstance(data, tuple):
            images, targets = _element(data)
            activations = self.activations(boundaries, images)
            return activations, tuple(np.asarray(t) for t in targets), None, False
        if not isinstance(data, tf.data.Dataset):
            raise NoBoundaryError(f"data of type {type(data).__name__} cannot be cached")
        if int(data.cardinality()) < 0:
            raise NoBoundaryError("the pipeline is infinite or of unknown length (repeat()?)")
        first = [_digest(x) for element in data for x in _element(element)[0].numpy()]
        keys, second, parts, targets, batch_size = None, [], [], [], None
        for element in data:
            images, rest = _element(element)
            images = images.numpy()
            batch_size = batch_size or len(images)
            keys = keys or [self.key(b, images.shape[1:]) for b in boundaries]
            second.extend(_digest(x) for x in images)
            parts.append(self.activations(boundaries, images, keys))
            targets.append([np.asarray(t) for t in rest])
        if sorted(first) != sorted(second):
            raise NoBoundaryError(
                "the pipeline gives other images at every pass (random augmentation in "
                "tf.data?): its images cannot be cached"
            )
        activations = [np.concatenate(arrays) for arrays in zip(*parts, strict=True)]
        joined = tuple(np.concatenate(t) for t in zip(*targets, strict=True))
        return activations, joined, batch_size, first == second


def _element(element) -> tuple:
    if not isinstance(element, tuple) or len(element) not in (2, 3):
        raise NoBoundaryError(
            "the data must give (images, labels) or (images, labels, sample_weights) to be cached"
        )
    if isinstance(element[0], dict | list | tuple):
        raise NoBoundaryError("the data has several inputs per example")
    return element[0], element[1:]
