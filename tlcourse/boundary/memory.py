"""Memory for cached activations: how much they need, the limit, and computing them in batches.

Boundary activations are kept in memory as float32 (the training computation is then exactly
the whole model's). At 160 px, EfficientNet-Lite0's last three blocks start from 5x5x192
activations: 19 KB per image, 19 MB for a thousand images; six blocks, 10x10x112: 45 KB. A cache
may use at most half the memory available when it is computed (:func:`memory_limit`); one that
would not fit raises :class:`CacheMemoryError`, which says what it would need, what is
available, and what to do. Activations are computed batch by batch into one preallocated array,
so the peak is the cache plus one batch, never a copy of every image as float32.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import psutil

from tlcourse.errors import TLCourseError, check_int

__all__ = [
    "CacheMemoryError",
    "activation_bytes",
    "check_fits",
    "format_bytes",
    "memory_limit",
    "stream_activations",
]

#: Share of the available memory a cache may take.
MEMORY_SHARE = 0.5


class CacheMemoryError(TLCourseError, MemoryError):
    """Cached activations would not fit in memory; the message says what to do."""


def format_bytes(count: float) -> str:
    """``1.5 GB``-style text for a number of bytes.

    Example:
        >>> format_bytes(19_200_000), format_bytes(512)
        ('19.2 MB', '512 B')
    """
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} B"


def activation_bytes(count: int, shape: Iterable[int]) -> int:
    """Bytes of ``count`` float32 activations of ``shape`` each.

    Example:
        >>> activation_bytes(1000, (5, 5, 192))
        19200000
    """
    count = check_int("count", count, "activation_bytes", low=0)
    return count * math.prod(int(d) for d in shape) * 4


def memory_limit() -> tuple[int, int]:
    """``(limit, available)`` in bytes: a cache may take :data:`MEMORY_SHARE` of what is free.

    Example:
        >>> limit, available = memory_limit()
        >>> 0 < limit <= available
        True
    """
    available = int(psutil.virtual_memory().available)
    return int(available * MEMORY_SHARE), available


def check_fits(needed: int, what: str, hint: str) -> None:
    """Raise :class:`CacheMemoryError` when ``needed`` bytes are over :func:`memory_limit`.

    Args:
        needed: bytes the cache would take.
        what: the cache, for the message ("the boundary activations of 5,000 images...").
        hint: what to do instead, one sentence.

    Raises:
        CacheMemoryError: "WHAT would need N; the limit is L (half of the A available). HINT"

    Example:
        >>> check_fits(1000, "a tiny cache", "Nothing to do.")
        >>> check_fits(10**18, "a huge cache", "Use fewer images.")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tlcourse.boundary.memory.CacheMemoryError: A huge cache would need 1000000000.0 GB; ...
    """
    limit, available = memory_limit()
    if needed > limit:
        raise CacheMemoryError(
            f"{what[:1].upper()}{what[1:]} would need {format_bytes(needed)}; the limit is "
            f"{format_bytes(limit)} ({MEMORY_SHARE:.0%} of the {format_bytes(available)} of "
            f"memory available now). {hint}"
        )


def stream_activations(model, batches: Iterable, count: int, what: str, hint: str) -> list:
    """Run ``model`` over ``batches`` of inputs, filling one preallocated array per output.

    Args:
        model: a Keras model (one or several outputs), run in inference mode.
        batches: the inputs, batch after batch (arrays or tensors), ``count`` images in all.
        count: how many images ``batches`` hold.
        what: the cache, for :func:`check_fits`.
        hint: what to do when it does not fit, for :func:`check_fits`.

    Returns:
        One float32 array ``(count, *shape)`` per output of ``model``.

    Raises:
        CacheMemoryError: the outputs would not fit (checked before any computation).

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> batches = [np.ones((4, 3), "float32"), np.ones((2, 3), "float32")]
        >>> [a.shape for a in stream_activations(model, batches, 6, "demo", "")]
        [(6, 2)]
    """
    shapes = [tuple(int(d) for d in shape[1:]) for shape in _output_shapes(model)]
    check_fits(sum(activation_bytes(count, s) for s in shapes), what, hint)
    arrays = [np.empty((count, *s), np.float32) for s in shapes]
    done = 0
    for batch in batches:
        outputs = model.predict_on_batch(batch)
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        size = len(outputs[0])
        for array, output in zip(arrays, outputs, strict=True):
            array[done : done + size] = output
        done += size
    if done != count:
        raise ValueError(f"stream_activations: {done} images came, {count} were announced")
    return arrays


def _output_shapes(model) -> list:
    shape = model.output_shape
    return list(shape) if isinstance(shape, list) else [shape]
