"""In-memory arrays as ``tf.data`` batches, in an order that depends on a seed only."""

from __future__ import annotations

import tensorflow as tf

__all__ = ["shuffled_batches"]


def shuffled_batches(arrays: tuple, batch_size: int, seed: int | None) -> tf.data.Dataset:
    """``arrays`` (same length) as batches, reshuffled every epoch with ``seed`` (None: in order).

    The order of each epoch depends on the seed, the global seed and the length only, never on
    the values: images and their boundary activations batched this way come in the same order.

    Example:
        >>> import numpy as np
        >>> x, y = np.arange(6, dtype="float32"), np.arange(6)
        >>> [b[1].numpy().tolist() for b in shuffled_batches((x, y), 4, None)]
        [[0, 1, 2, 3], [4, 5]]
    """
    pipeline = tf.data.Dataset.from_tensor_slices(arrays)
    if seed is not None:
        pipeline = pipeline.shuffle(len(arrays[0]), seed=seed)
    return pipeline.batch(batch_size).prefetch(tf.data.AUTOTUNE)
