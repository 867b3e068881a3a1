"""ImageNet-1k class names (shipped, where Keras downloads them), top-k predictions, offline."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from tlcourse.errors import DatasetError, TLCourseError
from tlcourse.paths import data_dir
from tlcourse.validation import BATCH_SIZE, Interval, Rule, validate_params

__all__ = ["NUM_CLASSES", "decode_predictions", "imagenet_class_names", "load_image_for_imagenet",
           "predict_image_files"]  # fmt: skip

NUM_CLASSES = 1000
_TOP = [Interval(int, 1, NUM_CLASSES)]
_PATH = (str, os.PathLike)


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


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names, in class-index order."""
    return list(_class_names(data_dir() / "imagenet_classes.txt"))


def _probabilities(probs) -> bool:
    try:
        return np.shape(np.asarray(probs, dtype="float64"))[1:] == (NUM_CLASSES,)
    except (TypeError, ValueError):
        return False


_PROBS = Rule(
    _probabilities,
    f"an array of shape (N, {NUM_CLASSES}), one row of ImageNet class probabilities per image "
    "(a model built with include_top=True)",
    lambda probs: np.asarray(probs, dtype="float64"),
)


@validate_params({"probs": [_PROBS], "top": _TOP})
def decode_predictions(probs, top: int = 5) -> list[list[tuple[int, str, float]]]:
    """The ``top`` most likely ``(class_index, class_name, probability)`` of each image.

    Example:
        >>> probs = np.zeros((1, 1000)); probs[0, 1] = 0.9; probs[0, 2] = 0.1
        >>> decode_predictions(probs, top=2)[0][0]
        (1, 'goldfish, Carassius auratus', 0.9)
    """
    names = imagenet_class_names()
    # Stable sort on the negated values: ties keep the lower class index first.
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top]
    return [
        [(int(i), names[i], float(row[i])) for i in indices]
        for row, indices in zip(probs, order, strict=True)
    ]


@validate_params({"path": list(_PATH), "size": [Interval(int, 32, None)]})
def load_image_for_imagenet(path: str | os.PathLike, size: int = 224) -> np.ndarray:
    """An image file as ImageNet evaluation input: float32 RGB ``(size, size, 3)`` in 0..255.

    The shorter side is resized to ``size * 256 / 224``, then the centre ``size`` square cropped.
    """
    from PIL import Image, UnidentifiedImageError

    from tlcourse.data.images import to_rgb

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
    scale = round(size * 256 / 224) / min(image.size)
    new_size = tuple(max(size, round(side * scale)) for side in image.size)
    image = image.resize(new_size, Image.Resampling.BICUBIC)
    left, upper = (new_size[0] - size) // 2, (new_size[1] - size) // 2
    return np.asarray(image.crop((left, upper, left + size, upper + size)), dtype="float32")


@functools.cache
def _classifier():
    from tlcourse.models.backbones import load_backbone

    return load_backbone("efficientnet_lite0", include_top=True)


_PATHS = Rule(
    lambda p: (
        isinstance(p, _PATH)
        or (isinstance(p, list | tuple) and len(p) > 0 and all(isinstance(f, _PATH) for f in p))
    ),
    "the path of an image file, or a list of at least one image path",
    lambda p: [p] if isinstance(p, _PATH) else list(p),
)


@validate_params({"paths": [_PATHS], "top": _TOP, "batch_size": [BATCH_SIZE]})
def predict_image_files(paths: str | os.PathLike | list, top: int = 5,
                        batch_size: int = 32) -> list[list[tuple[int, str, float]]]:  # fmt: skip
    """Classify image files with EfficientNet-Lite0's ImageNet top: the ``top`` classes per file."""
    images = np.stack([load_image_for_imagenet(p) for p in paths])
    probs = _classifier().predict(images, batch_size=batch_size, verbose=0)
    return decode_predictions(probs, top=top)
