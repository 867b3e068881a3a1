"""The results table of a comparison: its columns, how a run is identified, reading and writing.

One row per run. "All training images" is stored one way: ``train_per_class`` is NaN in memory
(a float column, as pandas reads an empty cell) and an empty cell in ``results.csv``; sizes are
written as plain ints. Every table read back or built here goes through
:func:`normalize_results`, so rows read from disk and rows computed now always agree.

A run is identified by :data:`KEY_COLUMNS`: the strategy, the network, the data, the seed, the
training-set size, the image size, the **whole** budget (``budget``, every field of
:class:`~tlcourse.comparison.Budget`), the CO2 country and the distribution. ``resume`` reuses a
row only when all of these match; a row that lacks one of them (an older ``results.csv``) never
matches, so it is recomputed rather than silently reused.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from tlcourse.comparison.budget import Budget
from tlcourse.errors import InvalidParameterError, invalid_parameter
from tlcourse.tracking import CO2_COLUMNS

__all__ = [
    "KEY_COLUMNS",
    "RESULTS_FILE",
    "RESULT_COLUMNS",
    "image_size_value",
    "normalize_results",
    "read_results",
    "run_key",
    "write_results",
]

RESULTS_FILE = "results.csv"

#: The columns of a results row, in order.
RESULT_COLUMNS = (
    "strategy",
    "backbone",
    "dataset",
    "data",
    "image_size",
    "train_images",
    "train_per_class",
    "seed",
    "epochs",
    "fine_tune_epochs",
    "depth",
    "budget",
    "country",
    "distribute",
    "test_accuracy",
    "test_loss",
    "test_predictions",
    "trainable_params",
    "wall_seconds",
    "cpu_seconds",
    "energy_kwh",
    "co2_kg",
    *CO2_COLUMNS,
    "fine_tune_start",
    "history",
)

#: What identifies a run: two rows with these equal are the same run (see the module).
KEY_COLUMNS = (
    "strategy",
    "backbone",
    "data",
    "seed",
    "train_per_class",
    "image_size",
    "budget",
    "country",
    "distribute",
)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def image_size_value(size) -> int | str:
    """How an image size is stored: the side for a square, ``"HxW"`` otherwise.

    Args:
        size: an int, ``(height, width)``, or a stored value (``96``, ``"96"``, ``"96x128"``).

    Returns:
        An int for a square, else ``"HxW"``.

    Example:
        >>> image_size_value((96, 96)), image_size_value((96, 128)), image_size_value("64x64")
        (96, '96x128', 64)
    """
    if isinstance(size, str):
        parts = size.lower().split("x")
        if all(p.strip().isdigit() for p in parts) and len(parts) in (1, 2):
            size = tuple(int(p) for p in parts)
    if isinstance(size, tuple | list) and len(size) == 1:
        size = size[0]
    if isinstance(size, tuple | list) and len(size) == 2:
        height, width = (int(v) for v in size)
        return height if height == width else f"{height}x{width}"
    if isinstance(size, float) and size.is_integer():
        return int(size)
    return int(size) if isinstance(size, int | np.integer) else size


def _train_per_class(value) -> float:
    if _missing(value) or (isinstance(value, str) and value.strip().lower() in ("", "all")):
        return float("nan")
    return float(value)


def _budget_text(value):
    """The canonical JSON of a stored budget; the value unchanged when it is not one."""
    if isinstance(value, Budget):
        return json.dumps(value.get_config())
    if isinstance(value, str):
        return _canonical_budget(value)
    return value


@functools.lru_cache(maxsize=256)
def _canonical_budget(text: str) -> str:
    # Every row of predictions.csv repeats its run's budget, and the file is rewritten after
    # each run: parsed once per distinct text, not once per row and write.
    try:
        return json.dumps(Budget.from_config(json.loads(text)).get_config())
    except (TypeError, ValueError):
        return text


def normalize_results(table: pd.DataFrame) -> pd.DataFrame:
    """One representation for every value (see the module); the known columns first.

    Args:
        table: results rows, read back or computed now.

    Returns:
        A new DataFrame: ``train_per_class`` float (NaN: all training images), ``image_size``
        int (or ``"HxW"``), ``country`` None for the world average, ``budget`` canonical JSON.

    Example:
        >>> table = normalize_results(pd.DataFrame({"train_per_class": [5, None, "all"]}))
        >>> table["train_per_class"].tolist()
        [5.0, nan, nan]
    """
    table = table.copy()
    if "train_per_class" in table:
        table["train_per_class"] = [_train_per_class(v) for v in table["train_per_class"]]
        table["train_per_class"] = table["train_per_class"].astype(float)
    if "image_size" in table:
        values = [None if _missing(v) else image_size_value(v) for v in table["image_size"]]
        table["image_size"] = pd.Series(values, index=table.index, dtype=object)
        if all(isinstance(v, int) for v in values):
            table["image_size"] = table["image_size"].astype("int64")
    if "seed" in table and table["seed"].notna().all():
        table["seed"] = table["seed"].astype("int64")
    if "country" in table:
        values = [None if _missing(v) else str(v) for v in table["country"]]
        table["country"] = pd.Series(values, index=table.index, dtype=object)
    if "budget" in table:
        table["budget"] = [v if _missing(v) else _budget_text(v) for v in table["budget"]]
    if "fine_tune_start" in table:
        table["fine_tune_start"] = pd.to_numeric(table["fine_tune_start"], errors="coerce")
    known = [c for c in RESULT_COLUMNS if c in table.columns]
    return table[known + [c for c in table.columns if c not in RESULT_COLUMNS]]


def run_key(row: Mapping) -> tuple | None:
    """What identifies the run of ``row`` (:data:`KEY_COLUMNS`), or None if it cannot be told.

    Args:
        row: a results row (a dict, or a DataFrame row as a dict).

    Returns:
        A hashable tuple; None when a key column is missing or empty (an older results file),
        so the row never matches a run.

    Example:
        >>> row = {"strategy": "scratch", "backbone": "small_cnn", "data": "photos", "seed": 0,
        ...        "train_per_class": float("nan"), "image_size": 64,
        ...        "budget": '{"epochs": 3}', "country": None, "distribute": "default"}
        >>> run_key(row) == run_key({**row, "train_per_class": None, "image_size": "64x64"})
        True
        >>> run_key({"strategy": "scratch", "seed": 0}) is None
        True
    """
    values = []
    for column in KEY_COLUMNS:
        if column not in row:
            return None
        value = row[column]
        if column == "train_per_class":
            size = _train_per_class(value)
            value = None if math.isnan(size) else int(size)
        elif column == "country":
            value = None if _missing(value) else str(value)
        elif _missing(value):
            return None
        elif column == "seed":
            value = int(value)
        elif column == "image_size":
            value = image_size_value(value)
        elif column == "budget":
            value = _budget_text(value)
        values.append(value)
    return tuple(values)


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``results.csv`` back, normalised as the runner keeps it in memory.

    Args:
        path: the file (``OUT/results.csv``).

    Returns:
        The normalised table (:func:`normalize_results`).

    Raises:
        InvalidParameterError: the file does not exist or is not a CSV table.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "results.csv"
        >>> write_results(pd.DataFrame({"strategy": ["scratch"], "train_per_class": [None]}), path)
        >>> read_results(path)["train_per_class"].isna().all()
        np.True_
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise invalid_parameter("path", "read_results", "an existing results.csv", str(path))
    try:
        table = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidParameterError(
            f"The 'path' parameter of read_results must be a results table (CSV). {str(path)!r} "
            f"could not be read: {error}"
        ) from None
    return normalize_results(table)


def _for_disk(table: pd.DataFrame, columns_first) -> pd.DataFrame:
    table = normalize_results(table)
    known = [c for c in columns_first if c in table.columns]
    table = table[known + [c for c in table.columns if c not in known]]
    if "train_per_class" in table:
        # Sizes as ints ("5", not "5.0"), all data as an empty cell.
        sizes = table["train_per_class"]
        table["train_per_class"] = pd.Series(
            [None if math.isnan(v) else int(v) for v in sizes], index=table.index, dtype=object
        )
    return table


def write_results(
    table: pd.DataFrame | Iterable[Mapping],
    path: str | os.PathLike,
    columns_first: Iterable[str] = RESULT_COLUMNS,
) -> None:
    """Write the table to ``path`` atomically (a kill during a write never corrupts it).

    Args:
        table: a results DataFrame, or rows.
        path: the file; its folder must exist.
        columns_first: the order of the known columns (others follow). Defaults to
            :data:`RESULT_COLUMNS`.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "results.csv"
        >>> write_results([{"strategy": "scratch", "train_per_class": 5}], path)
        >>> path.read_text().splitlines()
        ['strategy,train_per_class', 'scratch,5']
    """
    if not isinstance(table, pd.DataFrame):
        table = pd.DataFrame(list(table))
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    _for_disk(table, tuple(columns_first)).to_csv(tmp, index=False)
    os.replace(tmp, path)
