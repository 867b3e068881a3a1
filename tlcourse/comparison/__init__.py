"""The comparison: every strategy on the same splits, under one budget, measured
(:func:`compare`, :class:`Budget`, :func:`summarize`, the results and predictions tables)."""

from tlcourse.comparison.budget import FAST_BUDGET, Budget
from tlcourse.comparison.context import ComparisonContext
from tlcourse.comparison.predictions import (
    PREDICTION_COLUMNS,
    PREDICTIONS_FILE,
    prediction_accuracy,
    read_predictions,
)  # fmt: skip
from tlcourse.comparison.results import (
    KEY_COLUMNS,
    RESULT_COLUMNS,
    RESULTS_FILE,
    read_results,
    write_results,
)  # fmt: skip
from tlcourse.comparison.runner import compare
from tlcourse.comparison.summary import summarize

__all__ = [
    "FAST_BUDGET", "KEY_COLUMNS", "PREDICTIONS_FILE", "PREDICTION_COLUMNS", "RESULTS_FILE",
    "RESULT_COLUMNS", "Budget", "ComparisonContext", "compare", "prediction_accuracy",
    "read_predictions", "read_results", "summarize", "write_results"]  # fmt: skip
