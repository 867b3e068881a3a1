"""Training data as boundary activations: one pass of the frozen part over the images.

:func:`tlcourse.fine_tune` trains its head stage on the backbone's output and its fine-tuning
stage on the activations at the freeze boundary; :func:`cache_activations` computes both in
one pass over the training (and validation) data, which is then never run through the frozen
part again. What it accepts:

- ``(images, labels)`` or ``(images, labels, sample_weights)`` arrays: the activations are
  batched as ``fit`` batches arrays (32 per batch, reshuffled every epoch);
- a finite ``tf.data.Dataset`` of such tuples: it is read twice, and the two passes must hold
  the same images (otherwise the pipeline augments at random and cannot be cached). When the
  two passes come in the same order the activations keep it; when the pipeline reshuffles, they
  are reshuffled every epoch too (with a seed from ``keras.utils.set_random_seed``). Batches
  keep the pipeline's batch size.

Anything else (a ``PyDataset``, an infinite pipeline, dict inputs) raises
:class:`~tlcourse.boundary.cut.NoBoundaryError` saying why, and the caller trains the whole
model instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tlcourse.boundary.batches import shuffled_batches
from tlcourse.boundary.cut import Boundary, NoBoundaryError, lower_model
from tlcourse.boundary.memory import activation_bytes, check_fits, format_bytes

__all__ = ["CachedActivations", "cache_activations", "callbacks_reason"]

#: Callbacks that only read logs or the optimizer, or set weights the cut model shares: they
#: work the same on the model above the boundary. Others may save or inspect the model they are
#: given, which would be the cut one.
SAFE_CALLBACKS = (
    keras.callbacks.EarlyStopping,
    keras.callbacks.ReduceLROnPlateau,
    keras.callbacks.LearningRateScheduler,
    keras.callbacks.TerminateOnNaN,
    keras.callbacks.CSVLogger,
    keras.callbacks.History,
    keras.callbacks.ProgbarLogger,
)

_HINT = (
    "Use fewer or smaller images, or a smaller depth (the boundary moves up, where activations "
    "are smaller), or pass cache=False to train the whole model at every step."
)


def callbacks_reason(callbacks) -> str | None:
    """Why these callbacks need the whole model in the loop, or None.

    Example:
        >>> callbacks_reason([keras.callbacks.EarlyStopping()]) is None
        True
        >>> callbacks_reason([keras.callbacks.ModelCheckpoint("m.keras")])[:30]
        'callback ModelCheckpoint may s'
    """
    for callback in callbacks or ():
        if not isinstance(callback, SAFE_CALLBACKS):
            return (
                f"callback {type(callback).__name__} may save or inspect the model it is given, "
                "which would be the part above the boundary"
            )
    return None


@dataclass
class CachedActivations:
    """Activations of every boundary for the training (and validation) data, and labels.

    Attributes:
        train: one array per boundary, ``(n, *shape)``.
        train_targets: ``(labels,)`` or ``(labels, sample_weights)``.
        val: one array per boundary, or None without validation data.
        val_targets: as ``train_targets``, or None.
        batch_size: examples per batch.
        seed: reshuffle the training batches every epoch with this seed; None keeps the order.
    """

    train: list
    train_targets: tuple
    val: list | None
    val_targets: tuple | None
    batch_size: int
    seed: int | None

    @property
    def nbytes(self) -> int:
        """Bytes held by the activations."""
        return sum(a.nbytes for a in [*self.train, *(self.val or [])])

    def training(self, index: int) -> tf.data.Dataset:
        """Training batches of boundary ``index`` (in the order of :func:`cache_activations`)."""
        return shuffled_batches(
            (self.train[index], *self.train_targets), self.batch_size, self.seed
        )

    def validation(self, index: int) -> tf.data.Dataset | None:
        """Validation batches of boundary ``index``, in order; None without validation data."""
        if self.val is None:
            return None
        return shuffled_batches((self.val[index], *self.val_targets), self.batch_size, None)


def _digest(image) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def _split_element(element, what: str):
    if not isinstance(element, tuple) or len(element) not in (2, 3):
        raise NoBoundaryError(
            f"the {what} data must give (images, labels) or (images, labels, sample_weights) "
            "tuples to be cached"
        )
    if isinstance(element[0], dict | list | tuple):
        raise NoBoundaryError(f"the {what} data has several inputs per example")
    return element[0], element[1:]


def _from_arrays(lower, data: tuple, what: str) -> tuple[list, tuple, int]:
    images, targets = _split_element(tuple(data), what)
    images = np.asarray(images)
    count = len(images)
    arrays = _preallocate(lower, count, what)
    done = 0
    for start in range(0, count, 64):
        batch = images[start : start + 64].astype(np.float32, copy=False)
        done = _fill(arrays, lower.predict_on_batch(batch), done)
    return arrays, tuple(np.asarray(t) for t in targets), 32


def _preallocate(lower, count: int, what: str) -> list:
    shapes = lower.output_shape if isinstance(lower.output_shape, list) else [lower.output_shape]
    shapes = [tuple(int(d) for d in s[1:]) for s in shapes]
    check_fits(
        sum(activation_bytes(count, s) for s in shapes),
        f"the boundary activations of the {count} {what} images "
        f"({format_bytes(sum(activation_bytes(1, s) for s in shapes))} each)",
        _HINT,
    )
    return [np.empty((count, *s), np.float32) for s in shapes]


def _fill(arrays: list, outputs, done: int) -> int:
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    size = len(outputs[0])
    for array, output in zip(arrays, outputs, strict=True):
        array[done : done + size] = output
    return done + size


def _from_pipeline(lower, data: tf.data.Dataset, what: str):
    """``(arrays, targets, batch size, same order)`` from two passes over a pipeline."""
    cardinality = int(data.cardinality())
    if cardinality < 0:
        raise NoBoundaryError(
            f"the {what} pipeline is infinite or of unknown length (repeat()?): it cannot be "
            "read once"
        )
    first, sizes = [], []
    for element in data:  # pass 1: which images, in which order, in which batches
        images, _ = _split_element(element, what)
        first.extend(_digest(image) for image in images.numpy())
        sizes.append(len(images))
    arrays = _preallocate(lower, len(first), what)
    second, targets, done = [], [], 0
    for element in data:  # pass 2: the same images again, through the frozen part
        images, rest = _split_element(element, what)
        second.extend(_digest(image) for image in images.numpy())
        if len(second) > len(first):
            break
        done = _fill(arrays, lower.predict_on_batch(images), done)
        targets.append([np.asarray(t) for t in rest])
    if sorted(first) != sorted(second):
        raise NoBoundaryError(
            f"the {what} pipeline gives other images at every pass (random augmentation in "
            "tf.data?): its images cannot be cached"
        )
    joined = tuple(np.concatenate(parts) for parts in zip(*targets, strict=True))
    return arrays, joined, sizes[0] if sizes else 32, first == second


def cache_activations(boundaries: list[Boundary], train, val=None) -> CachedActivations:
    """Compute the activations of every boundary for ``train`` and ``val``, in one pass each.

    Args:
        boundaries: boundaries of one model (:func:`~tlcourse.boundary.find_boundary`).
        train: ``(images, labels[, sample_weights])`` arrays or a ``tf.data.Dataset`` of such
            tuples (see the module).
        val: validation data of the same kinds, or None. Defaults to None.

    Returns:
        The :class:`CachedActivations`.

    Raises:
        NoBoundaryError: data that cannot be cached (the message says why).
        CacheMemoryError: the activations would not fit in memory.

    Example:
        >>> from tlcourse import set_trainable, transfer_classifier
        >>> from tlcourse.boundary import find_boundary
        >>> model = transfer_classifier("efficientnet_lite0", 2, image_size=32, augment=False)
        >>> _ = set_trainable(model, 1)
        >>> images, labels = np.zeros((5, 32, 32, 3), "float32"), np.array([0, 1, 0, 1, 0])
        >>> cached = cache_activations([find_boundary(model)], (images, labels))
        >>> cached.train[0].shape, cached.batch_size
        ((5, 1, 1, 320), 32)
    """
    lower = lower_model(*boundaries)
    seed = None
    if isinstance(train, tf.data.Dataset):
        arrays, targets, batch_size, same_order = _from_pipeline(lower, train, "training")
        if not same_order:
            seed = int(np.random.randint(2**31 - 1))  # seeded by keras.utils.set_random_seed
    elif isinstance(train, tuple):
        arrays, targets, batch_size = _from_arrays(lower, train, "training")
        seed = int(np.random.randint(2**31 - 1))  # fit shuffles arrays every epoch
    else:
        raise NoBoundaryError(
            f"training data of type {type(train).__name__} cannot be cached (arrays or a "
            "tf.data.Dataset can)"
        )
    val_arrays = val_targets = None
    if isinstance(val, tf.data.Dataset):
        val_arrays, val_targets, _, _ = _from_pipeline(lower, val, "validation")
    elif isinstance(val, tuple):
        val_arrays, val_targets, _ = _from_arrays(lower, val, "validation")
    elif val is not None:
        raise NoBoundaryError(f"validation data of type {type(val).__name__} cannot be cached")
    return CachedActivations(arrays, targets, val_arrays, val_targets, batch_size, seed)
