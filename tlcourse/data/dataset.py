"""The :class:`Dataset` that :func:`~tlcourse.data.load_dataset` returns."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import tensorflow as tf

from tlcourse.errors import check_choice

__all__ = ["SPLITS", "Dataset"]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Images decoded in memory, split per class, with ready ``tf.data`` pipelines.

    Attributes:
        name: the dataset name, or the folder it was read from.
        folders: the folders whose class subfolders were read.
        class_names: sorted class (subfolder) names (a named idx dataset such as
            ``"fashion_mnist"``: its own label order); label ``i`` is ``class_names[i]``.
        image_size: ``(height, width)`` in pixels of every image (the Keras convention, as
            ``keras.utils.image_dataset_from_directory`` takes it).
        seed: the seed of the split and of the training shuffle.
        files: ``{"train" | "val" | "test": tuple of Path}``, sorted by class then path (for
            an idx dataset, each image's official set and index, e.g. ``Path("test/00042")``).
        labels: ``{"train" | "val" | "test": int32 array}``, aligned with ``files``.
        skipped: ``(path, reason)`` for every file that could not be decoded.
        train: batches of ``(float32 images (b, height, width, 3) in 0..255 RGB, int32
            labels)``, reshuffled every epoch (seeded; as with every seeded ``tf.data`` shuffle,
            the order also depends on TensorFlow's global seed when the pipeline is made, on
            first use: call ``keras.utils.set_random_seed`` before for the same order every
            time).
        val: the same, in ``files["val"]`` order; None when the split is empty.
        test: the same, in ``files["test"]`` order; None when the split is empty.
        batch_size: images per batch of ``train``, ``val`` and ``test``.
    """

    name: str
    folders: tuple[Path, ...]
    class_names: tuple[str, ...]
    image_size: tuple[int, int]
    seed: int
    files: MappingProxyType
    labels: MappingProxyType
    skipped: tuple[tuple[Path, str], ...]
    batch_size: int
    _images: MappingProxyType = field(repr=False)

    # The pipelines are made on first use: a comparison's runs train on batches of their own
    # (boundary.batches), and making three pipelines it never reads cost 0.1 s per run.
    @functools.cached_property
    def train(self) -> tf.data.Dataset:
        return _pipeline(self._images["train"], self.labels["train"], self.batch_size, self.seed)

    @functools.cached_property
    def val(self) -> tf.data.Dataset | None:
        return self._in_order("val")

    @functools.cached_property
    def test(self) -> tf.data.Dataset | None:
        return self._in_order("test")

    def _in_order(self, split: str) -> tf.data.Dataset | None:
        if not len(self.labels[split]):
            return None
        return _pipeline(self._images[split], self.labels[split], self.batch_size)

    def copy(self) -> Dataset:
        """The same images and split, with new pipelines (``train``'s reshuffling starts again).

        Cheap (no image is decoded or copied): what :class:`~tlcourse.comparison.ComparisonContext`
        gives each run of a split, so that no run sees where another left ``train``'s shuffle.

        Example:
            >>> from tlcourse.data import load_dataset
            >>> data = load_dataset("photos", image_size=32)
            >>> copy = data.copy()
            >>> copy.train is data.train, copy.files == data.files
            (False, True)
        """
        return dataclasses.replace(self)  # the pipelines are made again on first use

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def counts(self) -> pd.DataFrame:
        """Return images per class and split.

        Returns:
            DataFrame indexed by class name with columns ``train``, ``val``, ``test`` and
            ``total``, plus a ``total`` row.

        Example:
            >>> from tlcourse.data import load_dataset
            >>> load_dataset("photos", image_size=32).counts().loc["total"].tolist()
            [98, 36, 46, 180]
        """
        table = pd.DataFrame(
            {s: np.bincount(self.labels[s], minlength=self.num_classes) for s in SPLITS},
            index=pd.Index(self.class_names, name="class"),
        )
        table["total"] = table.sum(axis=1)
        table.loc["total"] = table.sum(axis=0)
        return table

    def as_arrays(
        self, split: str = "train", dtype: str = "float32"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return one split as NumPy arrays, e.g. to compute backbone features once.

        Args:
            split: ``"train"``, ``"val"`` or ``"test"``. Defaults to ``"train"``.
            dtype: ``"float32"``, or ``"uint8"``: the images as they are kept in memory (a
                quarter of the size; every tlcourse network rescales its input itself, and
                batches of uint8 train the small CNN about 1.7x faster per epoch than the
                float32 batches of :attr:`train`, whose cast to float is a step of its own).
                Defaults to ``"float32"``.

        Returns:
            ``(images, labels)``: ``(n, height, width, 3)`` RGB in 0..255 of ``dtype``, and
            int32 ``(n,)``, in ``files[split]`` order (not shuffled). Copies: changing them
            changes nothing in the dataset.

        Raises:
            InvalidParameterError: unknown split or dtype.

        Example:
            >>> from tlcourse.data import load_dataset
            >>> images, labels = load_dataset("photos", image_size=32).as_arrays("test")
            >>> images.shape, images.dtype.name, labels.shape
            ((46, 32, 32, 3), 'float32', (46,))
            >>> load_dataset("photos", image_size=32).as_arrays("test", "uint8")[0].dtype.name
            'uint8'
        """
        check_choice("split", split, SPLITS, "Dataset.as_arrays")
        check_choice("dtype", dtype, ("float32", "uint8"), "Dataset.as_arrays")
        return self._images[split].astype(dtype), self.labels[split].copy()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(self.files[s])}" for s in SPLITS)
        return (
            f"Dataset({self.name!r}, {self.num_classes} classes, {sizes}, "
            f"image_size={self.image_size}, seed={self.seed})"
        )


def _pipeline(images, labels, batch_size, shuffle_seed=None) -> tf.data.Dataset:
    data = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle_seed is not None:
        data = data.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    # Cast per batch: the in-memory copy stays uint8 (a quarter of the float32 size).
    data = data.batch(batch_size).map(
        lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE
    )
    return data.prefetch(tf.data.AUTOTUNE)
