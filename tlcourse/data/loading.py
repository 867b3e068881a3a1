"""Load a dataset: decode once, split per class (stratified, seeded), wrap in ``tf.data``."""

from __future__ import annotations

import functools
import numbers
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import tensorflow as tf

from tlcourse.data.idx import _read_parts
from tlcourse.data.images import (
    RESIZE_MODES,
    SkippedImageWarning,
    _convert_arrays,
    _decode_all,
    _list_class_files,
)
from tlcourse.data.sources import DATASET, _origin_rule, _resolve
from tlcourse.errors import DatasetError, invalid_parameter
from tlcourse.validation import (  # fmt: skip
    BATCH_SIZE,
    FRACTION,
    IMAGE_SIZE,
    SEED,
    Interval,
    Rule,
    StrOptions,
    validate_params,
)

__all__ = ["SPLITS", "Dataset", "load_dataset"]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Images decoded in memory, split per class, with ready ``tf.data`` pipelines.

    Label ``i`` is ``class_names[i]``; ``files`` and ``labels`` map each split to its files and
    int32 labels. ``train`` reshuffles every epoch (seeded; TensorFlow's global seed also counts);
    ``val`` and ``test`` keep file order, None when empty."""

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

    # Made on first use: code that trains on arrays never pays for them.
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
        """The same images and split with new pipelines (``train``'s shuffling starts again)."""
        return replace(self)  # no image is decoded or copied

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def counts(self) -> pd.DataFrame:
        """Images per class and split, with totals."""
        counts = {s: np.bincount(self.labels[s], minlength=self.num_classes) for s in SPLITS}
        table = pd.DataFrame(counts, index=pd.Index(self.class_names, name="class"))
        table["total"] = table.sum(axis=1)
        table.loc["total"] = table.sum(axis=0)
        return table

    @validate_params({"split": [StrOptions(SPLITS)], "dtype": [StrOptions({"float32", "uint8"})]})
    def as_arrays(self, split: str = "train",
                  dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """One split as ``(images, labels)`` arrays in ``files[split]`` order: RGB in 0..255
        (``dtype="uint8"``: a quarter of the memory) and int32 labels.

        Example:
            >>> images, labels = load_dataset("photos", image_size=32).as_arrays("test")
            >>> images.shape, images.dtype.name, labels.shape
            ((46, 32, 32, 3), 'float32', (46,))
        """
        return self._images[split].astype(dtype), self.labels[split].copy()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(self.files[s])}" for s in SPLITS)
        return (f"Dataset({self.name!r}, {self.num_classes} classes, {sizes}, "
                f"image_size={self.image_size}, seed={self.seed})")  # fmt: skip


def _pipeline(images, labels, batch_size, shuffle_seed=None) -> tf.data.Dataset:
    data = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle_seed is not None:
        data = data.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    # Cast per batch: the in-memory copy stays uint8 (a quarter of the float32 size).
    data = data.batch(batch_size).map(
        lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE
    )
    return data.prefetch(tf.data.AUTOTUNE)


_FOLDER = Rule(lambda v: isinstance(v, str | os.PathLike) and Path(v).expanduser().is_dir(),
               "an existing folder with one subfolder per class")  # fmt: skip


def _test_fraction(arguments) -> list:
    below = round(1 - arguments["val_fraction"], 12)
    within = Interval(numbers.Real, 0, below, closed="left")
    rule = f"a float in [0, 1 - val_fraction) = [0, {below:g}), leaving images to train on"
    return [Rule(within.accepts, rule, float)]


@validate_params({"name_or_folder": [DATASET, _FOLDER], "image_size": [IMAGE_SIZE],
                  "val_fraction": [FRACTION], "test_fraction": _test_fraction, "seed": [SEED],
                  "batch_size": [BATCH_SIZE], "train_per_class": [Interval(int, 1, None), None],
                  "resize": [StrOptions(RESIZE_MODES)], "origin": _origin_rule})  # fmt: skip
def load_dataset(name_or_folder: str | os.PathLike = "photos", *,
                 image_size: int | tuple[int, int] = 160, val_fraction: float = 0.2,
                 test_fraction: float = 0.25, seed: int = 0, batch_size: int = 32,
                 train_per_class: int | None = None, resize: str = "crop",
                 origin: str | os.PathLike | None = None) -> Dataset:  # fmt: skip
    """Load a dataset, decode it once, split it per class and wrap it in ``tf.data``.

    ``name_or_folder``: a name from :func:`~tlcourse.data.list_datasets` (downloaded once
    unless shipped; ``origin`` or ``$TLCOURSE_DATASET_MIRROR`` replaces the address) or a folder
    with one subfolder per class. ``resize="crop"`` keeps the centre, ``"pad"`` pads with white;
    an undecodable file is skipped with a :class:`~tlcourse.data.SkippedImageWarning`. Per
    class, the shuffled files give ``n * test_fraction`` (rounded half up) to test, then
    ``n * val_fraction`` to validation, the rest to training, so the test split does not depend
    on ``val_fraction`` and ``train_per_class=5`` is inside ``train_per_class=10``. Batches hold
    float32 RGB in 0..255 (tlcourse backbones preprocess inside the model) and int32 labels.

    Example:
        >>> load_dataset("fashion_mnist", image_size=32).counts().loc["total"].tolist()
        [3850, 1400, 1750, 7000]
        >>> ds = load_dataset("photos", seed=0)
        >>> ds.class_names
        ('birds', 'fish', 'flowers', 'fruit', 'mammals', 'vegetables')
        >>> images, labels = next(iter(ds.train))
        >>> images.shape, images.dtype.name, labels.dtype.name
        (TensorShape([32, 160, 160, 3]), 'float32', 'int32')
    """
    name, folders, spec = _resolve(name_or_folder, origin)
    if spec is not None and spec.format == "idx":
        class_files, images, skipped = _idx_images(folders[0], spec, image_size, resize)
    else:
        class_files = _list_class_files(folders)
        every_file = [p for files in class_files.values() for p in files]
        images, skipped = _decode_all(every_file, image_size, resize)
    for path, reason in skipped:
        # stacklevel 3: the line that called load_dataset, past validate_params' wrapper.
        warnings.warn(f"Skipped {path}: {reason}.", SkippedImageWarning, stacklevel=3)
    bad = {path for path, _ in skipped}
    class_files = {c: [p for p in files if p not in bad] for c, files in class_files.items()}
    for class_name, files in class_files.items():
        if not files:
            raise DatasetError(f"Class {class_name!r} of {name!r} has no usable image: all its "
                               "files were skipped (see the warnings above).")  # fmt: skip

    split_files = _split(class_files, val_fraction, test_fraction, seed, train_per_class)
    class_names = tuple(class_files)
    files, labels, arrays = {}, {}, {}
    for split in SPLITS:
        pairs = split_files[split]
        files[split] = tuple(p for p, _ in pairs)
        labels[split] = np.array([class_names.index(c) for _, c in pairs], dtype=np.int32)
        labels[split].flags.writeable = False
        empty = np.zeros((0, *image_size, 3), np.uint8)
        arrays[split] = np.stack([images[p] for p in files[split]]) if pairs else empty
        arrays[split].flags.writeable = False
    return Dataset(name, tuple(folders), class_names, image_size, seed, MappingProxyType(files),
                   MappingProxyType(labels), tuple(skipped), batch_size,
                   MappingProxyType(arrays))  # fmt: skip


def _idx_images(folder, spec, size, resize):
    arrays, labels, names = _read_parts(folder, spec.parts)
    if labels.size and int(labels.max()) >= len(spec.class_names):
        raise DatasetError(f"The idx labels in {folder} go up to {int(labels.max())}, but "
                           f"{spec.name!r} has {len(spec.class_names)} classes.")  # fmt: skip
    images = dict(zip(names, _convert_arrays(arrays, size, resize), strict=True))
    class_files = {name: [names[i] for i in np.flatnonzero(labels == label)]
                   for label, name in enumerate(spec.class_names)}  # fmt: skip
    return class_files, images, []


def _split(class_files, val_fraction, test_fraction, seed, train_per_class):
    """``{split: [(path, class), ...]}``, stratified and seeded (see load_dataset)."""
    rng = np.random.default_rng(seed)
    splits = {s: [] for s in SPLITS}
    for class_name, files in class_files.items():
        n = len(files)
        # Round half up: Python's round() would send 2.5 and 3.5 images different ways.
        n_test = int(n * test_fraction + 0.5)
        n_val = int(n * val_fraction + 0.5)
        if n - n_test - n_val < 1:
            raise DatasetError(f"Class {class_name!r} has {n} usable image(s): with "
                               f"test_fraction={test_fraction} ({n_test}) and "
                               f"val_fraction={val_fraction} ({n_val}) none is left for training. "
                               "Lower the fractions or add images.")  # fmt: skip
        order = [files[i] for i in rng.permutation(n)]
        parts = {"test": order[:n_test], "val": order[n_test : n_test + n_val],
                 "train": order[n_test + n_val :]}  # fmt: skip
        if train_per_class is not None:
            if train_per_class > len(parts["train"]):
                rule = "at most every class's training images (class "
                rule += f"{class_name!r} has {len(parts['train'])}, of {n})"
                raise invalid_parameter("train_per_class", "load_dataset", rule, train_per_class)
            parts["train"] = parts["train"][:train_per_class]
        for split, paths in parts.items():
            splits[split].extend((p, class_name) for p in sorted(paths))
    return splits
