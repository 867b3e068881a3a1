"""The comparison's figures as PNG files (what ``tlcourse compare`` writes next to the table)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from tlcourse.comparison.results import normalize_results
from tlcourse.errors import invalid_parameter
from tlcourse.plots import plot_comparison, plot_data_efficiency, plot_learning_curves, save_figure

__all__ = ["write_figures"]


def write_figures(results: pd.DataFrame, out: str | os.PathLike) -> list[Path]:
    """Save the comparison's figures as PNG files in ``out``.

    Args:
        results: the DataFrame :func:`tlcourse.compare` returns (or ``results.csv`` read back).
        out: output folder (created if missing).

    Returns:
        The paths written: ``comparison.png``, ``learning_curves.png`` and, when several
        training-set sizes were run, ``data_efficiency.png``.

    Raises:
        InvalidParameterError: ``results`` is not a DataFrame (the figures check its columns).

    Example:
        >>> import tempfile
        >>> history = '{"accuracy": [0.5, 0.8], "loss": [1.2, 0.6]}'
        >>> runs = pd.DataFrame({"strategy": ["scratch", "feature_extraction"], "seed": 0,
        ...     "test_accuracy": [0.6, 0.87], "wall_seconds": [12.6, 3.9],
        ...     "co2_kg": [2.5e-5, 7e-6], "co2_method": "estimated", "history": history,
        ...     "train_per_class": [None, "all"], "train_images": 98})
        >>> [p.name for p in write_figures(runs, tempfile.mkdtemp())]
        ['comparison.png', 'learning_curves.png']
    """
    if not isinstance(results, pd.DataFrame):
        raise invalid_parameter("results", "write_figures", "a pandas DataFrame", results)
    # One representation of "all training images" (NaN), whatever the table came from.
    results = normalize_results(results)
    figures = {
        "comparison.png": plot_comparison(results),
        "learning_curves.png": plot_learning_curves(results),
    }
    if results["train_per_class"].nunique(dropna=False) > 1:
        figures["data_efficiency.png"] = plot_data_efficiency(results)
    return [save_figure(figure, Path(out) / name) for name, figure in figures.items()]
