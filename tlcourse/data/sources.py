"""Where a dataset's images come from: a named dataset (shipped or downloaded once), or a folder.

A named dataset is stored as class subfolders of images (``"folders"``) or as gzipped IDX files
(``"idx"``, MNIST-like). Downloads go through ``keras.utils.get_file`` into the cache folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import keras
import pandas as pd

from tlcourse.errors import DatasetError
from tlcourse.paths import cache_dir, data_dir
from tlcourse.validation import Rule, StrOptions

__all__ = ["FASHION_MNIST_CLASSES", "MIRROR_ENV", "DatasetSpec", "list_datasets"]

MIRROR_ENV = "TLCOURSE_DATASET_MIRROR"
_COMPLETE_MARKER = ".tlcourse_complete"

# Label i is FASHION_MNIST_CLASSES[i] (Zalando's order).
FASHION_MNIST_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                         "sneaker", "bag", "ankle boot")  # fmt: skip


@dataclass(frozen=True)
class DatasetSpec:
    """One named dataset: where it comes from, under which licence, and how it is stored.

    ``url``: the archive (for ``"idx"``: the base URL of the files), None for shipped data.
    ``subfolders``: the extracted folders holding one subfolder per class (same names merged), or
    the folder of idx files, whose ``parts`` are ``(official set, file prefix)`` pairs."""

    name: str
    description: str
    licence: str
    url: str | None = None
    subfolders: tuple[str, ...] = ()
    sha256: str | None = None
    format: str = "folders"
    class_names: tuple[str, ...] = ()
    parts: tuple[tuple[str, str], ...] = ()
    rebuild: str = ""  # how to rebuild shipped data that is missing, for the error message

    @property
    def archive(self) -> str | None:
        return Path(urlsplit(self.url).path).name if self.url else None

    @property
    def idx_files(self) -> tuple[str, ...]:
        kinds = ("images-idx3", "labels-idx1")
        return tuple(f"{prefix}-{kind}-ubyte.gz" for _, prefix in self.parts for kind in kinds)


_MNIST_LICENCE = "MIT (Zalando SE)"
# The official sets of an MNIST-like dataset: (name, prefix of its two idx files).
_MNIST = {"format": "idx", "class_names": FASHION_MNIST_CLASSES,
          "parts": (("train", "train"), ("test", "t10k"))}  # fmt: skip
_DATASETS = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "photos",
            "Shipped, offline: 180 Tux Paint photo stamps on white in 6 classes (mammals, "
            "birds, fish, flowers, fruit, vegetables), 160x160 JPEG.",
            "GPL-2.0-or-later (Debian tuxpaint-stamps-default 2022.06.04-1)",
            subfolders=("photos",), rebuild="rebuild it with scripts/build_photos.py",
        ),
        DatasetSpec(
            "fashion_mnist",
            "Shipped, offline: 7000 Fashion-MNIST images, 700 per class (600 of the official "
            "training set, 100 of the test set), 10 classes of clothing, 28x28 greyscale: far "
            "from ImageNet.",
            _MNIST_LICENCE + "; Debian dataset-fashion-mnist 0.0~git20200523.55506a9-1",
            subfolders=("fashion_mnist",), **_MNIST,
            rebuild="rebuild it with scripts/build_fashion_mnist.py",
        ),
        DatasetSpec(
            "flowers",
            "TensorFlow's flower_photos (tf_flowers): 3670 Flickr photos in 5 classes (daisy, "
            "dandelion, roses, sunflowers, tulips); about 220 MiB to download.",
            "CC-BY-2.0, per photo (see flower_photos/LICENSE.txt)",
            url="https://storage.googleapis.com/download.tensorflow.org/example_images/"
            "flower_photos.tgz",
            subfolders=("flower_photos",),
        ),
        DatasetSpec(
            "cats_vs_dogs",
            "Google's filtered Kaggle Dogs vs. Cats subset: 3000 photos, 2 classes (cats, "
            "dogs), its train and validation folders merged; about 65 MiB to download.",
            "Microsoft Asirra images via Kaggle Dogs vs. Cats; non-commercial research and "
            "teaching use",
            url="https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip",
            subfolders=("cats_and_dogs_filtered/train", "cats_and_dogs_filtered/validation"),
        ),
        DatasetSpec(
            "fashion_mnist_full",
            "All of Fashion-MNIST: 70000 images (60000 training + 10000 test), 10 classes, "
            "28x28 greyscale; the files keras.datasets.fashion_mnist downloads (about 30 MiB).",
            _MNIST_LICENCE,
            url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
            subfolders=("fashion_mnist_full",), **_MNIST,
        ),
    )}  # fmt: skip


def list_datasets() -> pd.DataFrame:
    """The datasets :func:`~tlcourse.data.load_dataset` knows by name, with their licences.

    Example:
        >>> list_datasets().index.tolist()
        ['photos', 'fashion_mnist', 'flowers', 'cats_vs_dogs', 'fashion_mnist_full']
    """
    rows = [(s.name, s.description, s.licence, s.url, s.url is None) for s in _DATASETS.values()]
    columns = ["name", "description", "licence", "url", "offline"]
    return pd.DataFrame(rows, columns=columns).set_index("name")


DATASET = StrOptions(lambda: list(list_datasets().index))


def _origin_rule(arguments) -> list:
    name = arguments["name_or_folder"]
    spec = _DATASETS.get(name) if isinstance(name, str) else None
    if spec is not None and spec.url is not None:
        return [str, os.PathLike, None]
    where = f"for {spec.name!r}, which ships with tlcourse" if spec else "when loading a folder"
    rule = f"None {where} (origin only applies to downloaded datasets, not to a folder)"
    return [Rule(lambda origin: origin is None, rule)]


def _resolve(name_or_folder, origin) -> tuple[str, list[Path], DatasetSpec | None]:
    """The dataset's display name, its folders and its record (None for a folder of yours)."""
    spec = _DATASETS.get(name_or_folder) if isinstance(name_or_folder, str) else None
    if spec is None:
        return str(name_or_folder), [Path(name_or_folder).expanduser()], None
    if spec.url is None:
        folders = [data_dir() / s for s in spec.subfolders]
        missing = [f for f in folders if not f.is_dir()]
        if missing:
            raise DatasetError(f"The shipped dataset {spec.name!r} is missing: {missing[0]} does "
                               "not exist. Set TLCOURSE_DATA_DIR to a copy of the repository's "
                               "data/ folder, or "
                               f"{spec.rebuild or 'reinstall tlcourse'}.")  # fmt: skip
        return spec.name, folders, spec
    fetch = _download_files if spec.format == "idx" else _download
    return spec.name, fetch(spec, origin), spec


def _fetch(spec: DatasetSpec, url: str, **get_file_arguments) -> Path:
    try:
        return Path(keras.utils.get_file(origin=url, cache_dir=str(cache_dir()),
                                         **get_file_arguments))  # fmt: skip
    except Exception as error:
        shipped = [f"load_dataset({s.name!r})" for s in _DATASETS.values() if s.url is None]
        raise DatasetError(f"Could not download the {spec.name!r} dataset from {url}: {error}. Are "
                           "you offline? These datasets ship with tlcourse and work offline: "
                           f"{', '.join(shipped)}.") from error  # fmt: skip


def _download(spec: DatasetSpec, origin) -> list[Path]:
    mirror = os.environ.get(MIRROR_ENV)
    if origin is not None:
        url, file_hash = _as_url(origin), None  # a replacement archive has its own hash
    elif mirror:
        url, file_hash = _as_url(mirror).rstrip("/") + "/" + spec.archive, spec.sha256
    else:
        url, file_hash = spec.url, spec.sha256
    # get_file extracts on every call; a marker written after a complete extraction skips it
    # (and tells an interrupted extraction from a finished one).
    extracted = cache_dir() / "datasets" / f"{spec.archive.split('.')[0]}_extracted"
    if not (extracted / _COMPLETE_MARKER).is_file():
        extracted = _fetch(spec, url, fname=spec.archive, extract=True, file_hash=file_hash,
                           cache_subdir="datasets")  # fmt: skip
        missing = [s for s in spec.subfolders if not (extracted / s).is_dir()]
        if missing:
            raise DatasetError(f"The archive downloaded from {url} for {spec.name!r} has no folder "
                               f"{missing[0]!r} once extracted in {extracted}.")  # fmt: skip
        (extracted / _COMPLETE_MARKER).write_text(url + "\n", encoding="utf-8")
    return [extracted / s for s in spec.subfolders]


def _download_files(spec: DatasetSpec, origin) -> list[Path]:
    """Fetch the idx files once from a URL or a folder (Debian's ``/usr/share/datasets/...``)."""
    base = origin if origin is not None else os.environ.get(MIRROR_ENV) or spec.url
    base = _as_url(base).rstrip("/") + "/"
    folder = cache_dir() / "datasets" / spec.subfolders[0]
    if not (folder / _COMPLETE_MARKER).is_file():
        # Without the marker a file may be a partial download (no published checksum to tell).
        for name in spec.idx_files:
            (folder / name).unlink(missing_ok=True)
            _fetch(spec, base + name, fname=name, cache_subdir=f"datasets/{spec.subfolders[0]}")
        (folder / _COMPLETE_MARKER).write_text(base + "\n", encoding="utf-8")
    return [folder]


def _as_url(location) -> str:
    text = os.fspath(location)
    return text if "://" in text else Path(text).expanduser().resolve().as_uri()
