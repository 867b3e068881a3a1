"""The :class:`Dataset` that :func:`~tlcourse.data.load_dataset` returns."""

from __future__ import annotations

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
            the order also depends on TensorFlow's global seed when the dataset is loaded:
            call ``keras.utils.set_random_seed`` before :func:`~tlcourse.data.load_dataset`
            for the same order every time).
        val: the same, in ``files["val"]`` order; None when the split is empty.
        test: the same, in ``files["test"]`` order; None when the split is empty.
    """

    name: str
    folders: tuple[Path, ...]
    class_names: tuple[str, ...]
    image_size: tuple[int, int]
    seed: int
    files: MappingProxyType
    labels: MappingProxyType
    skipped: tuple[tuple[Path, str], ...]
    train: tf.data.Dataset
    val: tf.data.Dataset | None
    test: tf.data.Dataset | None
    _images: MappingProxyType = field(repr=False)

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

    def as_arrays(self, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """Return one split as NumPy arrays, e.g. to compute backbone features once.

        Args:
            split: ``"train"``, ``"val"`` or ``"test"``. Defaults to ``"train"``.

        Returns:
            ``(images, labels)``: float32 ``(n, height, width, 3)`` RGB in 0..255 and int32
            ``(n,)``, in ``files[split]`` order (not shuffled).

        Raises:
            InvalidParameterError: unknown split.

        Example:
            >>> from tlcourse.data import load_dataset
            >>> images, labels = load_dataset("photos", image_size=32).as_arrays("test")
            >>> images.shape, images.dtype.name, labels.shape
            ((46, 32, 32, 3), 'float32', (46,))
        """
        check_choice("split", split, SPLITS, "Dataset.as_arrays")
        return self._images[split].astype(np.float32), self.labels[split].copy()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(self.files[s])}" for s in SPLITS)
        return (
            f"Dataset({self.name!r}, {self.num_classes} classes, {sizes}, "
            f"image_size={self.image_size}, seed={self.seed})"
        )
