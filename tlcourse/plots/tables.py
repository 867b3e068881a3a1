"""Reading a results table the way every results figure does: checks, sizes, title context."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tlcourse.errors import InvalidParameterError
from tlcourse.plots.style import ordered_strategies, trains_backbone
from tlcourse.strategies import strategy_label

__all__ = ["check_frame", "context", "largest_training_set", "several_sizes", "training_sizes"]


def check_frame(frame, required: Sequence[str], func: str, param: str) -> pd.DataFrame:
    """Return ``frame`` if it is a non-empty DataFrame with the ``required`` columns, else raise.

    Example:
        >>> check_frame(pd.DataFrame({"lr": [1e-3]}), ["lr", "loss"], "plot_lr_find", "table")
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'table' parameter of plot_lr_find is missing \
the column(s) ['loss']; it needs ['lr', 'loss']. Got columns ['lr'].
    """
    if not isinstance(frame, pd.DataFrame):
        # The type, not the repr: a results table printed whole would bury the message.
        raise InvalidParameterError(
            f"The {param!r} parameter of {func} must be a pandas DataFrame with the columns "
            f"{list(required)}. Got {type(frame).__name__} instead."
        )
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise InvalidParameterError(
            f"The {param!r} parameter of {func} is missing the column(s) {missing}; it needs "
            f"{list(required)}. Got columns {list(frame.columns)}."
        )
    if frame.empty:
        raise InvalidParameterError(
            f"The {param!r} parameter of {func} is an empty DataFrame; it needs at least one row."
        )
    return frame


def training_sizes(results: pd.DataFrame) -> pd.Series:
    """``train_per_class`` as floats, NaN meaning the full training set.

    The full training set may be stored as NaN, None or ``"all"`` (the command line's word, and
    what a CSV may hold); they are one thing to a figure.

    Example:
        >>> training_sizes(pd.DataFrame({"train_per_class": [5, None, "all", np.nan]})).tolist()
        [5.0, nan, nan, nan]
    """
    return pd.to_numeric(results["train_per_class"].replace("all", np.nan), errors="coerce")


def several_sizes(results: pd.DataFrame) -> bool:
    """True when the table holds several training-set sizes (the full set counts as one).

    Example:
        >>> several_sizes(pd.DataFrame({"train_per_class": [None, np.nan, "all"]}))
        False
    """
    return "train_per_class" in results and training_sizes(results).nunique(dropna=False) > 1


def largest_training_set(results: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of the full training set if any, else of the largest size; and its words."""
    sizes = training_sizes(results)
    full = sizes.isna()
    if full.any():
        return results[full], "full training set"
    largest = sizes.max()
    return results[sizes == largest], f"{largest:g} images per class"


def context(results: pd.DataFrame, func: str) -> str:
    """'backbone on dataset' for titles; refuses a strategy whose runs mix backbones or datasets.

    Strategies may differ (training from scratch uses its own small CNN): the value of the
    strategies that train the backbone comes first, and a strategy that trains a network of its
    own (see :func:`~tlcourse.plots.style.trains_backbone`) is named apart when its value is
    another, e.g. ``"efficientnet_lite0 (from scratch: small_cnn) on photos"``. The seeds
    averaged within one strategy must be alike.

    Example:
        >>> runs = pd.DataFrame({"strategy": ["scratch", "fine_tuning"],
        ...     "backbone": ["small_cnn", "vgg16"], "dataset": "photos"})
        >>> context(runs, "plot_comparison")
        'vgg16 (from scratch: small_cnn) on photos'
    """
    parts = []
    for column in ("backbone", "dataset"):
        if column not in results.columns:
            continue
        values = results[["strategy", column]].dropna().astype(str)
        mixed = values.groupby("strategy")[column].nunique()
        if (mixed > 1).any():
            strategy = mixed.idxmax()
            found = sorted(values.loc[values["strategy"] == strategy, column].unique())
            raise InvalidParameterError(
                f"{func} averages the runs of each strategy, but {strategy!r} has runs with "
                f"{column} {found}. Select one first, e.g. "
                f"results[results[{column!r}] == {found[0]!r}]."
            )
        own = values["strategy"].map(lambda s: not trains_backbone(s)).astype(bool)
        transfer = values.loc[~own, column].unique()
        text = " / ".join(sorted(transfer) or sorted(values[column].unique()))
        if len(transfer):
            for strategy in ordered_strategies(values.loc[own, "strategy"]):
                value = values.loc[values["strategy"] == strategy, column].iloc[0]
                if value not in transfer:
                    label = strategy_label(strategy)
                    text += f" ({label[:1].lower() + label[1:]}: {value})"
        parts += [text] if text else []
    return " on ".join(parts)
