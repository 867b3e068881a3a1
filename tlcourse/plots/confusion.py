"""Confusion matrices: which classes each strategy mistakes for which, pooled over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tlcourse.error_analysis import check_predictions, class_order, confusion_matrix
from tlcourse.errors import invalid_parameter
from tlcourse.plots.style import (
    TITLE_FONTSIZE,
    check_figsize,
    new_figure,
    ordered_strategies,
    slide_style,
    wrap_to_width,
)
from tlcourse.plots.tables import context, largest_training_set
from tlcourse.strategies import strategy_label

__all__ = ["plot_confusion"]


def _runs_text(rows: pd.DataFrame) -> str:
    if "seed" not in rows.columns:
        return f"{len(rows)} predictions"
    seeds = rows["seed"].nunique()
    return f"{seeds} seed{'s' if seeds != 1 else ''}, {len(rows)} predictions"


@slide_style
def plot_confusion(predictions: pd.DataFrame, *, strategies=None, figsize=None) -> Figure:
    """One confusion matrix per strategy: true class (rows) against predicted class (columns).

    Every run (seed) of a strategy is pooled: each cell counts the test photos of that true
    class predicted as that class, over all seeds, and its colour is that count's share of
    the row (the recall of the class on the diagonal), so strategies with different numbers
    of runs compare. The panel title gives the share right. With several training-set sizes
    (``train_per_class``), the full training set or the largest is drawn, as in
    :func:`~tlcourse.plots.plot_comparison`.

    Args:
        predictions: a predictions table: ``predictions.csv`` of ``tlcourse compare``, read
            with pandas, or :func:`tlcourse.error_analysis.prediction_table` of a model's
            predictions (columns ``strategy``, ``true``, ``predicted``; ``seed``,
            ``train_per_class``, ``backbone``, ``dataset`` when present).
        strategies: the strategies to draw, in order; None for all, in registry order.
            Defaults to None.
        figsize: figure size in inches; None gives 4.6 in per panel. Defaults to None.

    Returns:
        The figure, one axes per strategy.

    Raises:
        InvalidParameterError: not a predictions table, a strategy not in it, or a bad
            ``figsize``.

    Example:
        >>> from tlcourse.error_analysis import prediction_table
        >>> table = prediction_table([0, 1, 2, 2], [0, 1, 1, 2], ["cat", "dog", "fox"])
        >>> fig = plot_confusion(table)
        >>> fig.axes[0].get_title()
        'model: 75% right\\n(1 seed, 4 predictions)'
    """
    func = "plot_confusion"
    predictions = check_predictions(predictions, func)
    figsize = check_figsize(figsize, func, none_ok=True)
    size_text = ""
    if "train_per_class" in predictions.columns:
        predictions, size_text = largest_training_set(predictions)
    present = ordered_strategies(predictions["strategy"])
    if strategies is None:
        strategies = present
    else:
        if isinstance(strategies, str):
            strategies = [strategies]
        for name in strategies:
            if name not in present:
                raise invalid_parameter("strategies", func, f"None or names from {present}", name)
        strategies = list(strategies)
    classes = class_order(predictions)
    n = len(strategies)
    longest = max(len(c) for c in classes)
    # Square matrices 4 in wide, with room under them for the slanted class names.
    figsize = figsize or (4.2 * n + 2.0, 4.0 + 1.5 + 0.09 * longest)
    fig, axes = new_figure(figsize, 1, n)
    fig.set_layout_engine("compressed")  # constrained layout, aware of square (image) axes
    image = None
    for i, (ax, strategy) in enumerate(zip(axes[0], strategies, strict=True)):
        rows = predictions[predictions["strategy"] == strategy]
        counts = confusion_matrix(rows, classes=classes)
        totals = counts.sum(axis=1).to_numpy()[:, None]
        shares = np.divide(counts.to_numpy(), totals, out=np.zeros(counts.shape), where=totals > 0)
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for (r, c), count in np.ndenumerate(counts.to_numpy()):
            if count:
                color = "white" if shares[r, c] > 0.6 else "black"
                ax.text(c, r, str(count), ha="center", va="center", fontsize=11, color=color)
        right = np.trace(counts.to_numpy()) / max(len(rows), 1)
        ax.set_title(f"{strategy_label(strategy)}: {right:.0%} right\n({_runs_text(rows)})")
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), classes if i == 0 else [])
        ax.set_xlabel("predicted class")
        if i == 0:
            ax.set_ylabel("true class")
        ax.tick_params(labelsize=11)
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="share of the true class")
    where = ", ".join(filter(None, [context(predictions, func), size_text]))
    pooled = "seed" in predictions.columns and predictions["seed"].nunique() > 1
    title = "Confusion matrices" if n > 1 else "Confusion matrix"
    title += f"{', seeds pooled' if pooled else ''}{': ' + where if where else ''}"
    fig.suptitle(wrap_to_width(title, figsize[0], TITLE_FONTSIZE))
    return fig
