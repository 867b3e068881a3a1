"""The results table of a comparison: its columns, how a run is identified, reading and writing.

One row per run. "All training images" is ``train_per_class`` NaN in memory and an empty cell in
``results.csv``; every table read or built here goes through :func:`normalize_results`. A run is
identified by :data:`KEY_COLUMNS` (the **whole** budget included); a row that lacks one (an older
``results.csv``) is recomputed, never silently reused. :class:`ResultsStore` keeps the files of one
output folder whole through kills, concurrent writers, cut lines and full disks."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock

from tlcourse.comparison.budget import Budget
from tlcourse.errors import InvalidParameterError, TLCourseError, invalid_parameter
from tlcourse.measure import CO2_COLUMNS

__all__ = ["KEY_COLUMNS", "PREDICTIONS_FILE", "PREDICTION_COLUMNS", "RESULTS_FILE",
           "RESULT_COLUMNS", "ResultsStore", "image_size_value", "normalize_results",
           "read_results", "run_key", "write_results"]  # fmt: skip

RESULTS_FILE = "results.csv"
LOCK_FILE = ".results.lock"

#: The columns of a results row, in order.
RESULT_COLUMNS = (
    "strategy", "backbone", "dataset", "data", "image_size", "train_images", "train_per_class",
    "seed", "epochs", "fine_tune_epochs", "depth", "budget", "country", "distribute",
    "test_accuracy", "test_loss", "test_predictions", "trainable_params", "wall_seconds",
    "cpu_seconds", "energy_kwh", "co2_kg", *CO2_COLUMNS, "fine_tune_start", "history")  # fmt: skip

#: What identifies a run: two rows with these equal are the same run.
KEY_COLUMNS = ("strategy", "backbone", "data", "seed", "train_per_class", "image_size", "budget",
               "country", "distribute")  # fmt: skip

PREDICTIONS_FILE = "predictions.csv"
_IDENTITY = ("strategy", "backbone", "dataset", "seed", "train_per_class", "image_size")
#: The columns of ``predictions.csv`` (:mod:`~tlcourse.comparison.predictions`), in order.
PREDICTION_COLUMNS = (*_IDENTITY, "file", "true", "predicted", "confidence",
                      *(c for c in KEY_COLUMNS if c not in _IDENTITY))  # fmt: skip
# Class names stay text even when they look like numbers (folders "0", "1"...).
TEXT_COLUMNS = {c: str for c in ("file", "true", "predicted")}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def image_size_value(size) -> int | str:
    """How an image size is stored: the side for a square, ``"HxW"`` otherwise.

    Example:
        >>> image_size_value((96, 96)), image_size_value((96, 128)), image_size_value("64x64")
        (96, '96x128', 64)
    """
    if isinstance(size, str) and re.fullmatch(r"\d+(x\d+)?", size.strip().lower()):
        size = [int(p) for p in size.lower().split("x")]
    if isinstance(size, tuple | list) and len(size) in (1, 2):
        height, width = int(size[0]), int(size[-1])
        return height if height == width else f"{height}x{width}"
    if isinstance(size, int | np.integer) or (isinstance(size, float) and size.is_integer()):
        return int(size)
    return size


def _train_per_class(value) -> float:
    if _missing(value) or (isinstance(value, str) and value.strip().lower() in ("", "all")):
        return float("nan")
    return float(value)


@functools.lru_cache(maxsize=256)  # every row of predictions.csv repeats its run's budget
def _budget_text(value):
    """The canonical JSON of a stored budget; the value unchanged when it is not one."""
    try:
        config = value.get_config() if isinstance(value, Budget) else json.loads(value)
        return json.dumps(Budget.from_config(config).get_config())
    except (TypeError, ValueError):
        return value


def normalize_results(table: pd.DataFrame, columns: Iterable[str] = RESULT_COLUMNS) -> pd.DataFrame:
    """One representation for every value (see the module); the known ``columns`` first.

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
    known = [c for c in columns if c in table.columns]
    return table[known + [c for c in table.columns if c not in known]]


def run_key(row: Mapping) -> tuple | None:
    """What identifies the run of ``row``, or None when a key column is missing or empty.

    Example:
        >>> row = {"strategy": "scratch", "backbone": "small_cnn", "data": "photos", "seed": 0,
        ...        "train_per_class": float("nan"), "image_size": 64,
        ...        "budget": '{"epochs": 3}', "country": None, "distribute": "default"}
        >>> run_key(row) == run_key({**row, "train_per_class": None, "image_size": "64x64"})
        True
        >>> run_key({"strategy": "scratch", "seed": 0}) is None
        True
    """
    if any(c not in row for c in KEY_COLUMNS) or any(
        _missing(row[c]) for c in KEY_COLUMNS if c not in ("train_per_class", "country")
    ):
        return None
    size, country = _train_per_class(row["train_per_class"]), row["country"]
    values = {**{c: row[c] for c in KEY_COLUMNS}, "seed": int(row["seed"]),
              "train_per_class": None if math.isnan(size) else int(size),
              "image_size": image_size_value(row["image_size"]),
              "budget": _budget_text(row["budget"]),
              "country": None if _missing(country) else str(country)}  # fmt: skip
    return tuple(values[c] for c in KEY_COLUMNS)


def read_table(path: Path, func: str, what: str, dtype=None, set_aside: bool = False):
    """The CSV at ``path`` less a last line cut mid-write (with ``set_aside``: moved to a side
    file, ``<file>.damaged-<time>``), with a one-line notice."""
    try:
        text = path.read_text(encoding="utf-8")
        cut = text.rfind("\n") + 1  # every line this package writes ends with a newline
        if cut < len(text):
            damaged, text = text[cut:], text[:cut]
            note = f"{path} ended in a damaged line ({len(damaged)} characters): left out"
            if set_aside:
                aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
                _write_text(aside, damaged)
                _write_text(path, text)
                note += f", set aside in {aside.name}; its run will be computed again"
            print(f"tlcourse: {note}.", file=sys.stderr)
        return pd.read_csv(StringIO(text), dtype=dtype) if text.strip() else pd.DataFrame()
    except ValueError as error:  # UnicodeDecodeError included
        raise InvalidParameterError(f"The 'path' parameter of {func} must be {what} (CSV). "
                                    f"{str(path)!r} could not be read: "
                                    f"{error}") from None  # fmt: skip


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``results.csv`` back, normalised as the runner keeps it in memory.

    Example:
        >>> path = Path(tempfile.mkdtemp()) / "results.csv"
        >>> write_results(pd.DataFrame({"strategy": ["scratch"], "train_per_class": [None]}), path)
        >>> read_results(path)["train_per_class"].isna().all()
        np.True_
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise invalid_parameter("path", "read_results", "an existing results.csv", str(path))
    return normalize_results(read_table(path, "read_results", "a results table"))


def _cannot_write(path: Path, error: OSError) -> TLCourseError:
    return TLCourseError(  # one line, for the CLI's "tlcourse compare: error: ..."
        f"Could not write {path}: {error.strerror or error}. Free some disk space or choose a "
        "writable folder (--out); what was written there before is unchanged."
    )


def _write_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a temporary file beside it, then ``os.replace``)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(tmp, path)
    except OSError as error:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise _cannot_write(path, error) from None


def write_results(table: pd.DataFrame | Iterable[Mapping], path: str | os.PathLike,
                  columns_first: Iterable[str] = RESULT_COLUMNS) -> None:  # fmt: skip
    """Write the table to ``path`` atomically (a kill or a full disk never leaves half a file).

    Example:
        >>> path = Path(tempfile.mkdtemp()) / "results.csv"
        >>> write_results([{"strategy": "scratch", "train_per_class": 5}], path)
        >>> path.read_text().splitlines()
        ['strategy,train_per_class', 'scratch,5']
    """
    table = normalize_results(pd.DataFrame(table), columns_first)
    if "train_per_class" in table:  # sizes as ints ("5", not "5.0"), all data an empty cell
        sizes = [None if math.isnan(v) else int(v) for v in table["train_per_class"]]
        table["train_per_class"] = pd.Series(sizes, index=table.index, dtype=object)
    _write_text(Path(path), table.to_csv(index=False))


class ResultsStore:
    """``results.csv`` and ``predictions.csv`` of one comparison folder (or None): what is done.

    A row counts as done only with all its predictions (``test_predictions`` rows with its key);
    otherwise its run is computed again and replaces it. Every :meth:`add` takes the folder's
    lock, reads both files again, merges the new run into them (another comparison writing the
    folder loses nothing) and rewrites both atomically, predictions first. ``resume`` reuses
    the finished runs already there; ``overwrite`` forgets them.

    Example:
        >>> folder = Path(tempfile.mkdtemp())
        >>> row = {"strategy": "x", "backbone": "b", "data": "d", "seed": 0, "image_size": 8,
        ...        "train_per_class": None, "budget": "{}", "country": None,
        ...        "distribute": "default", "test_predictions": 0}
        >>> ResultsStore(folder, resume=False, overwrite=False).add(row, pd.DataFrame())
        >>> ResultsStore(folder, resume=True, overwrite=False).find(row)[0]["strategy"]
        'x'
    """

    def __init__(self, folder: Path | None, resume: bool, overwrite: bool):
        self.results = None if folder is None else folder / RESULTS_FILE
        self._predictions = None if folder is None else folder / PREDICTIONS_FILE
        # {key: (row, predictions)} of the runs added here and of those found finished.
        self._added, self._found, self._forgotten, self._dirty = {}, {}, set(), False
        if self.results is None or not self.results.exists():
            return
        if not (resume or overwrite):
            raise invalid_parameter("out", "compare", "a folder without a results.csv, unless "
                                    "resuming or overwriting", str(folder), f"{self.results} "
                                    "already exists. Pass resume=True (--resume) to finish that "
                                    "comparison, or overwrite=True (--overwrite) to start again, "
                                    "or choose another output folder (--out).")  # fmt: skip
        with self._lock():
            rows, predictions, self._dirty = self._read()
        if resume:
            self._found = {k: (r, predictions[k]) for k, r in rows.items() if k in predictions}
        else:
            self._forgotten = set(rows)

    def find(self, identity: dict):
        """``(row, predictions)`` of a finished run with this identity, or None."""
        key = run_key(identity)
        return self._added.get(key, self._found.get(key))

    def add(self, row: dict, predictions: pd.DataFrame) -> None:
        """Record a finished run (replacing an unfinished one) and write both files."""
        self._added[run_key(row)] = (row, predictions)
        self._write()

    def close(self) -> None:
        """Write both files if reading them found predictions of no row."""
        if self._dirty:
            self._write()

    def _lock(self) -> FileLock:
        lock = self.results.parent / LOCK_FILE
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            lock.touch()
        except OSError as error:
            raise _cannot_write(lock, error) from None
        return FileLock(lock)

    def _read(self):
        """``({key: row}, {key: predictions of a finished run}, orphans)`` from the folder."""
        for stale in self.results.parent.glob(".*.csv.*.tmp"):  # a writer killed mid-write
            stale.unlink(missing_ok=True)
        table, stored = (
            normalize_results(read_table(path, "compare", "a CSV table", dtype, True), columns)
            if path.exists() else pd.DataFrame(columns=columns)
            for path, dtype, columns in ((self.results, None, RESULT_COLUMNS),
                                         (self._predictions, TEXT_COLUMNS, PREDICTION_COLUMNS))
        )  # fmt: skip
        rows, done = {}, {}
        keys = pd.Series([run_key(r) for r in stored.to_dict("records")], dtype=object)
        groups = {k: stored.loc[i] for k, i in keys.groupby(keys, sort=False).groups.items()}
        for number, row in enumerate(table.to_dict("records")):
            key = run_key(row)
            key = ("unkeyed", number) if key is None else key  # an older row: kept, never matched
            rows[key] = row
            expected, found = row.get("test_predictions"), groups.get(key, stored.iloc[:0])
            if expected is not None and expected == expected and len(found) == expected:
                done[key] = found
        return rows, done, bool(set(groups) - set(rows))

    def _write(self) -> None:
        self._dirty = False
        if self.results is None:
            return
        with self._lock():
            rows, done, _ = self._read()
            rows = {k: r for k, r in rows.items() if k not in self._forgotten}
            done = {k: found for k, found in done.items() if k in rows}
            for key, (row, predictions) in self._added.items():
                rows[key], done[key] = row, predictions
            stored_columns = pd.DataFrame(columns=PREDICTION_COLUMNS)
            frames = [done[k] for k in rows if k in done and len(done[k])]
            joined = pd.concat(frames, ignore_index=True) if frames else stored_columns
            write_results(joined, self._predictions, PREDICTION_COLUMNS)
            write_results(pd.DataFrame(list(rows.values())), self.results)
