"""Image classification datasets: the shipped photo set, your own folders, two online sets.

A dataset is a folder with one subfolder per class (``root/cats/*.jpg``, ``root/dogs/*.jpg``).
:func:`load_dataset` decodes every image once with PIL into memory, splits the files per class
(stratified, seeded) into train / validation / test, and returns a :class:`Dataset` whose
``train``, ``val`` and ``test`` are batched ``tf.data`` pipelines ready for ``model.fit``.

Augmentation is deliberately not done here: augmentation layers (``keras.layers.RandomFlip``...)
belong inside the model, where they run only during training and travel with the saved model.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError

from tlcourse.errors import DatasetError, InvalidParameterError, check_choice
from tlcourse.paths import cache_dir, data_dir

# Keras 3.15 warns on every fit(tf.data.Dataset) because fit's own default is shuffle=True. Our
# training pipelines are already reshuffled every epoch (seeded), so the warning would only
# teach students to ignore warnings.
warnings.filterwarnings(
    "ignore", message=r"`shuffle=True` was passed, but will be ignored", category=UserWarning
)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SPLITS = ("train", "val", "test")
RESIZE_MODES = ("crop", "pad")
MIRROR_ENV = "TLCOURSE_DATASET_MIRROR"

# Folders that archive tools and notebooks leave behind; never classes.
_IGNORED_FOLDERS = {"__MACOSX", "__pycache__"}
_COMPLETE_MARKER = ".tlcourse_complete"


class SkippedImageWarning(UserWarning):
    """An image file was left out of a dataset because it could not be decoded."""


@dataclass(frozen=True)
class DatasetSpec:
    """One named dataset: where it comes from and under which licence.

    Attributes:
        name: the name :func:`load_dataset` accepts.
        description: one line for :func:`list_datasets`.
        licence: licence of the images.
        url: archive to download, or None for data shipped with tlcourse.
        subfolders: folders inside the extracted archive (or inside ``data_dir()`` for shipped
            sets) that each hold one subfolder per class; same-named classes are merged.
        sha256: expected SHA-256 of the archive, checked by ``keras.utils.get_file`` when set.
    """

    name: str
    description: str
    licence: str
    url: str | None = None
    subfolders: tuple[str, ...] = ()
    sha256: str | None = None

    @property
    def archive(self) -> str | None:
        """File name of the archive in the cache (the last part of ``url``)."""
        return Path(urlsplit(self.url).path).name if self.url else None


_DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="photos",
            description="Shipped, offline: 180 Tux Paint photo stamps on white in 6 classes "
            "(mammals, birds, fish, flowers, fruit, vegetables), 160x160 JPEG.",
            licence="GPL-2.0-or-later (Debian tuxpaint-stamps-default 2022.06.04-1)",
            subfolders=("photos",),
        ),
        DatasetSpec(
            name="flowers",
            description="TensorFlow's flower_photos (tf_flowers): 3670 Flickr photos in 5 classes "
            "(daisy, dandelion, roses, sunflowers, tulips); about 220 MiB to download.",
            licence="CC-BY-2.0, per photo (see flower_photos/LICENSE.txt)",
            url="https://storage.googleapis.com/download.tensorflow.org/example_images/"
            "flower_photos.tgz",
            subfolders=("flower_photos",),
        ),
        DatasetSpec(
            name="cats_vs_dogs",
            description="Google's filtered Kaggle Dogs vs. Cats subset: 3000 photos, 2 classes "
            "(cats, dogs), its train and validation folders merged; about 65 MiB to download.",
            licence="Microsoft Asirra images via Kaggle Dogs vs. Cats; non-commercial research "
            "and teaching use",
            url="https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip",
            subfolders=("cats_and_dogs_filtered/train", "cats_and_dogs_filtered/validation"),
        ),
    )
}


def list_datasets() -> pd.DataFrame:
    """List the datasets :func:`load_dataset` knows by name.

    Returns:
        DataFrame indexed by name with columns ``description``, ``licence``, ``url`` and
        ``offline`` (True when the images ship with tlcourse).

    Example:
        >>> list_datasets().index.tolist()
        ['photos', 'flowers', 'cats_vs_dogs']
    """
    rows = [
        {
            "name": s.name,
            "description": s.description,
            "licence": s.licence,
            "url": s.url,
            "offline": s.url is None,
        }
        for s in _DATASETS.values()
    ]
    return pd.DataFrame(rows).set_index("name")


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Images decoded in memory, split per class, with ready ``tf.data`` pipelines.

    Attributes:
        name: the dataset name, or the folder it was read from.
        folders: the folders whose class subfolders were read.
        class_names: sorted class (subfolder) names; label ``i`` is ``class_names[i]``.
        image_size: side in pixels of every (square) image.
        seed: the seed of the split and of the training shuffle.
        files: ``{"train" | "val" | "test": tuple of Path}``, sorted by class then path.
        labels: ``{"train" | "val" | "test": int32 array}``, aligned with ``files``.
        skipped: ``(path, reason)`` for every file that could not be decoded.
        train: batches of ``(float32 images (b, size, size, 3) in 0..255 RGB, int32 labels)``,
            reshuffled every epoch (seeded).
        val: the same, in ``files["val"]`` order; None when the split is empty.
        test: the same, in ``files["test"]`` order; None when the split is empty.
    """

    name: str
    folders: tuple[Path, ...]
    class_names: tuple[str, ...]
    image_size: int
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
            >>> load_dataset("photos").counts().loc["total"].tolist()
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
            ``(images, labels)``: float32 ``(n, size, size, 3)`` RGB in 0..255 and int32 ``(n,)``,
            in ``files[split]`` order (not shuffled).

        Raises:
            InvalidParameterError: unknown split.

        Example:
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


def load_dataset(
    name_or_folder: str | os.PathLike = "photos",
    *,
    image_size: int = 160,
    val_fraction: float = 0.2,
    test_fraction: float = 0.25,
    seed: int = 0,
    batch_size: int = 32,
    train_per_class: int | None = None,
    resize: str = "crop",
    origin: str | None = None,
) -> Dataset:
    """Load a folder of class subfolders, split it per class and wrap it in ``tf.data``.

    **Where the images come from.** A name from :func:`list_datasets`: ``"photos"`` (shipped,
    works offline), ``"flowers"`` or ``"cats_vs_dogs"`` (downloaded on first use with
    ``keras.utils.get_file`` into ``tlcourse.paths.cache_dir() / "datasets"``, extracted, and
    reused afterwards). Anything else is a folder with one subfolder per class; a known name
    wins over a same-named folder in the working directory, so write ``"./photos"`` or pass a
    ``Path`` for that one. Class subfolders are read recursively; hidden files and folders and
    files whose extension is not in ``IMAGE_EXTENSIONS`` (.jpg .jpeg .png .bmp .gif .webp .tif
    .tiff, any case) are ignored; animated files give their first frame.

    **Decoding.** Every image is decoded once, eagerly, with PIL: EXIF rotation applied;
    greyscale, palette, CMYK and 16-bit images converted to 8-bit RGB; transparency composited
    onto white; large JPEGs decoded at reduced scale. Files that cannot be used (empty,
    truncated, not an image, over PIL's decompression-bomb limit) are left out with a
    :class:`SkippedImageWarning` naming the file and the reason, and listed in
    ``Dataset.skipped``. Nothing else is printed (a download shows Keras' progress bar).

    **Resizing.** ``resize="crop"`` scales the shorter side to ``image_size`` and keeps the
    centre square (the usual ImageNet evaluation policy; the edges of elongated photos are
    lost). ``resize="pad"`` scales the longer side to ``image_size`` and pads with white (the
    shipped photos are already white squares, so both give the same result on them).

    **Splits.** Per class, the files (sorted by path) are shuffled with ``seed``; the first
    ``n * test_fraction`` (rounded half up) go to test, the next ``n * val_fraction`` to validation,
    the rest to training. So the same seed gives the same split, the test split does not depend
    on ``val_fraction`` or ``train_per_class``, and ``train_per_class=k`` takes the first ``k``
    training images of each class (the 5-image subset is inside the 10-image one, for
    accuracy-versus-data-size curves).

    **Pipelines.** ``train`` reshuffles every epoch (seeded), then batches; ``val`` and ``test``
    keep file order. Images are float32 RGB in 0..255 (backbones from ``tlcourse`` preprocess
    inside the model); labels are int32 class indices (use a sparse categorical loss). The
    images already sit in memory, so the pipelines need no ``.cache()``; they prefetch.
    No augmentation: put augmentation layers in the model. Memory: ``n * image_size**2 * 3``
    bytes, e.g. about 280 MB for ``"flowers"`` at 160 px.

    **Offline tests and mirrors.** ``origin`` (a URL, ``file://`` URL or local archive path)
    replaces a named dataset's download address for this call; the environment variable
    ``TLCOURSE_DATASET_MIRROR`` (a base URL or folder holding the archives under their original
    file names, e.g. a classroom server) replaces it for every call. The tests build a tiny
    archive in a temporary folder and load it through a ``file://`` origin.

    Args:
        name_or_folder: a name from :func:`list_datasets` or a folder of class subfolders.
            Defaults to ``"photos"``.
        image_size: side in pixels of the square images, an int >= 8. Defaults to 160.
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
        A :class:`Dataset`.

    Raises:
        InvalidParameterError: a bad argument, an unknown name that is not a folder either, or
            a ``train_per_class`` larger than some class's training split.
        DatasetError: fewer than two classes, a class without usable images, a class left with
            no training image by the fractions, or a download that failed (offline).

    Example:
        >>> ds = load_dataset("photos", seed=0)
        >>> ds.class_names
        ('birds', 'fish', 'flowers', 'fruit', 'mammals', 'vegetables')
        >>> images, labels = next(iter(ds.train))
        >>> images.shape, images.dtype.name, labels.dtype.name
        (TensorShape([32, 160, 160, 3]), 'float32', 'int32')
    """
    func = "load_dataset"
    image_size = _check_int("image_size", image_size, 8, func)
    batch_size = _check_int("batch_size", batch_size, 1, func)
    seed = _check_int("seed", seed, 0, func)
    if train_per_class is not None:
        train_per_class = _check_int("train_per_class", train_per_class, 1, func, none_ok=True)
    val_fraction = _check_fraction("val_fraction", val_fraction, func)
    test_fraction = _check_fraction("test_fraction", test_fraction, func)
    if val_fraction + test_fraction >= 1:
        raise InvalidParameterError(
            f"The 'val_fraction' and 'test_fraction' parameters of {func} must sum to less than "
            f"1, leaving images to train on. Got {val_fraction} + {test_fraction} = "
            f"{val_fraction + test_fraction:g} instead."
        )
    check_choice("resize", resize, RESIZE_MODES, func)
    if origin is not None and not isinstance(origin, str | os.PathLike):
        raise InvalidParameterError(
            f"The 'origin' parameter of {func} must be a URL or a path, or None. "
            f"Got {origin!r} instead."
        )

    name, folders = _resolve(name_or_folder, origin)
    class_files = _list_class_files(folders)
    images, skipped = _decode_all(
        [p for files in class_files.values() for p in files], image_size, resize
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
            else np.zeros((0, image_size, image_size, 3), np.uint8)
        )
        arrays[split].flags.writeable = False
    return Dataset(
        name=name,
        folders=tuple(folders),
        class_names=class_names,
        image_size=image_size,
        seed=seed,
        files=MappingProxyType(files),
        labels=MappingProxyType(labels),
        skipped=tuple(skipped),
        train=_pipeline(arrays["train"], labels["train"], batch_size, shuffle_seed=seed),
        val=_pipeline(arrays["val"], labels["val"], batch_size) if files["val"] else None,
        test=_pipeline(arrays["test"], labels["test"], batch_size) if files["test"] else None,
        _images=MappingProxyType(arrays),
    )


def _check_int(param: str, value, minimum: int, func: str, none_ok: bool = False) -> int:
    if isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= minimum:
        return int(value)
    allowed = f"an int >= {minimum}" + (" or None" if none_ok else "")
    raise InvalidParameterError(
        f"The {param!r} parameter of {func} must be {allowed}. Got {value!r} instead."
    )


def _check_fraction(param: str, value, func: str) -> float:
    if isinstance(value, int | float | np.floating) and not isinstance(value, bool):
        if 0 <= value < 1:
            return float(value)
    raise InvalidParameterError(
        f"The {param!r} parameter of {func} must be a float in [0, 1). Got {value!r} instead."
    )


def _resolve(name_or_folder, origin) -> tuple[str, list[Path]]:
    """Return the dataset's display name and the folders holding its class subfolders."""
    if isinstance(name_or_folder, str) and name_or_folder in _DATASETS:
        spec = _DATASETS[name_or_folder]
        if spec.url is None:
            if origin is not None:
                raise InvalidParameterError(
                    f"The 'origin' parameter of load_dataset only applies to downloaded "
                    f"datasets; {spec.name!r} ships with tlcourse. Got {origin!r} instead."
                )
            folders = [data_dir() / s for s in spec.subfolders]
            missing = [f for f in folders if not f.is_dir()]
            if missing:
                raise DatasetError(
                    f"The shipped dataset {spec.name!r} is missing: {missing[0]} does not "
                    "exist. Set TLCOURSE_DATA_DIR to a copy of the repository's data/ folder, "
                    "or rebuild it with scripts/build_photos.py."
                )
        else:
            folders = _download(spec, origin)
        return spec.name, folders
    if isinstance(name_or_folder, str | os.PathLike):
        folder = Path(name_or_folder).expanduser()
        if folder.is_dir():
            if origin is not None:
                raise InvalidParameterError(
                    "The 'origin' parameter of load_dataset only applies to downloaded "
                    f"datasets, not to a folder. Got {origin!r} instead."
                )
            return str(name_or_folder), [folder]
    try:
        check_choice("name_or_folder", name_or_folder, _DATASETS, "load_dataset")
    except InvalidParameterError as error:
        raise InvalidParameterError(
            f"{error} A path to a folder with one subfolder per class is also accepted, but "
            f"{str(name_or_folder)!r} is not an existing folder."
        ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _download(spec: DatasetSpec, origin) -> list[Path]:
    """Fetch and extract a named dataset once; later calls reuse the extracted folder."""
    mirror = os.environ.get(MIRROR_ENV)
    if origin is not None:
        url, file_hash = _as_url(origin), None  # a replacement archive has its own hash
    elif mirror:
        url, file_hash = _as_url(mirror).rstrip("/") + "/" + spec.archive, spec.sha256
    else:
        url, file_hash = spec.url, spec.sha256
    # keras.utils.get_file re-extracts the archive on every call, even when the archive is
    # cached; a marker written after a complete extraction lets later calls skip it entirely
    # (and tells an interrupted extraction from a finished one).
    extracted = cache_dir() / "datasets" / f"{spec.archive.split('.')[0]}_extracted"
    if not (extracted / _COMPLETE_MARKER).is_file():
        try:
            extracted = Path(
                keras.utils.get_file(
                    fname=spec.archive,
                    origin=url,
                    extract=True,
                    file_hash=file_hash,
                    cache_dir=str(cache_dir()),
                    cache_subdir="datasets",
                )
            )
        except Exception as error:
            raise DatasetError(
                f"Could not download the {spec.name!r} dataset from {url}: {error}. Are you "
                "offline? The shipped 'photos' dataset works offline: load_dataset('photos')."
            ) from error
        missing = [s for s in spec.subfolders if not (extracted / s).is_dir()]
        if missing:
            raise DatasetError(
                f"The archive downloaded from {url} for {spec.name!r} has no folder "
                f"{missing[0]!r} once extracted in {extracted}."
            )
        (extracted / _COMPLETE_MARKER).write_text(url + "\n", encoding="utf-8")
    return [extracted / s for s in spec.subfolders]


def _as_url(location) -> str:
    """Turn a local path into a ``file://`` URL; leave URLs alone."""
    text = os.fspath(location)
    if "://" in text:
        return text
    return Path(text).expanduser().resolve().as_uri()


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name not in _IGNORED_FOLDERS


def _list_class_files(folders: list[Path]) -> dict[str, list[Path]]:
    """Return ``{class: sorted image paths}`` over the class subfolders of ``folders``."""
    class_dirs: dict[str, list[Path]] = {}
    for folder in folders:
        for sub in sorted(folder.iterdir()):
            if sub.is_dir() and _visible(sub):
                class_dirs.setdefault(sub.name, []).append(sub)
    where = ", ".join(str(f) for f in folders)
    if len(class_dirs) < 2:
        found = f"only {sorted(class_dirs)}" if class_dirs else "none"
        raise DatasetError(
            f"A dataset needs at least two class subfolders (one per class, e.g. "
            f"{folders[0] / 'cats'}/*.jpg and {folders[0] / 'dogs'}/*.jpg); found {found} in "
            f"{where}."
        )
    class_files = {}
    for class_name in sorted(class_dirs):
        files, others = [], set()
        for sub in class_dirs[class_name]:
            for path in sub.rglob("*"):
                relative = path.relative_to(sub).parts
                if not path.is_file() or not all(_visible(Path(p)) for p in relative):
                    continue
                if path.suffix.lower() in IMAGE_EXTENSIONS:
                    files.append(path)
                else:
                    others.add(path.suffix.lower() or "(none)")
        if not files:
            hint = f" (found only {sorted(others)} files)" if others else ""
            raise DatasetError(
                f"Class folder {class_name!r} ({', '.join(map(str, class_dirs[class_name]))}) "
                f"has no image files{hint}. Accepted extensions: {list(IMAGE_EXTENSIONS)}."
            )
        class_files[class_name] = sorted(files)
    return class_files


def _decode_all(paths: list[Path], size: int, resize: str):
    """Decode ``paths`` in threads (PIL releases the GIL); return ``({path: array}, skipped)``."""
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda p: _decode(p, size, resize), paths))
    images, skipped = {}, []
    for path, (array, reason) in zip(paths, results, strict=True):
        if array is None:
            skipped.append((path, reason))
        else:
            images[path] = array
    return images, skipped


def _decode(path: Path, size: int, resize: str) -> tuple[np.ndarray | None, str | None]:
    """Return ``(uint8 (size, size, 3) array, None)`` or ``(None, why it was skipped)``."""
    try:
        if path.stat().st_size == 0:
            return None, "empty file (0 bytes)"
        with Image.open(path) as image:
            # JPEGs can decode at 1/2, 1/4 or 1/8 scale directly: a 12-megapixel photo then
            # costs a fraction of the time and memory. Both sides stay >= size.
            image.draft("RGB", (size, size))
            image = ImageOps.exif_transpose(image)
            image = _to_rgb(image)
        side = min(image.size) if resize == "crop" else max(image.size)
        if side >= 4 * size:
            # Cheap box-filter shrink first, keeping 2x headroom for the quality resize below.
            image = image.reduce(side // (2 * size))
        if resize == "crop":
            image = ImageOps.fit(image, (size, size), Image.Resampling.BICUBIC)
        else:
            image = ImageOps.pad(image, (size, size), Image.Resampling.BICUBIC, color="white")
        return np.asarray(image, dtype=np.uint8), None
    except Image.DecompressionBombError:
        return None, (
            f"larger than PIL's decompression-bomb limit of {2 * Image.MAX_IMAGE_PIXELS} pixels; "
            "downscale it first"
        )
    except UnidentifiedImageError:
        return None, "not an image PIL can read"
    except Exception as error:
        # One bad file must not end a load of thousands: truncated files raise OSError ("image
        # file is truncated"), malformed headers or EXIF blocks raise SyntaxError, ValueError,
        # struct.error... depending on the PIL plugin. The reason names the type.
        return None, f"cannot decode ({type(error).__name__}: {error})"


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB, compositing transparency onto white."""
    if image.mode.startswith("I") or image.mode == "F":
        # convert("L") clips 16-bit values at 255 (a mostly white image); rescale instead.
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or (image.mode == "I" and values.max() > 255):
            values = values / 257.0
        elif image.mode == "F" and values.max() <= 1.0:
            values = values * 255.0
        image = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, "white")
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode != "RGB":
        # Unknown modes raise ValueError here, which the caller reports as a skip reason.
        image = image.convert("RGB")
    return image


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
                raise InvalidParameterError(
                    f"The 'train_per_class' parameter of load_dataset must be at most the "
                    f"size of every class's training split: class {class_name!r} has "
                    f"{len(parts['train'])} training images (of {n}). Got {train_per_class} "
                    "instead."
                )
            parts["train"] = parts["train"][:train_per_class]
        for split, paths in parts.items():
            splits[split].extend((p, class_name) for p in sorted(paths))
    return splits


def _pipeline(images, labels, batch_size, shuffle_seed=None) -> tf.data.Dataset:
    data = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle_seed is not None:
        data = data.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    # Cast per batch: the in-memory copy stays uint8 (a quarter of the float32 size).
    data = data.batch(batch_size).map(
        lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE
    )
    return data.prefetch(tf.data.AUTOTUNE)
