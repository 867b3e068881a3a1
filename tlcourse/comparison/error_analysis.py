"""Which photos each strategy gets wrong, read from a predictions table (``predictions.csv``
of ``tlcourse compare``, or :func:`prediction_table` of one model's predictions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tlcourse.comparison.predictions import PREDICTION_COLUMNS
from tlcourse.validation import Rule, frame_with, validate_params

__all__ = ["PREDICTION_COLUMNS", "PREDICTIONS", "class_order", "confusion_matrix",
           "fixed_by_transfer", "prediction_table"]  # fmt: skip

#: A predictions table, as the figures and the functions below take it.
PREDICTIONS = frame_with("strategy", "true", "predicted")


def _names(values, class_names) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim == 2:  # probabilities: the predicted class is the most probable one
        values = values.argmax(axis=1)
    if np.issubdtype(values.dtype, np.integer) and class_names is not None:
        return np.asarray(class_names, dtype=object)[values]
    return values.astype(str)


def _labels_rule(arguments, like: str | None = None) -> list:
    """Labels (or probabilities), one per image (as many as ``like``), within ``class_names``."""
    names, count = arguments["class_names"], like and len(np.asarray(arguments[like]))

    def ok(values) -> bool:
        labels = np.asarray(values)
        labels = labels.argmax(axis=1) if labels.ndim == 2 else labels
        in_range = names is None or not np.issubdtype(labels.dtype, np.integer) or (
            labels.min(initial=0) >= 0 and labels.max(initial=0) < len(names))  # fmt: skip
        return labels.ndim == 1 and in_range and (count is None or len(labels) == count)

    rule = "a 1-D array of labels or 2-D probabilities"
    rule += f" over labels in [0, {len(names) - 1}]" if names is not None else ""
    return [Rule(ok, rule + (f", one per label ({count})" if like else ""))]


_CLASS_NAMES = Rule(lambda v: not isinstance(v, str) and len(v) > 0, "a list of class names")


@validate_params({
    "class_names": [None, _CLASS_NAMES], "y_true": _labels_rule,
    "y_pred": lambda arguments: _labels_rule(arguments, like="y_true"),
    "files": lambda arguments: [None, Rule(
        lambda files: not isinstance(files, str) and len(files) == len(arguments["y_true"]),
        f"one file per label ({len(arguments['y_true'])})")]})  # fmt: skip
def prediction_table(y_true, y_pred, class_names: Sequence[str] | None = None, *,
                     files: Sequence | None = None, strategy: str = "model",
                     seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """A predictions table from one model's predictions, e.g. in a notebook.

    ``y_true`` holds labels (ints indexing ``class_names``, or names); ``y_pred`` labels or
    the model's probabilities ``(n, classes)`` (then ``confidence`` is the highest one, else
    NaN). ``files`` (optional) name each row's image for :func:`tlcourse.plot_gallery`; a
    registered strategy's name as ``strategy`` colours the figures.

    Example:
        >>> table = prediction_table([0, 1, 1], [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]],
        ...                          ["cat", "dog"])
        >>> table[["true", "predicted", "confidence"]].values.tolist()
        [['cat', 'cat', 0.9], ['dog', 'cat', 0.6], ['dog', 'dog', 0.8]]
    """
    probabilities = np.asarray(y_pred)
    true, predicted = _names(y_true, class_names), _names(y_pred, class_names)
    confidence = probabilities.max(axis=1).astype(float) if probabilities.ndim == 2 else np.nan
    files = None if files is None else [str(f) for f in files]
    return pd.DataFrame({"strategy": strategy, "seed": seed, "file": files, "true": true,
                         "predicted": predicted, "confidence": confidence})  # fmt: skip


def class_order(predictions: pd.DataFrame) -> list[str]:
    """The class names of a predictions table, sorted (as ``Dataset.class_names`` are).

    Example:
        >>> class_order(pd.DataFrame({"true": ["dog", "cat"], "predicted": ["cat", "bird"]}))
        ['bird', 'cat', 'dog']
    """
    values = pd.concat([predictions["true"], predictions["predicted"]]).dropna().astype(str)
    return sorted(values.unique())


def _strategies(predictions) -> list[str]:
    return list(dict.fromkeys(predictions["strategy"].astype(str)))


def _strategy_rule(arguments) -> list:
    """A strategy of the table (None: every row, for ``strategy``; required for a baseline)."""
    known = _strategies(arguments["predictions"])
    return [None, Rule(lambda name: str(name) in known, f"one of the table's strategies {known}")]


@validate_params({"predictions": [PREDICTIONS], "strategy": _strategy_rule})
def confusion_matrix(predictions: pd.DataFrame, strategy=None, classes=None) -> pd.DataFrame:
    """Counts of (true, predicted) classes, pooled over every run (seed) of a ``strategy``.

    ``strategy`` None counts every row; ``classes`` (default: the table's, sorted) orders the
    rows (``true``) and columns (``predicted``); the diagonal counts correct predictions.

    Example:
        >>> runs = pd.DataFrame({"strategy": "scratch", "seed": [0, 0, 1, 1],
        ...     "true": ["cat", "dog", "cat", "dog"], "predicted": ["cat", "cat", "cat", "dog"]})
        >>> confusion_matrix(runs).values.tolist()
        [[2, 0], [1, 1]]
    """
    if strategy is not None:
        predictions = predictions[predictions["strategy"].astype(str) == str(strategy)]
    classes = class_order(predictions) if classes is None else list(classes)
    true, predicted = (pd.Categorical(predictions[c].astype(str), categories=classes)
                       for c in ("true", "predicted"))  # fmt: skip
    table = pd.crosstab(true, predicted, dropna=False)
    table.index.name, table.columns.name = "true", "predicted"
    return table.reindex(index=classes, columns=classes, fill_value=0).astype(int)


def _transfer_rule(arguments) -> list:
    others = [s for s in _strategies(arguments["predictions"]) if s != arguments["baseline"]]
    listed = Rule(lambda names: set(names) <= set(others), f"a list of strategies of {others}")
    return [None, listed]


@validate_params({"predictions": [frame_with("strategy", "true", "predicted", "file")],
                  "baseline": lambda arguments: _strategy_rule(arguments)[1:],
                  "transfer": _transfer_rule})  # fmt: skip
def fixed_by_transfer(predictions: pd.DataFrame, baseline: str = "scratch",
                      transfer: Sequence[str] | None = None) -> pd.DataFrame:  # fmt: skip
    """Test photos the baseline gets wrong and a transfer strategy gets right.

    Over seeds, a photo is "wrong" for the baseline when most of its runs misclassify it, and
    "right" for a transfer strategy (default: every other strategy of the table) when most of its
    runs classify it correctly. One row per photo, the baseline's surest mistakes first: ``file``,
    ``true``, ``baseline_predicted`` (its most frequent prediction), ``baseline_wrong`` (share of
    its runs wrong), then per transfer strategy ``<name>_right`` and ``<name>_predicted``.

    Example:
        >>> runs = pd.DataFrame({"strategy": ["scratch", "scratch", "fine_tuning",
        ...     "fine_tuning"], "file": ["a.jpg", "b.jpg"] * 2, "true": ["cat", "dog"] * 2,
        ...     "predicted": ["dog", "dog", "cat", "dog"]})
        >>> fixed = fixed_by_transfer(runs)
        >>> fixed[["file", "baseline_predicted", "fine_tuning_right"]].values.tolist()
        [['a.jpg', 'dog', 1.0]]
    """
    known = _strategies(predictions)
    transfer = [s for s in known if s != baseline] if transfer is None else list(transfer)
    text = predictions[["strategy", "file", "true", "predicted"]].astype(str)
    frame = predictions.assign(strategy=text["strategy"], file=text["file"],
                               right=text["true"] == text["predicted"])  # fmt: skip

    def per_file(strategy: str) -> pd.DataFrame:
        rows = frame[frame["strategy"] == strategy].groupby("file")
        return pd.DataFrame({
            "true": rows["true"].first().astype(str), "right": rows["right"].mean(),
            "predicted": rows["predicted"].agg(lambda p: p.astype(str).mode().iloc[0]),
        })  # fmt: skip

    base = per_file(baseline)
    table = pd.DataFrame({"true": base["true"], "baseline_predicted": base["predicted"],
                          "baseline_wrong": 1 - base["right"]})  # fmt: skip
    rescued = pd.Series(False, index=table.index)
    for name in transfer:
        other = per_file(name).reindex(table.index)
        table[f"{name}_right"] = other["right"]
        table[f"{name}_predicted"] = other["predicted"]
        rescued |= other["right"].fillna(0) > 0.5
    chosen = table[(table["baseline_wrong"] > 0.5) & rescued]
    chosen = chosen.sort_values("baseline_wrong", ascending=False, kind="stable")
    return chosen.rename_axis("file").reset_index()
