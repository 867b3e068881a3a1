"""Where tlcourse reads shipped data and writes its caches.

Nothing is ever written into the current working directory: caches go to a per-user cache folder
(``$TLCOURSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/tlcourse``, else ``~/.cache/tlcourse``).
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_DATA = Path(__file__).resolve().parent.parent / "data"


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
    """Return the folder of shipped data (``$TLCOURSE_DATA_DIR`` overrides the repository's).

    Returns:
        ``Path`` to the ``data/`` folder.

    Example:
        >>> (data_dir() / "imagenet_classes.txt").is_file()
        True
    """
    override = os.environ.get("TLCOURSE_DATA_DIR")
    return Path(override).expanduser() if override else _REPO_DATA
