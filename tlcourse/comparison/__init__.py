"""The comparison: every strategy on the same splits, under one budget, measured.

- :mod:`~tlcourse.comparison.budget`: :class:`Budget` and :data:`FAST_BUDGET`;
- :mod:`~tlcourse.comparison.context`: :class:`ComparisonContext`, what the runs share;
- :mod:`~tlcourse.comparison.results`: the table's columns, run keys, reading and writing;
- :mod:`~tlcourse.comparison.predictions`: ``predictions.csv``, one row per test image per run;
- :mod:`~tlcourse.comparison.progress`: the live progress of a plan;
- :mod:`~tlcourse.comparison.runner`: :func:`compare`;
- :mod:`~tlcourse.comparison.summary`: :func:`summarize`.

Its figures are written by :func:`tlcourse.plots.write_figures`, from the one list of the
lecture's figures.
"""

from tlcourse.comparison.budget import FAST_BUDGET, Budget
from tlcourse.comparison.context import ComparisonContext
from tlcourse.comparison.predictions import (
    PREDICTION_COLUMNS,
    PREDICTIONS_FILE,
    prediction_accuracy,
    read_predictions,
)
from tlcourse.comparison.results import (
    KEY_COLUMNS,
    RESULT_COLUMNS,
    RESULTS_FILE,
    read_results,
    write_results,
)
from tlcourse.comparison.runner import compare
from tlcourse.comparison.summary import summarize

__all__ = [
    "FAST_BUDGET",
    "KEY_COLUMNS",
    "PREDICTIONS_FILE",
    "PREDICTION_COLUMNS",
    "RESULTS_FILE",
    "RESULT_COLUMNS",
    "Budget",
    "ComparisonContext",
    "compare",
    "prediction_accuracy",
    "read_predictions",
    "read_results",
    "summarize",
    "write_results",
]
