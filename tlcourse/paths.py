"""Where tlcourse reads shipped data and writes its caches (never the working directory)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "data_dir"]

_REPO_DATA = Path(__file__).resolve().parent.parent / "data"
_INSTALLED_DATA = Path(__file__).resolve().parent / "_shipped_data"  # see pyproject.toml


def cache_dir() -> Path:
    """The cache folder (created if missing): ``$TLCOURSE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/tlcourse``, else ``~/.cache/tlcourse``."""
    override = os.environ.get("TLCOURSE_CACHE_DIR")
    base = None if override else os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    path = Path(override).expanduser() if override else Path(base).expanduser() / "tlcourse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The folder of shipped data: ``$TLCOURSE_DATA_DIR``, else the repository's ``data/``,
    else the copy an install carries (``tlcourse._shipped_data``)."""
    override = os.environ.get("TLCOURSE_DATA_DIR")
    if override:
        return Path(override).expanduser()
    return _REPO_DATA if _REPO_DATA.is_dir() else _INSTALLED_DATA
