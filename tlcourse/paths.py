"""Where tlcourse reads shipped data and writes its caches.

Nothing is ever written into the current working directory: caches go to a per-user cache folder
(``$TLCOURSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/tlcourse``, else ``~/.cache/tlcourse``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "data_dir"]

_REPO_DATA = Path(__file__).resolve().parent.parent / "data"
_INSTALLED_DATA = Path(__file__).resolve().parent / "_shipped_data"  # see pyproject.toml


def cache_dir() -> Path:
    """Return the cache folder (created if missing).

    Returns:
        ``Path`` of ``$TLCOURSE_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/tlcourse``, else
        ``~/.cache/tlcourse``.

    Example:
        >>> cache_dir().is_dir()
        True
    """
    override = os.environ.get("TLCOURSE_CACHE_DIR")
    if override:
        path = Path(override).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base).expanduser() / "tlcourse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Return the folder of shipped data.

    ``$TLCOURSE_DATA_DIR`` if set; else the repository's ``data/`` (a clone, or an editable
    install); else the copy a regular install carries as ``tlcourse._shipped_data``.

    Returns:
        ``Path`` to the data folder.

    Example:
        >>> (data_dir() / "imagenet_classes.txt").is_file()
        True
    """
    override = os.environ.get("TLCOURSE_DATA_DIR")
    if override:
        return Path(override).expanduser()
    if _REPO_DATA.is_dir():
        return _REPO_DATA
    return _INSTALLED_DATA
