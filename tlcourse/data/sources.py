"""Where a dataset's images come from: the named datasets, a folder, or a download.

A name from :func:`list_datasets` is either shipped with tlcourse (``"photos"``, in
:func:`tlcourse.paths.data_dir`) or downloaded once with ``keras.utils.get_file`` into
``cache_dir() / "datasets"`` and extracted there; anything else is a folder with one subfolder
per class.
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

__all__ = ["MIRROR_ENV", "DatasetSpec", "list_datasets"]

MIRROR_ENV = "TLCOURSE_DATASET_MIRROR"
_COMPLETE_MARKER = ".tlcourse_complete"


@dataclass(frozen=True)
class DatasetSpec:
    """One named dataset: where it comes from and under which licence.

    Attributes:
        name: the name :func:`~tlcourse.data.load_dataset` accepts.
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
    """List the datasets :func:`~tlcourse.data.load_dataset` knows by name.

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


def _resolve(name_or_folder, origin, func: str) -> tuple[str, list[Path]]:
    """Return the dataset's display name and the folders holding its class subfolders.

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
                    "or rebuild it with scripts/build_photos.py."
                )
        else:
            folders = _download(spec, origin)
        return spec.name, folders
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
            return str(name_or_folder), [folder]
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
