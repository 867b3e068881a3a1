"""Data efficiency: test accuracy against training images per class, one line per strategy."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from tlcourse.errors import InvalidParameterError, check_bool
from tlcourse.plots.style import (
    check_figsize,
    figure_and_ax,
    finish,
    ordered_strategies,
    slide_style,
    spread,
    trains_backbone,
)
from tlcourse.plots.tables import check_frame, context, training_sizes
from tlcourse.strategies import strategy_color, strategy_label

__all__ = ["plot_data_efficiency", "with_per_class"]


def with_per_class(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with ``per_class`` (the x of the figure) and ``accuracy`` in percent.

    ``per_class`` is ``train_per_class``, and for the full training set (NaN, None or
    ``"all"``) ``train_images`` divided by the number of classes, read from the other rows as
    the median of ``train_images / train_per_class``.

    Example:
        >>> runs = pd.DataFrame({"train_per_class": [5, None], "train_images": [15, 90],
        ...     "test_accuracy": [0.5, 0.75]})
        >>> with_per_class(runs)[["per_class", "accuracy"]].values.tolist()
        [[5.0, 50.0], [30.0, 75.0]]
    """
    sizes = training_sizes(results)
    full = sizes.isna()
    classes = (results["train_images"][~full] / sizes[~full]).median()
    return results.assign(
        per_class=sizes.fillna(results["train_images"] / classes),
        accuracy=results["test_accuracy"] * 100,
    )


def _size_labels(sizes: np.ndarray, full_x: float | None) -> list[str]:
    """Tick labels: the sizes, the full training set marked "(full)"."""
    labels = []
    for size in sizes:
        text = f"{size:g}"
        if full_x is not None and np.isclose(size, full_x):
            text = (text if float(size).is_integer() else f"≈{size:.0f}") + "\n(full)"
        labels.append(text)
    return labels


def _mark_transfer_gain(ax: Axes, stats: pd.DataFrame, smallest_size: float) -> None:
    """An arrow from the best baseline to the best transfer strategy at the smallest size."""
    smallest = stats.xs(smallest_size, level="per_class")["mean"]
    own = [s for s in smallest.index if not trains_backbone(s)]
    transfer = smallest.drop(own)
    if not own or transfer.empty or transfer.max() <= smallest[own].max():
        return
    baseline = smallest[own].max()
    ax.annotate(
        "",
        (smallest_size, transfer.max()),
        xytext=(smallest_size, baseline),
        arrowprops={"arrowstyle": "<->", "lw": 1.8, "color": "black"},
    )
    ax.annotate(
        f"+{transfer.max() - baseline:.0f} points\nwith transfer",
        (smallest_size, smallest.mean()),
        xytext=(10, 0),
        textcoords="offset points",
        va="center",
        fontsize=12,
    )


@slide_style
def plot_data_efficiency(
    results: pd.DataFrame, *, log_x: bool = True, ax: Axes | None = None, figsize=(10, 6)
) -> Figure:
    """Test accuracy against training images per class, one line per strategy.

    The figure where transfer learning shines: with few images per class, a pretrained backbone
    is far ahead of training from scratch. Lines are the mean over seeds, with a band (±1
    standard deviation with at least 3 seeds, min-max with 2). The x axis is logarithmic by
    default because training sizes are usually spaced geometrically (5, 10, 20, 50...); its
    ticks are the sizes present. Rows with the full training set (``train_per_class`` NaN, None
    or ``"all"``) are placed at ``train_images / classes``, the number of classes being read
    from the other rows (``train_images / train_per_class``), and marked "full". At the
    smallest size, an arrow shows how far the best transfer strategy is ahead of the best
    strategy that trains a network of its own (from scratch; see the strategy registry's
    ``network``).

    Args:
        results: one row per run with columns ``strategy``, ``seed``, ``test_accuracy``,
            ``train_per_class`` and ``train_images``.
        log_x: logarithmic x axis. Defaults to True.
        ax: axes to draw into. Defaults to None (a new figure).
        figsize: figure size in inches, for a new figure. Defaults to ``(10, 6)``.

    Returns:
        The figure.

    Raises:
        InvalidParameterError: a missing column, no rows, no row with ``train_per_class``, or a
            bad keyword argument.

    Example:
        >>> runs = pd.DataFrame({"strategy": ["scratch", "fine_tuning"] * 2, "seed": 0,
        ...     "train_per_class": [5, 5, 50, 50], "train_images": [30, 30, 300, 300],
        ...     "test_accuracy": [0.3, 0.8, 0.6, 0.9]})
        >>> len(plot_data_efficiency(runs).axes[0].get_lines())
        2
    """
    required = ("strategy", "seed", "test_accuracy", "train_per_class", "train_images")
    results = check_frame(results, required, "plot_data_efficiency", "results")
    log_x = check_bool("log_x", log_x, "plot_data_efficiency")
    figsize = check_figsize(figsize, "plot_data_efficiency")
    full = training_sizes(results).isna()
    if full.all():
        raise InvalidParameterError(
            "The 'results' parameter of plot_data_efficiency needs rows with 'train_per_class' "
            "set (several training-set sizes); every row has NaN (full data)."
        )
    frame = with_per_class(results)
    title_context = context(frame, "plot_data_efficiency")
    fig, ax = figure_and_ax(ax, figsize, "plot_data_efficiency")
    stats = spread(frame, "accuracy", ["strategy", "per_class"]).sort_index()
    for strategy in ordered_strategies(frame["strategy"]):
        line = stats.loc[strategy]
        color = strategy_color(strategy)
        seeds = frame.loc[frame["strategy"] == strategy, "seed"].nunique()
        ax.plot(
            line.index,
            line["mean"],
            "-o",
            color=color,
            lw=2.5,
            ms=7,
            label=f"{strategy_label(strategy)} (n={seeds})",
        )
        ax.fill_between(line.index, line["low"], line["high"], color=color, alpha=0.18, lw=0)

    sizes = np.sort(frame["per_class"].unique())
    if log_x:
        ax.set_xscale("log")
    full_x = frame.loc[full, "per_class"].median() if full.any() else None
    ax.set_xticks(sizes, _size_labels(sizes, full_x))
    ax.xaxis.set_minor_locator(NullLocator())
    _mark_transfer_gain(ax, stats, sizes[0])
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    scale = "log scale" if log_x else "linear scale"
    title = "Where transfer learning shines"
    finish(
        ax,
        f"{title}{': ' + title_context if title_context else ''}",
        f"training images per class ({scale})",
        "test accuracy (%)",
    )
    return fig
