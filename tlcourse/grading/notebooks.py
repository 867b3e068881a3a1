"""Notebook files through nbformat: reading, a reproducible normal form, writing."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import nbformat

__all__ = ["cell_source", "normalize_notebook", "notebook_text", "read_notebook"]

_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# The cell metadata Jupyter and otter read; everything else (collapsed, execution times, ...)
# changes from one run to the next.
_CELL_METADATA_KEPT = ("deletable", "editable", "tags", "otter")
_NEW_CELL = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
             "raw": nbformat.v4.new_raw_cell}  # fmt: skip


def cell_source(cell) -> str:
    """The source of a cell as one string (files may store it as a list of lines).

    Example:
        >>> cell_source({"cell_type": "code", "source": ["x = 1\\n", "y = 2"]})
        'x = 1\\ny = 2'
    """
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def read_notebook(notebook) -> nbformat.NotebookNode:
    """Read a notebook from a path, or wrap a dict read elsewhere, as an nbformat node.

    Example:
        >>> read_notebook({"cells": [{"cell_type": "raw", "source": "x"}]}).cells[0].source
        'x'
    """
    if isinstance(notebook, str | os.PathLike):
        return nbformat.reads(Path(notebook).read_text(encoding="utf-8"), nbformat.NO_CONVERT)
    return nbformat.from_dict(copy.deepcopy(dict(notebook)))


def normalize_notebook(notebook) -> nbformat.NotebookNode:
    """Return a copy of a notebook made reproducible: no outputs, numbered ids, stable metadata.

    ``otter assign`` gives cells random ids and copies the master's metadata: two runs on the
    same master differ. Cells become ``cell-000``, ``cell-001``... with only the metadata Jupyter
    and otter read; the notebook keeps the standard ``python3`` kernelspec, the language name
    and ``otter`` (assignment name and public tests). The result passes ``nbformat.validate``.

    Example:
        >>> nb = {"cells": [{"cell_type": "code", "id": "x1", "source": "1", "metadata":
        ...       {"collapsed": True}, "outputs": [{"output_type": "stream"}],
        ...       "execution_count": 3}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        >>> cell = normalize_notebook(nb).cells[0]
        >>> cell.id, cell.metadata, cell.outputs, cell.execution_count, cell.source
        ('cell-000', {}, [], None, '1')
    """
    original = read_notebook(notebook)
    cells = []
    for index, cell in enumerate(original.get("cells", [])):
        kept = {k: v for k, v in cell.get("metadata", {}).items() if k in _CELL_METADATA_KEPT}
        kind, source = cell.get("cell_type", "code"), cell_source(cell)
        new = _NEW_CELL[kind](source=source, metadata=kept, id=f"cell-{index:03d}")
        if cell.get("attachments") and kind != "code":
            new.attachments = cell.attachments
        cells.append(new)
    metadata = original.get("metadata", {})
    language = {"name": metadata.get("language_info", {}).get("name", "python")}
    kept = {"kernelspec": dict(_KERNELSPEC), "language_info": language}
    if "otter" in metadata:
        kept["otter"] = metadata["otter"]
    normalized = nbformat.v4.new_notebook(cells=cells, metadata=kept)
    normalized.nbformat_minor = 5  # cell ids need 4.5
    return normalized


def notebook_text(notebook) -> str:
    """The on-disk form of a notebook, byte for byte what ``nbformat.write`` puts in a file.

    Example:
        >>> notebook_text(normalize_notebook({"cells": []})).startswith('{\\n "cells": []')
        True
    """
    text = nbformat.writes(nbformat.from_dict(notebook))
    return text if text.endswith("\n") else text + "\n"
