"""Where a dataset's images come from: the named datasets, a folder, or a download.

A name from :func:`list_datasets` is either shipped with tlcourse (``"photos"`` and
``"fashion_mnist"``, in :func:`tlcourse.paths.data_dir`) or downloaded once with
``keras.utils.get_file`` into ``cache_dir() / "datasets"`` (and extracted there when it is an
archive); anything else is a folder with one subfolder per class. A named dataset is stored in
one of two formats: class subfolders of image files (``"folders"``), or gzipped IDX files of
images and labels as MNIST-like sets come (``"idx"``, see :mod:`tlcourse.data.idx`).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import keras
import pandas as pd

from tlcourse.errors import DatasetError, invalid_parameter
from tlcourse.paths import cache_dir, data_dir

__all__ = ["FASHION_MNIST_CLASSES", "MIRROR_ENV", "DatasetSpec", "list_datasets"]

MIRROR_ENV = "TLCOURSE_DATASET_MIRROR"
_COMPLETE_MARKER = ".tlcourse_complete"

#: Fashion-MNIST's ten classes: label ``i`` is ``FASHION_MNIST_CLASSES[i]`` (Zalando's order).
FASHION_MNIST_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
# The official sets of an MNIST-like dataset: (name, prefix of its two idx files).
_MNIST_PARTS = (("train", "train"), ("test", "t10k"))


@dataclass(frozen=True)
class DatasetSpec:
    """One named dataset: where it comes from and under which licence.

    Attributes:
        name: the name :func:`~tlcourse.data.load_dataset` accepts.
        description: one line for :func:`list_datasets`.
        licence: licence of the images.
        url: archive to download, or None for data shipped with tlcourse. For the ``"idx"``
            format: the base URL (ending in ``/``) of the idx files.
        subfolders: folders inside the extracted archive (or inside ``data_dir()`` for shipped
            sets) that each hold one subfolder per class; same-named classes are merged. For
            the ``"idx"`` format: the one folder holding the idx files.
        sha256: expected SHA-256 of the archive, checked by ``keras.utils.get_file`` when set.
        format: ``"folders"`` (class subfolders of image files) or ``"idx"`` (gzipped IDX
            files of images and labels, one pair per official set).
        class_names: ``"idx"`` format: the name of label ``i``, in label order.
        parts: ``"idx"`` format: ``(official set, file prefix)`` pairs, e.g.
            ``("test", "t10k")`` for ``t10k-images-idx3-ubyte.gz`` and
            ``t10k-labels-idx1-ubyte.gz``; every set is pooled before the split.
        rebuild: how to rebuild a shipped dataset that is missing, for the error message.
    """

    name: str
    description: str
    licence: str
    url: str | None = None
    subfolders: tuple[str, ...] = ()
    sha256: str | None = None
    format: str = "folders"
    class_names: tuple[str, ...] = ()
    parts: tuple[tuple[str, str], ...] = ()
    rebuild: str = ""

    @property
    def archive(self) -> str | None:
        """File name of the archive in the cache (the last part of ``url``)."""
        return Path(urlsplit(self.url).path).name if self.url else None

    @property
    def idx_files(self) -> tuple[str, ...]:
        """``"idx"`` format: the file names, images then labels for each part in order."""
        return tuple(
            f"{prefix}-{kind}-ubyte.gz"
            for _, prefix in self.parts
            for kind in ("images-idx3", "labels-idx1")
        )


_DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="photos",
            description="Shipped, offline: 180 Tux Paint photo stamps on white in 6 classes "
            "(mammals, birds, fish, flowers, fruit, vegetables), 160x160 JPEG.",
            licence="GPL-2.0-or-later (Debian tuxpaint-stamps-default 2022.06.04-1)",
            subfolders=("photos",),
            rebuild="rebuild it with scripts/build_photos.py",
        ),
        DatasetSpec(
            name="fashion_mnist",
            description="Shipped, offline: 7000 Fashion-MNIST images, 700 per class (600 of the "
            "official training set, 100 of the test set), 10 classes of clothing, 28x28 "
            "greyscale: far from ImageNet.",
            licence="MIT (Zalando SE; Debian dataset-fashion-mnist 0.0~git20200523.55506a9-1)",
            subfolders=("fashion_mnist",),
            format="idx",
            class_names=FASHION_MNIST_CLASSES,
            parts=_MNIST_PARTS,
            rebuild="rebuild it with scripts/build_fashion_mnist.py",
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
        DatasetSpec(
            name="fashion_mnist_full",
            description="All of Fashion-MNIST: 70000 images (60000 training + 10000 test), 10 "
            "classes, 28x28 greyscale; the files keras.datasets.fashion_mnist downloads "
            "(about 30 MiB).",
            licence="MIT (Zalando SE)",
            url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
            subfolders=("fashion_mnist_full",),
            format="idx",
            class_names=FASHION_MNIST_CLASSES,
            parts=_MNIST_PARTS,
        ),
    )
}


def list_datasets() -> pd.DataFrame:
    """List the datasets :func:`~tlcourse.data.load_dataset` knows by name.

    Returns:
        DataFrame indexed by name with columns ``description``, ``licence``, ``url`` and
        ``offline`` (True when the images ship with tlcourse).

    Example:
        >>> list_datasets().index.tolist()
        ['photos', 'fashion_mnist', 'flowers', 'cats_vs_dogs', 'fashion_mnist_full']
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


def _resolve(name_or_folder, origin, func: str) -> tuple[str, list[Path], DatasetSpec | None]:
    """Return the dataset's display name, its folders and its record (None for a folder).

    The folders hold the class subfolders (``"folders"`` format) or the idx files (``"idx"``).
    ``func`` is the public function the user called, named in the messages.
    """
    if isinstance(name_or_folder, str) and name_or_folder in _DATASETS:
        spec = _DATASETS[name_or_folder]
        if spec.url is None:
            if origin is not None:
                raise invalid_parameter(
                    "origin",
                    func,
                    f"None for {spec.name!r}, which ships with tlcourse (origin only applies to "
                    "downloaded datasets)",
                    origin,
                )
            folders = [data_dir() / s for s in spec.subfolders]
            missing = [f for f in folders if not f.is_dir()]
            if missing:
                raise DatasetError(
                    f"The shipped dataset {spec.name!r} is missing: {missing[0]} does not "
                    "exist. Set TLCOURSE_DATA_DIR to a copy of the repository's data/ folder, "
                    f"or {spec.rebuild or 'reinstall tlcourse'}."
                )
        elif spec.format == "idx":
            folders = _download_files(spec, origin)
        else:
            folders = _download(spec, origin)
        return spec.name, folders, spec
    if isinstance(name_or_folder, str | os.PathLike):
        folder = Path(name_or_folder).expanduser()
        if folder.is_dir():
            if origin is not None:
                raise invalid_parameter(
                    "origin",
                    func,
                    "None when loading a folder (origin only applies to downloaded datasets, "
                    "not to a folder)",
                    origin,
                )
            return str(name_or_folder), [folder], None
    close = (
        difflib.get_close_matches(name_or_folder, _DATASETS, n=3)
        if isinstance(name_or_folder, str)
        else []
    )
    hint = f"Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise invalid_parameter(
        "name_or_folder",
        func,
        f"one of {list(_DATASETS)} or an existing folder with one subfolder per class",
        name_or_folder if not isinstance(name_or_folder, os.PathLike) else str(name_or_folder),
        hint,
    )


def _offline_hint() -> str:
    shipped = [s.name for s in _DATASETS.values() if s.url is None]
    return (
        "Are you offline? These datasets ship with tlcourse and work offline: "
        + ", ".join(f"load_dataset({name!r})" for name in shipped)
        + "."
    )


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
                f"Could not download the {spec.name!r} dataset from {url}: {error}. "
                + _offline_hint()
            ) from error
        missing = [s for s in spec.subfolders if not (extracted / s).is_dir()]
        if missing:
            raise DatasetError(
                f"The archive downloaded from {url} for {spec.name!r} has no folder "
                f"{missing[0]!r} once extracted in {extracted}."
            )
        (extracted / _COMPLETE_MARKER).write_text(url + "\n", encoding="utf-8")
    return [extracted / s for s in spec.subfolders]


def _download_files(spec: DatasetSpec, origin) -> list[Path]:
    """Fetch the idx files of a named dataset once into the cache; later calls reuse them.

    ``origin`` or the mirror replace the base URL: a URL or a folder holding the files under
    their original names (Debian's ``/usr/share/datasets/fashion-mnist`` is one).
    """
    base = origin if origin is not None else os.environ.get(MIRROR_ENV) or spec.url
    base = _as_url(base).rstrip("/") + "/"
    folder = cache_dir() / "datasets" / spec.subfolders[0]
    if not (folder / _COMPLETE_MARKER).is_file():
        # Without the marker a file may be a partial download, which get_file would reuse
        # (these files have no published checksum): start again from nothing.
        for name in spec.idx_files:
            (folder / name).unlink(missing_ok=True)
        url = base
        try:
            for name in spec.idx_files:
                url = base + name
                keras.utils.get_file(
                    fname=name,
                    origin=url,
                    cache_dir=str(cache_dir()),
                    cache_subdir=f"datasets/{spec.subfolders[0]}",
                )
        except Exception as error:
            raise DatasetError(
                f"Could not download the {spec.name!r} dataset from {url}: {error}. "
                + _offline_hint()
            ) from error
        (folder / _COMPLETE_MARKER).write_text(base + "\n", encoding="utf-8")
    return [folder]


def _as_url(location) -> str:
    """Turn a local path into a ``file://`` URL; leave URLs alone."""
    text = os.fspath(location)
    if "://" in text:
        return text
    return Path(text).expanduser().resolve().as_uri()
