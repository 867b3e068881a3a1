"""A checksummed, atomically written cache of weights files, in ``cache_dir()/weights``."""

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
    """The folder of cached weights files, ``cache_dir() / "weights"`` (not created)."""
    return cache_dir() / "weights"


_PATH = [str, os.PathLike]


@validate_params({"path": _PATH})
def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


@validate_params({"path": _PATH})
def cache_problem(path: str | os.PathLike) -> str | None:
    """Why a cached file cannot be trusted; None if it matches its sidecar (or neither exists)."""
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
    # Same folder: os.replace is a rename. Keras picks the format from the ".weights.h5" suffix.
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
    {"name": [_FILE_NAME], "build": ["callable"], "directory": [*_PATH, None],
     "rebuild": ["boolean"]}
)  # fmt: skip
def cached_weights_file(
    name: str, build: Callable[[Path], object], *, directory: str | os.PathLike | None = None,
    rebuild: bool = False,
) -> Path:  # fmt: skip
    """The cached file ``name``, built by ``build(tmp_path)`` first if missing or damaged.

    A file that does not match its ``.sha256`` sidecar is rebuilt with a warning; ``build`` writes
    to a unique temporary name that is then renamed, so nobody reads a half-written file."""
    folder = Path(directory) if directory is not None else weights_dir()
    path = folder / name
    if not rebuild:
        problem = cache_problem(path)
        if problem is None and path.exists():
            return path
        if problem is not None:
            message = f"The cached weights file {path} cannot be used: {problem}. Rebuilding it."
            warnings.warn(message, RuntimeWarning, stacklevel=2)
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
