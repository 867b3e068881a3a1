"""A checksummed, atomically written cache of weights files, in ``cache_dir()/weights``.

A backbone whose weights need a one-time step (a conversion, an extraction) asks
:func:`cached_weights_file` for the file by name and gives it a ``build(tmp_path)`` that writes
it. The helper:

- returns the cached file when it matches its ``.sha256`` sidecar (``sha256sum`` format);
- rebuilds, with a warning, a file that does not (truncated, damaged, half-written by an older
  version) or whose sidecar is missing;
- writes to a unique temporary name in the same folder and renames it, so an interrupted build
  leaves no half file and two processes never read each other's partial output.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

from tlcourse.errors import WeightsUnavailableError, check_bool, invalid_parameter
from tlcourse.paths import cache_dir

__all__ = ["CACHE_SUBDIR", "cache_problem", "cached_weights_file", "sha256_file", "weights_dir"]

CACHE_SUBDIR = "weights"


def weights_dir() -> Path:
    """Return the folder of cached weights files, ``cache_dir() / "weights"`` (not created).

    Example:
        >>> weights_dir().name
        'weights'
    """
    return cache_dir() / CACHE_SUBDIR


def sha256_file(path: str | os.PathLike) -> str:
    """Return the SHA-256 of a file as 64 hex digits, read in 1 MiB chunks.

    Args:
        path: the file.

    Returns:
        The hex digest.

    Raises:
        InvalidParameterError: ``path`` is not a path.
        FileNotFoundError: the file does not exist.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile() as f:
        ...     sha256_file(f.name)[:16]
        'e3b0c44298fc1c14'
    """
    if not isinstance(path, str | os.PathLike):
        raise invalid_parameter("path", "sha256_file", "a path (str or os.PathLike)", path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def cache_problem(path: str | os.PathLike) -> str | None:
    """Say why a cached file cannot be trusted, or return None if it matches its sidecar.

    Args:
        path: the cached file (its sidecar is ``path + ".sha256"``).

    Returns:
        None when the file matches its recorded checksum, or when neither the file nor its
        sidecar exists (nothing cached yet); otherwise the reason, as a phrase.

    Raises:
        InvalidParameterError: ``path`` is not a path.

    Example:
        >>> cache_problem(weights_dir() / "not_built_yet.weights.h5") is None
        True
    """
    if not isinstance(path, str | os.PathLike):
        raise invalid_parameter("path", "cache_problem", "a path (str or os.PathLike)", path)
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


def cached_weights_file(
    name: str,
    build: Callable[[Path], object],
    *,
    directory: str | os.PathLike | None = None,
    rebuild: bool = False,
) -> Path:
    """Return the cached weights file ``name``, building it first if it is missing or damaged.

    Args:
        name: the file name, e.g. ``"efficientnet_lite0_imagenet_notop.weights.h5"``.
        build: ``build(tmp_path)`` writes the file at ``tmp_path`` (same suffixes as ``name``);
            it is renamed onto the cached name only once it returns.
        directory: the cache folder; defaults to :func:`weights_dir`. Defaults to None.
        rebuild: build even when the cached file is fine (it was checked some other way and
            failed). Defaults to False.

    Returns:
        Path of a file that matches its ``.sha256`` sidecar.

    Raises:
        InvalidParameterError: ``name`` is not a plain file name, ``build`` is not callable.
        WeightsUnavailableError: the folder cannot be created or written (the message says to
            set ``TLCOURSE_CACHE_DIR``).

    Example:
        >>> import tempfile
        >>> def build(tmp_path):
        ...     tmp_path.write_bytes(b"weights")
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = cached_weights_file("demo.bin", build, directory=folder)
        ...     print(path.read_bytes(), cache_problem(path))
        b'weights' None
    """
    func = "cached_weights_file"
    if not isinstance(name, str) or not name or Path(name).name != name or name.startswith("."):
        raise invalid_parameter("name", func, "a plain file name (no folder, not hidden)", name)
    if not callable(build):
        raise invalid_parameter("build", func, "a callable build(tmp_path)", build)
    if directory is not None and not isinstance(directory, str | os.PathLike):
        raise invalid_parameter("directory", func, "a path or None", directory)
    rebuild = check_bool("rebuild", rebuild, func)
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
