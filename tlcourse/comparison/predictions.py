"""The predictions table of a comparison (``OUT/predictions.csv``): one row per test image per run.

Each row holds the image's ``file``, its ``true`` class and the ``predicted`` one (class names),
that class's ``confidence`` and the run's key, so the mean of ``true == predicted`` over a run's
rows **is** its ``test_accuracy`` (:func:`prediction_accuracy`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from tlcourse.comparison.results import (
    PREDICTION_COLUMNS,
    PREDICTIONS_FILE,
    TEXT_COLUMNS,
    normalize_results,
    read_table,
    run_key,
    write_results,
)  # fmt: skip
from tlcourse.errors import invalid_parameter

__all__ = ["PREDICTIONS_FILE", "PREDICTION_COLUMNS", "prediction_accuracy", "prediction_rows",
           "read_predictions", "write_predictions"]  # fmt: skip


def prediction_rows(identity: dict, data, probabilities) -> pd.DataFrame:
    """The predictions of one run, one row per test image of ``data`` (a Dataset), from its
    ``probabilities`` ``(n_test, num_classes)`` in test-file order.

    Example:
        >>> from tlcourse import load_dataset
        >>> data = load_dataset("photos", image_size=32)
        >>> p = np.eye(6)[data.labels["test"]]
        >>> rows = prediction_rows({"strategy": "oracle", "seed": 0}, data, p)
        >>> len(rows), bool((rows["true"] == rows["predicted"]).all())
        (46, True)
    """
    probabilities = np.asarray(probabilities, dtype=float)
    expected = (len(data.files["test"]), data.num_classes)
    if probabilities.shape != expected:
        rule = f"an array of shape {expected} (test images, classes)"
        got = f"an array of shape {probabilities.shape}"
        raise invalid_parameter("probabilities", "prediction_rows", rule, got)
    names = np.array(data.class_names, dtype=object)
    rows = pd.DataFrame({
        "file": [str(f) for f in data.files["test"]], "true": names[data.labels["test"]],
        "predicted": names[probabilities.argmax(axis=1)], "confidence": probabilities.max(axis=1),
    }).assign(**{c: identity[c] for c in PREDICTION_COLUMNS if c in identity})  # fmt: skip
    return normalize_results(rows, PREDICTION_COLUMNS)


def prediction_accuracy(predictions: pd.DataFrame) -> pd.Series:
    """Mean of ``true == predicted`` per run, indexed by run key (what ``test_accuracy`` is).

    Example:
        >>> table = pd.DataFrame({"true": ["a", "b"], "predicted": ["a", "a"]})
        >>> prediction_accuracy(table).tolist()  # no key columns: one unnamed run
        [0.5]
    """
    correct = (predictions["true"] == predictions["predicted"]).astype(float)
    keys = [run_key(row) for row in predictions.to_dict("records")]
    by = pd.Series(keys, index=predictions.index, dtype=object)
    return correct.groupby(by, dropna=False, sort=False).mean()


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``predictions.csv`` back (the file, or the comparison's output folder).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> write_predictions(pd.DataFrame({"strategy": ["x"], "true": ["a"],
        ...                                 "predicted": ["a"]}), folder / PREDICTIONS_FILE)
        >>> read_predictions(folder)["predicted"].tolist()
        ['a']
    """
    file = Path(path).expanduser()
    file = file / PREDICTIONS_FILE if file.is_dir() else file
    if not file.is_file():
        raise invalid_parameter("path", "read_predictions", f"an existing {PREDICTIONS_FILE} or a "
                                "folder holding one (the out folder of tlcourse.compare)",
                                str(path))  # fmt: skip
    table = read_table(file, "read_predictions", "a predictions table", TEXT_COLUMNS)
    return normalize_results(table, PREDICTION_COLUMNS)


def write_predictions(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the predictions table to ``path`` atomically (as results are written).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / PREDICTIONS_FILE
        >>> write_predictions(pd.DataFrame({"file": ["a.jpg"], "strategy": ["x"]}), path)
        >>> path.read_text().splitlines()[0]
        'strategy,file'
    """
    write_results(table, path, PREDICTION_COLUMNS)
