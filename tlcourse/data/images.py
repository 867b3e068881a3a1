"""Reading a folder of class subfolders; decoding every image (or array) once into 8-bit RGB."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tlcourse.errors import DatasetError
from tlcourse.validation import validate_params

__all__ = ["IMAGE_EXTENSIONS", "RESIZE_MODES", "SkippedImageWarning", "to_rgb"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
RESIZE_MODES = ("crop", "pad")
_IGNORED_FOLDERS = {"__MACOSX", "__pycache__"}  # left by archive tools and notebooks


class SkippedImageWarning(UserWarning):
    """An image file was left out of a dataset because it could not be decoded."""


def _visible(name: str) -> bool:
    return not name.startswith(".") and name not in _IGNORED_FOLDERS


def _list_class_files(folders: list[Path]) -> dict[str, list[Path]]:
    class_dirs: dict[str, list[Path]] = {}
    for folder in folders:
        for sub in sorted(folder.iterdir()):
            if sub.is_dir() and _visible(sub.name):
                class_dirs.setdefault(sub.name, []).append(sub)
    if len(class_dirs) < 2:
        found = f"only {sorted(class_dirs)}" if class_dirs else "none"
        raise DatasetError("A dataset needs at least two class subfolders (one per class, e.g. "
                           f"{folders[0] / 'cats'}/*.jpg and {folders[0] / 'dogs'}/*.jpg); found "
                           f"{found} in {', '.join(map(str, folders))}.")  # fmt: skip
    class_files = {}
    for class_name in sorted(class_dirs):
        files, others = [], set()
        for sub in class_dirs[class_name]:
            for path in sub.rglob("*"):
                if not path.is_file() or not all(map(_visible, path.relative_to(sub).parts)):
                    continue
                if path.suffix.lower() in IMAGE_EXTENSIONS:
                    files.append(path)
                else:
                    others.add(path.suffix.lower() or "(none)")
        if not files:
            hint = f" (found only {sorted(others)} files)" if others else ""
            where = ", ".join(map(str, class_dirs[class_name]))
            raise DatasetError(f"Class folder {class_name!r} ({where}) has no image files{hint}. "
                               f"Accepted extensions: {list(IMAGE_EXTENSIONS)}.")  # fmt: skip
        class_files[class_name] = sorted(files)
    return class_files


def _in_threads(function, items) -> list:
    # PIL releases the GIL while decoding and resizing.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(function, items))


def _decode_all(paths: list[Path], size: tuple[int, int], resize: str):
    """``({path: uint8 array}, [(path, why it was skipped), ...])``."""
    results = _in_threads(lambda p: _decode(p, size, resize), paths)
    pairs = list(zip(paths, results, strict=True))
    images = {path: array for path, (array, _) in pairs if array is not None}
    return images, [(path, reason) for path, (array, reason) in pairs if array is None]


def _decode(path: Path, size: tuple[int, int], resize: str):
    """``(uint8 (height, width, 3) array, None)`` or ``(None, why it was skipped)``."""
    try:
        if path.stat().st_size == 0:
            return None, "empty file (0 bytes)"
        with Image.open(path) as image:
            # JPEGs can decode at 1/2, 1/4 or 1/8 scale directly, both sides staying >= size.
            image.draft("RGB", (size[1], size[0]))
            image = to_rgb(ImageOps.exif_transpose(image))
        return _fit(image, size, resize), None
    except Image.DecompressionBombError:
        limit = 2 * Image.MAX_IMAGE_PIXELS
        return None, f"larger than PIL's decompression-bomb limit of {limit} pixels; downscale it"
    except UnidentifiedImageError:
        return None, "not an image PIL can read"
    except Exception as error:
        # One bad file must not end a load of thousands; PIL's plugins raise many types.
        return None, f"cannot decode ({type(error).__name__}: {error})"


def _fit(image: Image.Image, size: tuple[int, int], resize: str) -> np.ndarray:
    """Resize to ``(height, width)`` by centre crop or white padding."""
    height, width = size
    # How many times larger than the target along the side that sets the scale, in integers.
    ratios = (image.size[0] * height, image.size[1] * width)
    excess = min(ratios) if resize == "crop" else max(ratios)
    if excess >= 4 * width * height:
        # Cheap box-filter shrink first, keeping 2x headroom for the quality resize below.
        image = image.reduce(excess // (2 * width * height))
    if resize == "crop":
        image = ImageOps.fit(image, (width, height), Image.Resampling.BICUBIC)
    else:
        image = ImageOps.pad(image, (width, height), Image.Resampling.BICUBIC, color="white")
    return np.asarray(image, dtype=np.uint8)


def _convert_arrays(arrays: np.ndarray, size: tuple[int, int], resize: str) -> np.ndarray:
    """Greyscale (n, h, w) or RGB (n, h, w, 3) uint8 images to (n, height, width, 3) RGB."""
    grey = arrays.ndim == 3
    convert = Image.fromarray if grey else lambda a: to_rgb(Image.fromarray(a))
    converted = _in_threads(lambda a: _fit(convert(a), size, resize), arrays)
    if not converted:
        return np.zeros((0, *size, 3), np.uint8)
    stacked = np.stack(converted)
    # Resized as greyscale: PIL resamples every channel alike.
    return np.repeat(stacked[..., None], 3, axis=-1) if grey else stacked


@validate_params({"image": [Image.Image]})
def to_rgb(image: Image.Image) -> Image.Image:
    """Convert a PIL image of any mode to 8-bit RGB, compositing transparency onto white.

    16- and 32-bit integer images, and float images in 0..1, are rescaled to 0..255.

    Example:
        >>> to_rgb(Image.new("LA", (2, 2), (0, 0))).getpixel((0, 0))
        (255, 255, 255)
    """
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
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")
