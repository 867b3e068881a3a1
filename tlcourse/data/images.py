"""Reading a folder of class subfolders, and decoding every image once into 8-bit RGB.

Images stored as arrays (the idx datasets) go through the same conversion and resizing.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tlcourse.errors import DatasetError, invalid_parameter

__all__ = ["IMAGE_EXTENSIONS", "RESIZE_MODES", "SkippedImageWarning", "to_rgb"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
RESIZE_MODES = ("crop", "pad")

# Folders that archive tools and notebooks leave behind; never classes.
_IGNORED_FOLDERS = {"__MACOSX", "__pycache__"}


class SkippedImageWarning(UserWarning):
    """An image file was left out of a dataset because it could not be decoded."""


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


def _decode_all(paths: list[Path], size: tuple[int, int], resize: str):
    """Decode ``paths`` in threads (PIL releases the GIL); return ``({path: array}, skipped)``.

    ``size`` is ``(height, width)``.
    """
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


def _decode(path: Path, size: tuple[int, int], resize: str):
    """Return ``(uint8 (height, width, 3) array, None)`` or ``(None, why it was skipped)``."""
    height, width = size
    try:
        if path.stat().st_size == 0:
            return None, "empty file (0 bytes)"
        with Image.open(path) as image:
            # JPEGs can decode at 1/2, 1/4 or 1/8 scale directly: a 12-megapixel photo then
            # costs a fraction of the time and memory. Both sides stay >= the target's.
            image.draft("RGB", (width, height))
            image = ImageOps.exif_transpose(image)
            image = to_rgb(image)
        return _fit(image, size, resize), None
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


def _fit(image: Image.Image, size: tuple[int, int], resize: str) -> np.ndarray:
    """Resize an RGB (or greyscale) image to ``size`` = ``(height, width)``; a uint8 array."""
    height, width = size
    # How many times larger than the target the image is along the side that sets the
    # scale (the shorter one for a crop, the longer one for a pad), in exact integers:
    # min or max of (W / width, H / height), times width * height.
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
    """Greyscale (n, h, w) or RGB (n, h, w, 3) uint8 images to (n, height, width, 3) RGB.

    The same conversion and resizing as image files get (see ``_decode``), in threads.
    Greyscale images are resized as greyscale, then repeated into three channels: PIL
    resamples every channel alike, so this is what converting to RGB first gives, three times
    faster.
    """
    workers = min(8, os.cpu_count() or 1)
    grey = arrays.ndim == 3
    with ThreadPoolExecutor(max_workers=workers) as pool:
        converted = list(
            pool.map(
                lambda a: _fit(
                    Image.fromarray(a) if grey else to_rgb(Image.fromarray(a)), size, resize
                ),
                arrays,
            )
        )
    if not converted:
        return np.zeros((0, *size, 3), np.uint8)
    stacked = np.stack(converted)
    return np.repeat(stacked[..., None], 3, axis=-1) if grey else stacked


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert a PIL image of any mode to 8-bit RGB, compositing transparency onto white.

    Greyscale, palette and CMYK images are converted; 16-bit and 32-bit integer images are
    rescaled to 0..255 (not clipped), float images in 0..1 too.

    Args:
        image: a ``PIL.Image.Image``.

    Returns:
        An RGB image (``image`` itself when it is already RGB without transparency).

    Raises:
        InvalidParameterError: ``image`` is not a PIL image.
        ValueError: PIL cannot convert its mode.

    Example:
        >>> to_rgb(Image.new("LA", (2, 2), (0, 0))).getpixel((0, 0))
        (255, 255, 255)
    """
    if not isinstance(image, Image.Image):
        raise invalid_parameter("image", "to_rgb", "a PIL.Image.Image", type(image).__name__)
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
        # Unknown modes raise ValueError here, which load_dataset reports as a skip reason.
        image = image.convert("RGB")
    return image
