"""Mean and spread over seeds of a comparison's results."""

from __future__ import annotations

import pandas as pd

from tlcourse.comparison.results import normalize_results
from tlcourse.validation import frame_with, validate_params

__all__ = ["summarize"]

_NEEDED = ("strategy", "seed", "train_per_class", "test_accuracy", "wall_seconds", "co2_kg",
           "trainable_params")  # fmt: skip


@validate_params({"results": [frame_with(*_NEEDED)]})
def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread over seeds, one row per strategy (and training-set size).

    ``results``: what :func:`tlcourse.compare` returns, or ``results.csv`` read back. The
    columns are named below (``train_per_class``: an int, or ``"all"``); the CO2 range and the
    deployment medians come when the results have them.

    Example:
        >>> runs = pd.DataFrame({"strategy": ["scratch"] * 2, "seed": [0, 1],
        ...     "train_per_class": [None, None], "test_accuracy": [0.5, 0.7],
        ...     "wall_seconds": [10.0, 12.0], "co2_kg": [1e-5, 1e-5],
        ...     "trainable_params": [98454, 98454]})
        >>> summarize(runs)[["train_per_class", "runs", "accuracy_mean"]].values.tolist()
        [['all', 2, 0.6]]
    """
    frame = normalize_results(results)
    frame["train_per_class"] = frame["train_per_class"].fillna(-1)
    grouped = frame.groupby(["train_per_class", "strategy"], sort=False)
    table = grouped.agg(
        runs=("seed", "count"), accuracy_mean=("test_accuracy", "mean"),
        accuracy_std=("test_accuracy", "std"), accuracy_min=("test_accuracy", "min"),
        accuracy_max=("test_accuracy", "max"), seconds_mean=("wall_seconds", "mean"),
        co2_g_mean=("co2_kg", lambda s: s.mean() * 1000),
        trainable_params=("trainable_params", "median"), **_optional_columns(frame),
    ).reset_index()  # fmt: skip
    sizes = ["all" if v == -1 else int(v) for v in table["train_per_class"]]
    table["train_per_class"] = pd.Series(sizes, dtype=object)
    return table


def _optional_columns(frame: pd.DataFrame) -> dict:
    """The aggregations of the columns only some results tables have."""
    grams = {
        "co2_g_low_mean": ("co2_kg_low", lambda s: s.mean() * 1000),
        "co2_g_high_mean": ("co2_kg_high", lambda s: s.mean() * 1000),
        "model_mb": ("model_mb", "median"),
        "latency_ms": ("latency_ms", "median"),
        "co2_per_1000_predictions_g": ("co2_per_1000_predictions_kg", lambda s: s.median() * 1000),
    }
    return {name: spec for name, spec in grams.items() if spec[0] in frame.columns}
