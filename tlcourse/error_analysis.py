"""Which photos each strategy gets wrong: the predictions table and what is read from it.

``tlcourse compare`` writes ``predictions.csv``: one row per test image per run, with the
columns of :data:`PREDICTION_COLUMNS` (``true`` and ``predicted`` are class names,
``confidence`` the predicted class's probability). A notebook makes the same table from one
model's predictions with :func:`prediction_table`. From it, :func:`confusion_matrix` counts
(true, predicted) pairs per strategy, pooled over seeds, and :func:`fixed_by_transfer` finds the
photos that training from scratch gets wrong and transfer learning gets right; the figures
:func:`tlcourse.plot_confusion` and :func:`tlcourse.plot_gallery` draw them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tlcourse.comparison.predictions import PREDICTION_COLUMNS
from tlcourse.errors import InvalidParameterError, invalid_parameter

__all__ = [
    "PREDICTION_COLUMNS",
    "check_predictions",
    "class_order",
    "confusion_matrix",
    "fixed_by_transfer",
    "prediction_table",
]

# The comparison writes predictions.csv, so its module owns the column list.
_NEEDED = ("strategy", "true", "predicted")


def check_predictions(predictions, func: str, needed: Sequence[str] = _NEEDED) -> pd.DataFrame:
    """Return ``predictions`` if it is a non-empty DataFrame with the ``needed`` columns.

    Example:
        >>> check_predictions(pd.DataFrame({"strategy": ["a"], "true": ["cat"]}), "f")
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'predictions' parameter of f is missing the \
column(s) ['predicted']; it needs ['strategy', 'true', 'predicted'] (see \
tlcourse.error_analysis.PREDICTION_COLUMNS, or make one with prediction_table). Got columns \
['strategy', 'true'].
    """
    if not isinstance(predictions, pd.DataFrame):
        raise InvalidParameterError(
            f"The 'predictions' parameter of {func} must be a pandas DataFrame with the columns "
            f"{list(needed)} (predictions.csv, read, or prediction_table(...)). Got "
            f"{type(predictions).__name__} instead."
        )
    missing = [c for c in needed if c not in predictions.columns]
    if missing:
        raise InvalidParameterError(
            f"The 'predictions' parameter of {func} is missing the column(s) {missing}; it "
            f"needs {list(needed)} (see tlcourse.error_analysis.PREDICTION_COLUMNS, or make "
            f"one with prediction_table). Got columns {list(predictions.columns)}."
        )
    if predictions.empty:
        raise InvalidParameterError(
            f"The 'predictions' parameter of {func} is an empty DataFrame; it needs one row "
            "per test image."
        )
    return predictions


def _names(values, class_names, param: str, func: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim == 2:  # probabilities: the predicted class is the most probable one
        values = values.argmax(axis=1)
    if values.ndim != 1:
        raise invalid_parameter(param, func, "a 1-D array of labels or 2-D probabilities",
                                f"an array of shape {values.shape}")  # fmt: skip
    if np.issubdtype(values.dtype, np.integer):
        if class_names is None:
            return values.astype(str)
        bad = values[(values < 0) | (values >= len(class_names))]
        if len(bad):
            raise invalid_parameter(
                param, func, f"labels in [0, {len(class_names) - 1}] (one per class name)",
                int(bad[0]),
            )  # fmt: skip
        return np.asarray(class_names, dtype=object)[values]
    return values.astype(str)


def prediction_table(
    y_true,
    y_pred,
    class_names: Sequence[str] | None = None,
    *,
    files: Sequence | None = None,
    strategy: str = "model",
    seed: int = 0,
) -> pd.DataFrame:
    """A predictions table from one model's predictions, e.g. in a notebook.

    Args:
        y_true: the true labels: ints (indices into ``class_names``) or class names.
        y_pred: the predicted labels, or the model's probabilities ``(n, classes)`` (then the
            predicted class is the most probable and ``confidence`` its probability).
        class_names: the class names, label ``i`` being ``class_names[i]``
            (``data.class_names``). None keeps the labels as they are. Defaults to None.
        files: the image file of each row, for :func:`tlcourse.plot_gallery`. Defaults to None.
        strategy: the ``strategy`` column: a registered strategy's name colours the figures,
            any other name is drawn as given. Defaults to ``"model"``.
        seed: the ``seed`` column. Defaults to 0.

    Returns:
        DataFrame with ``strategy``, ``seed``, ``file``, ``true``, ``predicted`` and
        ``confidence`` (NaN without probabilities).

    Raises:
        InvalidParameterError: lengths that differ, or labels outside ``class_names``.

    Example:
        >>> table = prediction_table([0, 1, 1], [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]],
        ...                          ["cat", "dog"])
        >>> table[["true", "predicted", "confidence"]].values.tolist()
        [['cat', 'cat', 0.9], ['dog', 'cat', 0.6], ['dog', 'dog', 0.8]]
    """
    func = "prediction_table"
    if class_names is not None and (isinstance(class_names, str) or not len(class_names)):
        raise invalid_parameter("class_names", func, "None or a list of class names", class_names)
    probabilities = np.asarray(y_pred)
    true = _names(y_true, class_names, "y_true", func)
    predicted = _names(y_pred, class_names, "y_pred", func)
    confidence = (
        probabilities.max(axis=1).astype(float)
        if probabilities.ndim == 2
        else np.full(len(predicted), np.nan)
    )
    if len(true) != len(predicted) or (files is not None and len(files) != len(true)):
        raise invalid_parameter(
            "y_pred", func, f"one prediction per label ({len(true)}), and as many files",
            f"{len(predicted)} predictions" + ("" if files is None else f", {len(files)} files"),
        )  # fmt: skip
    return pd.DataFrame(
        {
            "strategy": strategy,
            "seed": seed,
            "file": None if files is None else [str(f) for f in files],
            "true": true,
            "predicted": predicted,
            "confidence": confidence,
        }
    )


def class_order(predictions: pd.DataFrame) -> list[str]:
    """The class names of a predictions table, sorted (as ``Dataset.class_names`` are).

    Example:
        >>> class_order(pd.DataFrame({"true": ["dog", "cat"], "predicted": ["cat", "bird"]}))
        ['bird', 'cat', 'dog']
    """
    values = pd.concat([predictions["true"], predictions["predicted"]]).dropna().astype(str)
    return sorted(values.unique())


def confusion_matrix(predictions: pd.DataFrame, strategy=None, classes=None) -> pd.DataFrame:
    """Counts of (true, predicted) classes, pooled over every run (seed) of a strategy.

    Args:
        predictions: a predictions table (see the module).
        strategy: the strategy whose rows are counted; None counts every row (a table with
            one strategy). Defaults to None.
        classes: the class names, in order; None takes those of the table, sorted. Defaults
            to None.

    Returns:
        DataFrame of ints: one row per true class (index ``true``), one column per predicted
        class (``predicted``); the diagonal counts the correct predictions.

    Raises:
        InvalidParameterError: not a predictions table, or an unknown ``strategy``.

    Example:
        >>> runs = pd.DataFrame({"strategy": "scratch", "seed": [0, 0, 1, 1],
        ...     "true": ["cat", "dog", "cat", "dog"], "predicted": ["cat", "cat", "cat", "dog"]})
        >>> confusion_matrix(runs).values.tolist()
        [[2, 0], [1, 1]]
    """
    func = "confusion_matrix"
    predictions = check_predictions(predictions, func)
    if strategy is not None:
        known = sorted(predictions["strategy"].astype(str).unique())
        if str(strategy) not in known:
            raise invalid_parameter("strategy", func, f"None or one of {known}", strategy)
        predictions = predictions[predictions["strategy"].astype(str) == str(strategy)]
    classes = class_order(predictions) if classes is None else list(classes)
    table = pd.crosstab(
        pd.Categorical(predictions["true"].astype(str), categories=classes),
        pd.Categorical(predictions["predicted"].astype(str), categories=classes),
        dropna=False,
    )
    table.index.name, table.columns.name = "true", "predicted"
    return table.reindex(index=classes, columns=classes, fill_value=0).astype(int)


def fixed_by_transfer(
    predictions: pd.DataFrame, baseline: str = "scratch", transfer: Sequence[str] | None = None
) -> pd.DataFrame:
    """Test photos the baseline gets wrong and a transfer strategy gets right.

    Over seeds, a photo counts as "wrong" for the baseline when most of its runs (seeds)
    misclassify it, and as "right" for a transfer strategy when most of that strategy's runs
    classify it correctly.

    Args:
        predictions: a predictions table with a ``file`` column.
        baseline: the strategy trained without transfer. Defaults to ``"scratch"``.
        transfer: the strategies to compare with; None for every strategy of the table except
            ``baseline``. Defaults to None.

    Returns:
        One row per photo, sorted by how sure the baseline's mistake is: ``file``, ``true``,
        ``baseline_predicted`` (its most frequent prediction), ``baseline_wrong`` (share of
        its runs wrong), then per transfer strategy ``<name>_right`` (share of its runs right)
        and ``<name>_predicted``; empty when no photo qualifies.

    Raises:
        InvalidParameterError: not a predictions table with files, or a strategy not in it.

    Example:
        >>> runs = pd.DataFrame({"strategy": ["scratch", "scratch", "fine_tuning",
        ...     "fine_tuning"], "file": ["a.jpg", "b.jpg"] * 2, "true": ["cat", "dog"] * 2,
        ...     "predicted": ["dog", "dog", "cat", "dog"]})
        >>> fixed = fixed_by_transfer(runs)
        >>> fixed[["file", "baseline_predicted", "fine_tuning_right"]].values.tolist()
        [['a.jpg', 'dog', 1.0]]
    """
    func = "fixed_by_transfer"
    predictions = check_predictions(predictions, func, (*_NEEDED, "file"))
    known = list(dict.fromkeys(predictions["strategy"].astype(str)))
    if baseline not in known:
        raise invalid_parameter("baseline", func, f"one of the table's strategies {known}",
                                baseline)  # fmt: skip
    transfer = [s for s in known if s != baseline] if transfer is None else list(transfer)
    for name in transfer:
        if name not in known or name == baseline:
            raise invalid_parameter("transfer", func, f"None or strategies of {known} other "
                                    f"than {baseline!r}", name)  # fmt: skip
    frame = predictions.assign(
        strategy=predictions["strategy"].astype(str),
        file=predictions["file"].astype(str),
        right=predictions["true"].astype(str) == predictions["predicted"].astype(str),
    )

    def per_file(strategy: str) -> pd.DataFrame:
        rows = frame[frame["strategy"] == strategy].groupby("file")
        return pd.DataFrame(
            {
                "true": rows["true"].first().astype(str),
                "right": rows["right"].mean(),
                "predicted": rows["predicted"].agg(lambda p: p.astype(str).mode().iloc[0]),
            }
        )

    base = per_file(baseline)
    table = pd.DataFrame(
        {
            "true": base["true"],
            "baseline_predicted": base["predicted"],
            "baseline_wrong": 1 - base["right"],
        }
    )
    rescued = pd.Series(False, index=table.index)
    for name in transfer:
        other = per_file(name).reindex(table.index)
        table[f"{name}_right"] = other["right"]
        table[f"{name}_predicted"] = other["predicted"]
        rescued |= other["right"].fillna(0) > 0.5
    chosen = table[(table["baseline_wrong"] > 0.5) & rescued]
    chosen = chosen.sort_values("baseline_wrong", ascending=False, kind="stable")
    return chosen.rename_axis("file").reset_index()
