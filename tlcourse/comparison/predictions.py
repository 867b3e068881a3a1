"""The predictions table of a comparison: one row per test image per run.

``OUT/predictions.csv`` holds, for every run of ``results.csv``, the class each test image
really is and the class the run predicted, with the predicted class's probability:

``strategy, backbone, dataset, seed, train_per_class, image_size, file, true, predicted,
confidence``, then the rest of the run's key (``data, budget, country, distribute``) so that the
predictions of a run are found again exactly (:data:`~tlcourse.comparison.results.KEY_COLUMNS`).
``true`` and ``predicted`` are class names; ``file`` is the image's path.

The runner takes each row's ``test_accuracy`` from the same probabilities, so the mean of
``true == predicted`` over a run's predictions **is** its ``test_accuracy``
(:func:`prediction_accuracy`), and records in ``test_predictions`` how many rows the run wrote.
Both files are rewritten atomically after every run, predictions first: a run whose row exists
but whose predictions do not (or not all of them) is computed again by ``resume``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from tlcourse.comparison.results import KEY_COLUMNS, normalize_results, run_key, write_results
from tlcourse.errors import InvalidParameterError, invalid_parameter

__all__ = [
    "PREDICTIONS_FILE",
    "PREDICTION_COLUMNS",
    "prediction_accuracy",
    "prediction_rows",
    "read_predictions",
    "write_predictions",
]

PREDICTIONS_FILE = "predictions.csv"

#: The columns of ``predictions.csv``, in order.
PREDICTION_COLUMNS = (
    "strategy",
    "backbone",
    "dataset",
    "seed",
    "train_per_class",
    "image_size",
    "file",
    "true",
    "predicted",
    "confidence",
    *(c for c in KEY_COLUMNS if c not in ("strategy", "backbone", "seed", "train_per_class",
                                         "image_size")),
)  # fmt: skip


def prediction_rows(identity: dict, data, probabilities) -> pd.DataFrame:
    """The predictions of one run, one row per test image of ``data``.

    Args:
        identity: the run's identity columns (strategy, backbone, dataset, seed...).
        data: the run's :class:`~tlcourse.data.Dataset`.
        probabilities: ``(n_test, num_classes)`` class probabilities, in test-file order.

    Returns:
        A DataFrame with :data:`PREDICTION_COLUMNS`.

    Raises:
        InvalidParameterError: ``probabilities`` does not have one row per test image and one
            column per class.

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
        raise invalid_parameter(
            "probabilities", "prediction_rows", f"an array of shape {expected} (test images, "
            "classes)", f"an array of shape {probabilities.shape}",
        )  # fmt: skip
    names = np.array(data.class_names, dtype=object)
    predicted = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, int)
    rows = pd.DataFrame(
        {
            "file": [str(f) for f in data.files["test"]],
            "true": names[data.labels["test"]],
            "predicted": names[predicted],
            "confidence": probabilities.max(axis=1) if len(probabilities) else [],
        }
    )
    for column in reversed([c for c in PREDICTION_COLUMNS if c in identity]):
        rows.insert(0, column, [identity[column]] * len(rows))
    return _ordered(rows)


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    table = normalize_results(table)
    known = [c for c in PREDICTION_COLUMNS if c in table.columns]
    return table[known + [c for c in table.columns if c not in PREDICTION_COLUMNS]]


def prediction_accuracy(predictions: pd.DataFrame) -> pd.Series:
    """Mean of ``true == predicted`` per run, indexed by run key (what ``test_accuracy`` is).

    Args:
        predictions: the predictions table.

    Returns:
        A Series ``{run key: accuracy}`` (keys as :func:`~tlcourse.comparison.results.run_key`).

    Example:
        >>> table = pd.DataFrame({"true": ["a", "b"], "predicted": ["a", "a"]})
        >>> prediction_accuracy(table).tolist()  # no key columns: one unnamed run
        [0.5]
    """
    correct = (predictions["true"] == predictions["predicted"]).astype(float)
    keys = [run_key(row) for row in predictions.to_dict("records")]
    by = pd.Series(keys, index=predictions.index, dtype=object)
    return correct.groupby(by, dropna=False, sort=False).mean()


def _path(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    return path / PREDICTIONS_FILE if path.is_dir() else path


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``predictions.csv`` back (the file, or the comparison's output folder).

    Args:
        path: ``OUT/predictions.csv`` or ``OUT``.

    Returns:
        The table, normalised as :func:`~tlcourse.comparison.read_results` normalises results
        (``train_per_class`` NaN for all training images...).

    Raises:
        InvalidParameterError: no such file, or not a CSV table.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> write_predictions(pd.DataFrame({"strategy": ["x"], "true": ["a"],
        ...                                 "predicted": ["a"]}), folder / PREDICTIONS_FILE)
        >>> read_predictions(folder)["predicted"].tolist()
        ['a']
    """
    file = _path(path)
    if not file.is_file():
        raise invalid_parameter(
            "path", "read_predictions", f"an existing {PREDICTIONS_FILE} or a folder holding "
            "one (the out folder of tlcourse.compare)", str(path),
        )  # fmt: skip
    try:
        # Class names stay text even when they look like numbers (folders "0", "1"...).
        table = pd.read_csv(file, dtype={c: str for c in ("file", "true", "predicted")})
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidParameterError(
            f"The 'path' parameter of read_predictions must be a predictions table (CSV). "
            f"{str(file)!r} could not be read: {error}"
        ) from None
    return _ordered(table)


def write_predictions(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the predictions table to ``path`` atomically (as results are written).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / PREDICTIONS_FILE
        >>> write_predictions(pd.DataFrame({"file": ["a.jpg"], "strategy": ["x"]}), path)
        >>> path.read_text().splitlines()[0]
        'strategy,file'
    """
    write_results(_ordered(table), path, columns_first=PREDICTION_COLUMNS)
