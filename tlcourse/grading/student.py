"""The student side: find the notebook file that ``grader.check`` reads its tests from.

otter's init cell opens the notebook by the name ``otter assign`` gave it (``otter.Notebook(
"02_scratch.ipynb")``) to read the public tests in its metadata: a notebook renamed "Copy of
02_scratch.ipynb", or a kernel started in another folder, then fails in every ``grader.check``
cell. ``tlcourse assign`` writes ``otter.Notebook(notebook_file("02_scratch"))`` instead.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

__all__ = ["notebook_file"]

_MAX_BYTES = 64 << 20
_MAX_CANDIDATES = 300


def _assignment(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > _MAX_BYTES:
            return None
        metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
        name = metadata.get("otter", {}).get("assignment_name")
        return name if isinstance(name, str) else None
    except (OSError, ValueError, AttributeError):
        return None


def _kernel_notebook_paths() -> list[Path]:
    """The notebook this kernel runs, as Jupyter and VS Code tell it, when they do."""
    found = [os.environ.get("JPY_SESSION_NAME")]
    with contextlib.suppress(ImportError):
        from IPython import get_ipython

        shell = get_ipython()
        namespace = shell.user_ns if shell is not None else {}
        found += [namespace.get("__session__"), namespace.get("__vsc_ipynb_file__")]
    return [Path(p) for p in found if isinstance(p, str) and p.endswith(".ipynb")]


def _nearby_notebooks(folder: Path) -> list[Path]:
    """Notebooks in the folder, its subfolders (two levels) and its parent, newest first."""
    found: list[Path] = []
    for pattern, base in (("*.ipynb", folder), ("*/*.ipynb", folder), ("*/*/*.ipynb", folder),
                          ("*.ipynb", folder.parent)):  # fmt: skip
        with contextlib.suppress(OSError):
            found += [p for p in base.glob(pattern) if ".ipynb_checkpoints" not in p.parts]
        if len(found) > _MAX_CANDIDATES:
            break

    def modified(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    return sorted(found[:_MAX_CANDIDATES], key=modified, reverse=True)


def notebook_file(assignment: str, folder: str | os.PathLike | None = None) -> str:
    """The path of this assignment's notebook, for ``otter.Notebook(...)``.

    In order: ``ASSIGNMENT.ipynb`` in the working folder; the notebook the kernel runs, as
    Jupyter or VS Code tell it; the newest notebook nearby whose otter metadata names this
    assignment (a renamed copy). Else it prints what to do and returns ``ASSIGNMENT.ipynb``.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "Copy of 01_intro.ipynb").write_text(
        ...     '{"metadata": {"otter": {"assignment_name": "01_intro"}}, "cells": []}')
        >>> Path(notebook_file("01_intro", folder)).name
        'Copy of 01_intro.ipynb'
    """
    folder = Path.cwd() if folder is None else Path(folder)
    expected = Path(f"{assignment}.ipynb")
    if (folder / expected).is_file():
        return str(folder / expected) if folder != Path.cwd() else str(expected)
    for path in _kernel_notebook_paths():
        if path.is_file() and _assignment(path) in (assignment, None):
            return str(path)
    for path in _nearby_notebooks(folder):
        if _assignment(path) == assignment:
            return str(path)
    print(f"tlcourse: the notebook file of {assignment!r} was not found near {folder}; "
          "grader.check reads its tests from that file. Open the notebook from its own folder "
          f"(or save it there as {expected.name}), then run this cell again.")  # fmt: skip
    return str(expected)
