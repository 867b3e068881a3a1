"""Load a dataset: decode once, split per class (stratified, seeded), wrap in ``tf.data``.

Augmentation is deliberately not done here: augmentation layers (``keras.layers.RandomFlip``...)
belong inside the model, where they run only during training and travel with the saved model.
"""

from __future__ import annotations

import os
import warnings
from types import MappingProxyType

import numpy as np

from tlcourse.data.dataset import SPLITS, Dataset
from tlcourse.data.idx import _read_parts
from tlcourse.data.images import (
    RESIZE_MODES,
    SkippedImageWarning,
    _convert_arrays,
    _decode_all,
    _list_class_files,
)
from tlcourse.data.sources import _resolve
from tlcourse.errors import (
    DatasetError,
    check_choice,
    check_image_size,
    check_int,
    check_real,
    invalid_parameter,
)

__all__ = ["load_dataset"]


def load_dataset(
    name_or_folder: str | os.PathLike = "photos",
    *,
    image_size: int | tuple[int, int] = 160,
    val_fraction: float = 0.2,
    test_fraction: float = 0.25,
    seed: int = 0,
    batch_size: int = 32,
    train_per_class: int | None = None,
    resize: str = "crop",
    origin: str | None = None,
) -> Dataset:
    """Load a folder of class subfolders, split it per class and wrap it in ``tf.data``.

    **Where the images come from.** A name from :func:`~tlcourse.data.list_datasets`:
    ``"photos"`` or ``"fashion_mnist"`` (shipped, work offline), ``"flowers"``,
    ``"cats_vs_dogs"`` or ``"fashion_mnist_full"`` (downloaded on first use with
    ``keras.utils.get_file`` into ``tlcourse.paths.cache_dir() / "datasets"``, extracted, and
    reused afterwards). Anything else is a folder with one subfolder per class;
    a known name wins over a same-named folder in the working directory, so write
    ``"./photos"`` or pass a ``Path`` for that one. Class subfolders are read recursively;
    hidden files and folders and files whose extension is not in ``IMAGE_EXTENSIONS`` (.jpg
    .jpeg .png .bmp .gif .webp .tif .tiff, any case) are ignored; animated files give their
    first frame.

    **Decoding.** Every image is decoded once, eagerly, with PIL: EXIF rotation applied;
    greyscale, palette, CMYK and 16-bit images converted to 8-bit RGB; transparency composited
    onto white; large JPEGs decoded at reduced scale. Files that cannot be used (empty,
    truncated, not an image, over PIL's decompression-bomb limit) are left out with a
    :class:`~tlcourse.data.SkippedImageWarning` naming the file and the reason, and listed in
    ``Dataset.skipped``. Nothing else is printed (a download shows Keras' progress bar).

    **Resizing.** ``image_size`` is ``(height, width)`` as in every Keras image API, or one int
    for a square. ``resize="crop"`` scales the image until it covers ``image_size`` and keeps
    the centre (the usual ImageNet evaluation policy; the edges of elongated photos are lost).
    ``resize="pad"`` scales it until it fits inside and pads with white (the shipped photos are
    already white squares, so both give the same result on them at a square size).

    **Splits.** Per class, the files (sorted by path) are shuffled with ``seed``; the first
    ``n * test_fraction`` (rounded half up) go to test, the next ``n * val_fraction`` to validation,
    the rest to training. So the same seed gives the same split, the test split does not depend
    on ``val_fraction`` or ``train_per_class``, and ``train_per_class=k`` takes the first ``k``
    training images of each class (the 5-image subset is inside the 10-image one, for
    accuracy-versus-data-size curves).

    **Fashion-MNIST.** ``"fashion_mnist"`` is a stratified subset shipped with tlcourse: 700
    images per class (600 drawn from the official training set, 100 from the official test set;
    ``data/fashion_mnist/manifest.csv`` lists which). ``"fashion_mnist_full"`` is all 70000,
    downloaded from the address ``keras.datasets.fashion_mnist`` uses (``origin`` may name a
    folder holding the four idx files, such as Debian's ``/usr/share/datasets/fashion-mnist``).
    Both pool the official training and test images and split them as above, like any folder:
    the official test set is *not* kept as the test split, so every seed draws its own test
    images, and the fractions apply (the defaults give 385 training, 140 validation and 175
    test images per class of the subset). The 28x28 greyscale images are resized like files
    and repeated into three channels (RGB); classes keep Zalando's label order (label 0 is
    ``"t-shirt/top"``), and ``files`` holds, instead of paths, each image's official set and
    index there, e.g. ``Path("test/00042")``.

    **Pipelines.** ``train`` reshuffles every epoch (seeded), then batches; ``val`` and ``test``
    keep file order. Images are float32 RGB in 0..255 (backbones from ``tlcourse`` preprocess
    inside the model); labels are int32 class indices (use a sparse categorical loss). The
    images already sit in memory, so the pipelines need no ``.cache()``; they prefetch.
    No augmentation: put augmentation layers in the model. Memory: ``n * height * width * 3``
    bytes, e.g. about 280 MB for ``"flowers"`` at 160 px.

    **Offline tests and mirrors.** ``origin`` (a URL, ``file://`` URL or local archive path)
    replaces a named dataset's download address for this call; the environment variable
    ``TLCOURSE_DATASET_MIRROR`` (a base URL or folder holding the archives under their original
    file names, e.g. a classroom server) replaces it for every call. The tests build a tiny
    archive in a temporary folder and load it through a ``file://`` origin.

    Args:
        name_or_folder: a name from :func:`~tlcourse.data.list_datasets` or a folder of class
            subfolders. Defaults to ``"photos"``.
        image_size: ``(height, width)`` in pixels, or one int for square images; sides >= 8.
            Defaults to 160.
        val_fraction: share of each class for validation, in [0, 1). Defaults to 0.2.
        test_fraction: share of each class held out for testing, in [0, 1); the two fractions
            must sum to less than 1. Defaults to 0.25.
        seed: seed of the split and of the training shuffle, an int >= 0. Defaults to 0.
        batch_size: batch size of the pipelines, an int >= 1. Defaults to 32.
        train_per_class: keep only this many training images per class (None keeps all).
            Defaults to None.
        resize: ``"crop"`` or ``"pad"``, see above. Defaults to ``"crop"``.
        origin: download address replacing a named dataset's URL. Defaults to None.

    Returns:
        A :class:`~tlcourse.data.Dataset` (its ``image_size`` is ``(height, width)``).

    Raises:
        InvalidParameterError: a bad argument, an unknown name that is not a folder either, or
            a ``train_per_class`` larger than some class's training split.
        DatasetError: fewer than two classes, a class without usable images, a class left with
            no training image by the fractions, or a download that failed (offline).

    Example:
        >>> load_dataset("fashion_mnist", image_size=32).counts().loc["total"].tolist()
        [3850, 1400, 1750, 7000]
        >>> ds = load_dataset("photos", seed=0)
        >>> ds.class_names
        ('birds', 'fish', 'flowers', 'fruit', 'mammals', 'vegetables')
        >>> images, labels = next(iter(ds.train))
        >>> images.shape, images.dtype.name, labels.dtype.name
        (TensorShape([32, 160, 160, 3]), 'float32', 'int32')
        >>> load_dataset("photos", image_size=(48, 64)).image_size
        (48, 64)
    """
    func = "load_dataset"
    if not isinstance(name_or_folder, str | os.PathLike):
        raise invalid_parameter(
            "name_or_folder", func, "a dataset name or the path of a folder", name_or_folder
        )
    size = check_image_size("image_size", image_size, func, low=8)
    val_fraction = check_real("val_fraction", val_fraction, func, low=0, high=1, high_open=True)
    test_fraction = check_real("test_fraction", test_fraction, func, low=0, high=1, high_open=True)
    if val_fraction + test_fraction >= 1:
        raise invalid_parameter(
            "test_fraction",
            func,
            f"less than 1 - val_fraction = {1 - val_fraction:g}: the 'val_fraction' and "
            "'test_fraction' parameters must sum to less than 1, leaving images to train on",
            test_fraction,
            hint=f"Now {val_fraction:g} + {test_fraction:g} = {val_fraction + test_fraction:g}.",
        )
    seed = check_int("seed", seed, func, low=0)
    batch_size = check_int("batch_size", batch_size, func, low=1)
    train_per_class = check_int("train_per_class", train_per_class, func, low=1, none_ok=True)
    check_choice("resize", resize, RESIZE_MODES, func)
    if origin is not None and not isinstance(origin, str | os.PathLike):
        raise invalid_parameter("origin", func, "a URL or a path, or None", origin)

    name, folders, spec = _resolve(name_or_folder, origin, func)
    if spec is not None and spec.format == "idx":
        class_files, images, skipped = _idx_images(folders[0], spec, size, resize)
    else:
        class_files = _list_class_files(folders)
        images, skipped = _decode_all(
            [p for files in class_files.values() for p in files], size, resize
        )
    for path, reason in skipped:
        warnings.warn(f"Skipped {path}: {reason}.", SkippedImageWarning, stacklevel=2)
    bad = {path for path, _ in skipped}
    class_files = {c: [p for p in files if p not in bad] for c, files in class_files.items()}
    for class_name, files in class_files.items():
        if not files:
            raise DatasetError(
                f"Class {class_name!r} of {name!r} has no usable image: all its files were "
                "skipped (see the warnings above)."
            )

    split_files = _split(class_files, val_fraction, test_fraction, seed, train_per_class)
    class_names = tuple(class_files)
    files, labels, arrays = {}, {}, {}
    for split in SPLITS:
        pairs = split_files[split]
        files[split] = tuple(p for p, _ in pairs)
        labels[split] = np.array([class_names.index(c) for _, c in pairs], dtype=np.int32)
        labels[split].flags.writeable = False
        arrays[split] = (
            np.stack([images[p] for p in files[split]])
            if pairs
            else np.zeros((0, *size, 3), np.uint8)
        )
        arrays[split].flags.writeable = False
    return Dataset(
        name=name,
        folders=tuple(folders),
        class_names=class_names,
        image_size=size,
        seed=seed,
        files=MappingProxyType(files),
        labels=MappingProxyType(labels),
        skipped=tuple(skipped),
        batch_size=batch_size,
        _images=MappingProxyType(arrays),
    )


def _idx_images(folder, spec, size, resize):
    """``(class_files, images, skipped)`` of an idx dataset, as for a folder of files.

    Classes in label order (label ``i`` stays ``i``); each image named after its official set
    and index (``test/00042``), which stands for its path.
    """
    arrays, labels, names = _read_parts(folder, spec.parts)
    if labels.size and int(labels.max()) >= len(spec.class_names):
        raise DatasetError(
            f"The idx labels in {folder} go up to {int(labels.max())}, but {spec.name!r} has "
            f"{len(spec.class_names)} classes."
        )
    converted = _convert_arrays(arrays, size, resize)
    images = dict(zip(names, converted, strict=True))
    class_files = {
        class_name: [names[i] for i in np.flatnonzero(labels == label)]
        for label, class_name in enumerate(spec.class_names)
    }
    return class_files, images, []


def _split(class_files, val_fraction, test_fraction, seed, train_per_class):
    """Return ``{split: [(path, class), ...]}``, stratified and seeded (see load_dataset)."""
    rng = np.random.default_rng(seed)
    splits = {s: [] for s in SPLITS}
    for class_name, files in class_files.items():
        n = len(files)
        # Round half up: Python's round() would send 2.5 and 3.5 images different ways.
        n_test = int(n * test_fraction + 0.5)
        n_val = int(n * val_fraction + 0.5)
        if n - n_test - n_val < 1:
            raise DatasetError(
                f"Class {class_name!r} has {n} usable image(s): with "
                f"test_fraction={test_fraction} ({n_test}) and val_fraction={val_fraction} "
                f"({n_val}) none is left for training. Lower the fractions or add images."
            )
        order = [files[i] for i in rng.permutation(n)]
        parts = {
            "test": order[:n_test],
            "val": order[n_test : n_test + n_val],
            "train": order[n_test + n_val :],
        }
        if train_per_class is not None:
            if train_per_class > len(parts["train"]):
                raise invalid_parameter(
                    "train_per_class",
                    "load_dataset",
                    "at most the size of every class's training split (class "
                    f"{class_name!r} has {len(parts['train'])} training images, of {n})",
                    train_per_class,
                )
            parts["train"] = parts["train"][:train_per_class]
        for split, paths in parts.items():
            splits[split].extend((p, class_name) for p in sorted(paths))
    return splits
