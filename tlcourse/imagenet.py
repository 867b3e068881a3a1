"""ImageNet-1k class names, readable top-k predictions, and classifying image files offline.

``keras.applications.imagenet_utils.decode_predictions`` downloads its class index at run time;
these read the 1000 names shipped in ``data/imagenet_classes.txt`` instead.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tlcourse.errors import DatasetError, TLCourseError, check_int, invalid_parameter
from tlcourse.paths import data_dir

__all__ = [
    "CROP_SIZE",
    "NUM_CLASSES",
    "RESIZE_SHORTER_SIDE",
    "decode_predictions",
    "imagenet_class_names",
    "load_image_for_imagenet",
    "predict_image_files",
]

NUM_CLASSES = 1000
# Standard ImageNet evaluation: shorter side to 256, centre crop 224 (ratio 0.875).
RESIZE_SHORTER_SIDE = 256
CROP_SIZE = 224


@functools.cache
def _class_names(path: Path) -> tuple[str, ...]:
    try:
        names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    except OSError as error:
        raise TLCourseError(
            f"Cannot read the ImageNet class names from {path} ({error}). Set TLCOURSE_DATA_DIR "
            "to a folder containing imagenet_classes.txt, or reinstall tlcourse."
        ) from error
    if len(names) != NUM_CLASSES or not all(names):
        raise TLCourseError(
            f"{path} must have {NUM_CLASSES} non-empty lines (one class name each); it has "
            f"{len(names)} lines."
        )
    return names


class _Shown(str):
    """A description of what was passed, shown as is (unquoted) in an error message."""

    def __repr__(self) -> str:
        return str(self)


def imagenet_class_names() -> list[str]:
    """Return the 1000 ImageNet-1k class names, in class-index order.

    Returns:
        A new list of 1000 strings (e.g. index 1 is ``"goldfish, Carassius auratus"``).

    Raises:
        TLCourseError: ``data/imagenet_classes.txt`` is missing or does not have 1000 lines.

    Example:
        >>> names = imagenet_class_names()
        >>> len(names), names[1]
        (1000, 'goldfish, Carassius auratus')
    """
    return list(_class_names(data_dir() / "imagenet_classes.txt"))


def decode_predictions(probs, top: int = 5) -> list[list[tuple[int, str, float]]]:
    """Turn ImageNet class probabilities into the ``top`` most likely (index, name, probability).

    Args:
        probs: array-like of shape ``(N, 1000)``, e.g. ``model.predict(images)`` from
            ``load_backbone("efficientnet_lite0", include_top=True)``.
        top: how many classes per image, most likely first. Defaults to 5.

    Returns:
        One list per image of ``(class_index, class_name, probability)`` tuples.

    Raises:
        InvalidParameterError: ``probs`` is not ``(N, 1000)`` or ``top`` is not in [1, 1000].

    Example:
        >>> probs = np.zeros((1, 1000)); probs[0, 1] = 0.9; probs[0, 2] = 0.1
        >>> decode_predictions(probs, top=2)[0][0]
        (1, 'goldfish, Carassius auratus', 0.9)
    """
    top = check_int("top", top, "decode_predictions", low=1, high=NUM_CLASSES)
    try:
        array = np.asarray(probs, dtype="float64")
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim != 2 or array.shape[1] != NUM_CLASSES:
        shape = getattr(array, "shape", None) if array is not None else type(probs).__name__
        raise invalid_parameter(
            "probs",
            "decode_predictions",
            f"an array of shape (N, {NUM_CLASSES}) (one row of ImageNet class probabilities per "
            "image; use a model built with include_top=True)",
            _Shown(f"shape {shape}"),
        )
    names = imagenet_class_names()
    # Stable sort on the negated values: ties keep the lower class index first.
    order = np.argsort(-array, axis=1, kind="stable")[:, :top]
    return [
        [(int(i), names[i], float(row[i])) for i in indices]
        for row, indices in zip(array, order, strict=True)
    ]


def load_image_for_imagenet(path: str | Path, size: int = CROP_SIZE) -> np.ndarray:
    """Load an image file as ImageNet evaluation input: RGB, shorter side scaled, centre crop.

    Args:
        path: any image file Pillow reads (JPEG, PNG...); greyscale, palette, CMYK, 16-bit and
            RGBA images are converted to RGB (transparency composited onto white, as
            :func:`tlcourse.data.to_rgb` does).
        size: side of the square crop, an int >= 8. Defaults to 224; the shorter side is first
            resized to ``round(size * 256 / 224)``.

    Returns:
        ``float32`` array of shape ``(size, size, 3)`` with values in 0..255.

    Raises:
        InvalidParameterError: ``path`` is not a path or ``size`` not an int >= 8.
        DatasetError: the file does not exist or is not a readable image (names the file).

    Example:
        >>> import matplotlib.cbook as cbook
        >>> photo = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        >>> load_image_for_imagenet(photo).shape
        (224, 224, 3)
    """
    from PIL import Image, UnidentifiedImageError

    from tlcourse.data.images import to_rgb

    func = "load_image_for_imagenet"
    if not isinstance(path, str | os.PathLike):
        raise invalid_parameter("path", func, "the path of an image file", path)
    size = check_int("size", size, func, low=8)
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()  # decode now, so a truncated file fails here and names this file
            image = to_rgb(image)
    except FileNotFoundError:
        raise DatasetError(f"Image file {str(path)!r} does not exist.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(
            f"Cannot read image file {str(path)!r}: it is not a valid image or it is damaged "
            f"({type(error).__name__}: {error})."
        ) from error
    width, height = image.size
    scale = round(size * RESIZE_SHORTER_SIDE / CROP_SIZE) / min(width, height)
    new_size = (max(size, round(width * scale)), max(size, round(height * scale)))
    image = image.resize(new_size, Image.Resampling.BICUBIC)
    left, upper = (new_size[0] - size) // 2, (new_size[1] - size) // 2
    image = image.crop((left, upper, left + size, upper + size))
    return np.asarray(image, dtype="float32")


@functools.cache
def _classifier():
    from tlcourse.backbones import load_backbone

    return load_backbone("efficientnet_lite0", include_top=True)


def predict_image_files(
    paths: str | Path | Iterable[str | Path], top: int = 5, batch_size: int = 32
) -> list[list[tuple[int, str, float]]]:
    """Classify image files with EfficientNet-Lite0's ImageNet classifier (offline).

    Each image is converted to RGB, its shorter side resized to 256 and the centre 224x224
    crop is classified. The model is built once per process and reused.

    Args:
        paths: one image file or several.
        top: how many classes per image. Defaults to 5.
        batch_size: images per forward pass. Defaults to 32.

    Returns:
        One list per file, in the order given, of ``(class_index, class_name, probability)``.

    Raises:
        DatasetError: a file is missing or is not a readable image (the message names it).
        InvalidParameterError: no paths given, ``top`` or ``batch_size`` out of range.
        WeightsUnavailableError: the package with the weights is not installed.

    Example:
        >>> import matplotlib.cbook as cbook
        >>> photo = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        >>> best = predict_image_files(photo, top=1)
        >>> len(best), len(best[0])
        (1, 1)
    """
    func = "predict_image_files"
    files = [paths] if isinstance(paths, str | os.PathLike) else paths
    try:
        files = list(files)
    except TypeError:
        files = None
    if not files or not all(isinstance(f, str | os.PathLike) for f in files):
        raise invalid_parameter(
            "paths", func, "the path of an image file, or a list of at least one image path", paths
        )
    # Checked before the slow part (model build, image decoding).
    top = check_int("top", top, func, low=1, high=NUM_CLASSES)
    batch_size = check_int("batch_size", batch_size, func, low=1)
    images = np.stack([load_image_for_imagenet(p) for p in files])
    probs = _classifier().predict(images, batch_size=batch_size, verbose=0)
    return decode_predictions(probs, top=top)
