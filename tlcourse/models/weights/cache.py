"""A checksummed, atomically written cache of weights files, in ``cache_dir()/weights``.

A backbone whose weights need a one-time step (a conversion) asks :func:`cached_weights_file`
for the file by name with a ``build(tmp_path)`` that writes it. A cached file that does not
match its ``.sha256`` sidecar (``sha256sum`` format) is rebuilt with a warning; a build writes
to a unique temporary name and renames it, so nobody ever reads a half-written file.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

from tlcourse.errors import WeightsUnavailableError
from tlcourse.paths import cache_dir
from tlcourse.validation import Rule, validate_params

__all__ = ["cache_problem", "cached_weights_file", "sha256_file", "weights_dir"]


def weights_dir() -> Path:
    """The folder of cached weights files, ``cache_dir() / "weights"`` (not created).

    Example:
        >>> weights_dir().name
        'weights'
    """
    return cache_dir() / "weights"


_PATH = [str, os.PathLike]


@validate_params({"path": _PATH})
def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file as 64 hex digits.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile() as f:
        ...     sha256_file(f.name)[:16]
        'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


@validate_params({"path": _PATH})
def cache_problem(path: str | os.PathLike) -> str | None:
    """Why a cached file cannot be trusted, or None if it matches its ``.sha256`` sidecar (or
    neither exists yet).

    Example:
        >>> cache_problem(weights_dir() / "not_built_yet.weights.h5") is None
        True
    """
    path = Path(path)
    if not path.exists():
        return None if not _sidecar(path).exists() else "its weights file is missing"
    try:
        recorded = _sidecar(path).read_text(encoding="ascii").split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        return "its .sha256 checksum file is missing or unreadable"
    if recorded != sha256_file(path):
        return "it does not match its sha256 checksum (truncated or damaged)"
    return None


def _atomic_write(dest: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``dest``: readers never see a half file."""
    # Same folder, so os.replace is a rename on one file system; unique name per writer. The
    # temporary name keeps dest's suffixes: Keras picks the format from ".weights.h5".
    stem = dest.name.split(".")[0]
    tmp = dest.with_name(f".{stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}" + "".join(dest.suffixes))
    try:
        write(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


_FILE_NAME = Rule(
    lambda n: isinstance(n, str) and n != "" and Path(n).name == n and not n.startswith("."),
    "a plain file name (no folder, not hidden)",
)


@validate_params(
    {
        "name": [_FILE_NAME],
        "build": ["callable"],
        "directory": [*_PATH, None],
        "rebuild": ["boolean"],
    }
)
def cached_weights_file(
    name: str,
    build: Callable[[Path], object],
    *,
    directory: str | os.PathLike | None = None,
    rebuild: bool = False,
) -> Path:
    """The cached weights file ``name``, built first by ``build(tmp_path)`` if it is missing or
    damaged (or if ``rebuild``); the file matches its ``.sha256`` sidecar.

    ``tmp_path`` has the suffixes of ``name``; it is renamed onto ``name`` once ``build``
    returns. The folder (default :func:`weights_dir`) not writable: ``WeightsUnavailableError``
    saying to set ``TLCOURSE_CACHE_DIR``.

    Example:
        >>> import tempfile
        >>> def build(tmp_path):
        ...     tmp_path.write_bytes(b"weights")
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = cached_weights_file("demo.bin", build, directory=folder)
        ...     print(path.read_bytes(), cache_problem(path))
        b'weights' None
    """
    folder = Path(directory) if directory is not None else weights_dir()
    path = folder / name
    if not rebuild:
        problem = cache_problem(path)
        if problem is None and path.exists():
            return path
        if problem is not None:
            warnings.warn(
                f"The cached weights file {path} cannot be used: {problem}. Rebuilding it.",
                RuntimeWarning,
                stacklevel=2,
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WeightsUnavailableError(
            f"Could not create the weights cache folder {folder} ({error}). Set the "
            "TLCOURSE_CACHE_DIR environment variable to a writable folder."
        ) from error
    try:
        _atomic_write(path, build)
        line = f"{sha256_file(path)}  {path.name}\n"
        _atomic_write(_sidecar(path), lambda tmp: tmp.write_text(line, encoding="ascii"))
    except OSError as error:
        raise WeightsUnavailableError(
            f"Could not write the weights file {path} ({error}). Set the TLCOURSE_CACHE_DIR "
            "environment variable to a writable folder with enough free space."
        ) from error
    return path
