"""The IDX format of MNIST and Fashion-MNIST: one gzipped file of images, one of labels.

A 4-byte magic number (two zero bytes, a type code, the number of dimensions), one big-endian 4-byte
size per dimension, then the values in C order. Only unsigned bytes (``0x08``) occur."""

from __future__ import annotations

import csv
import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from tlcourse.errors import DatasetError
from tlcourse.validation import Rule, validate_params

__all__ = ["read_idx", "write_idx"]

_UBYTE = 0x08
_DAMAGED = "a truncated or damaged download? Delete the file and load the dataset again."


@validate_params({"path": [str, os.PathLike]})
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a gzipped or plain IDX file of unsigned bytes as a read-only uint8 array.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
        >>> write_idx(path, np.array([3, 1, 4], dtype=np.uint8))
        >>> read_idx(path).tolist()
        [3, 1, 4]
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with (gzip.open if gzipped else open)(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DatasetError(f"The IDX file {path} does not exist.") from None
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"Cannot read the IDX file {path} ({type(error).__name__}: {error}): "
                           f"{_DAMAGED}") from None  # fmt: skip
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != _UBYTE:
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes (no 00 00 08 start).")
    header = 4 + 4 * data[3]
    if len(data) < header:
        raise DatasetError(f"The IDX file {path} is truncated: its header is incomplete.")
    shape = struct.unpack(f">{data[3]}I", data[4:header])
    expected = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != expected:
        raise DatasetError(f"The IDX file {path} holds {len(data) - header} bytes of values where "
                           f"its header {shape} announces {expected}: {_DAMAGED}")  # fmt: skip
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)  # read-only


_UINT8_ARRAY = Rule(
    lambda a: isinstance(a, np.ndarray) and a.dtype == np.uint8 and 1 <= a.ndim < 256,
    "a uint8 numpy array with at least one dimension")  # fmt: skip


@validate_params({"path": [str, os.PathLike], "array": [_UINT8_ARRAY]})
def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file, gzipped (reproducibly) when ``path`` ends in ``.gz``."""
    path = Path(path)
    header = bytes([0, 0, _UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array).tobytes()
    with open(path, "wb") as raw:
        if path.suffix == ".gz":
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:  # same bytes
                f.write(payload)
        else:
            raw.write(payload)


def _read_parts(folder: Path, parts) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """Pool the official sets of an idx dataset: ``(images, labels, names)``.

    An image is named after its official set and index (``Path("test/00042")``), in a subset too
    (``manifest.csv`` gives the official index): the same name in the subset and the full set."""
    manifest = folder / "manifest.csv"
    originals = {}
    if manifest.is_file():
        with open(manifest, newline="", encoding="utf-8") as f:
            rows = sorted(csv.DictReader(f), key=lambda row: (row["set"], int(row["index"])))
        for row in rows:
            originals.setdefault(row["set"], []).append(int(row["original_index"]))
    images, labels, names = [], [], []
    for official, prefix in parts:
        part_images = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
        part_labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
        if part_images.ndim != 3 or part_labels.shape != part_images.shape[:1]:
            raise DatasetError(f"The idx files {prefix}-* in {folder} do not match: images "
                               f"{part_images.shape}, labels {part_labels.shape}.")  # fmt: skip
        index = originals.get(official, np.arange(len(part_labels)))
        if len(index) != len(part_labels):
            raise DatasetError(f"{manifest} lists {len(index)} {official!r} images where the idx "
                               f"files hold {len(part_labels)}: rebuild the folder.")  # fmt: skip
        images.append(part_images)
        labels.append(part_labels)
        names += [Path(official, f"{i:05d}") for i in index]
    return np.concatenate(images), np.concatenate(labels), names
