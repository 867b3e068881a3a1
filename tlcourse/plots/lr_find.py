"""The learning-rate finder: loss against learning rate (log x), raw and smoothed."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tlcourse.errors import InvalidParameterError, check_real
from tlcourse.plots.style import check_figsize, figure_and_ax, finish, slide_style
from tlcourse.plots.tables import check_frame

__all__ = ["plot_lr_find"]


@slide_style
def plot_lr_find(
    lr_find_table: pd.DataFrame,
    suggestion: float | None = None,
    *,
    ax: Axes | None = None,
    figsize=(9, 5.5),
) -> Figure:
    """Draw the learning-rate finder: loss against learning rate (log x), raw and smoothed.

    The y axis is cut a little above the starting loss, because the last steps of a range test
    diverge and would otherwise flatten everything that matters.

    Args:
        lr_find_table: DataFrame with columns ``lr``, ``loss`` and ``smoothed_loss``, one row per
            step. Non-finite losses (diverged steps) are dropped.
        suggestion: learning rate to mark with a dashed line and a dot on the smoothed curve.
            Defaults to None (no mark).
        ax: axes to draw into. Defaults to None (a new figure).
        figsize: figure size in inches, for a new figure. Defaults to ``(9, 5.5)``.

    Returns:
        The figure.

    Raises:
        InvalidParameterError: a missing column, no rows, or a suggestion that is not > 0.

    Example:
        >>> table = pd.DataFrame({"lr": [1e-5, 1e-4, 1e-3, 1e-2], "loss": [2.3, 2.0, 1.4, 3.5],
        ...                       "smoothed_loss": [2.3, 2.1, 1.7, 2.4]})
        >>> plot_lr_find(table, suggestion=1e-4).axes[0].get_xscale()
        'log'
    """
    table = check_frame(
        lr_find_table, ("lr", "loss", "smoothed_loss"), "plot_lr_find", "lr_find_table"
    )
    suggestion = check_real(
        "suggestion", suggestion, "plot_lr_find", low=0, low_open=True, none_ok=True
    )
    figsize = check_figsize(figsize, "plot_lr_find")
    table = table.replace([np.inf, -np.inf], np.nan).dropna(subset=["lr", "smoothed_loss"])
    table = table[table["lr"] > 0].sort_values("lr")
    if table.empty:
        raise InvalidParameterError(
            "The 'lr_find_table' parameter of plot_lr_find has no row with a finite loss and "
            "a learning rate > 0."
        )
    fig, ax = figure_and_ax(ax, figsize, "plot_lr_find")
    ax.plot(table["lr"], table["loss"], color="#0072B2", alpha=0.35, lw=1.2, label="loss")
    ax.plot(table["lr"], table["smoothed_loss"], color="#0072B2", lw=2.8, label="smoothed loss")
    ax.set_xscale("log")
    smoothed = table["smoothed_loss"]
    floor = smoothed.min()
    ceiling = max(smoothed.iloc[: max(1, smoothed.argmin() + 1)].max(), floor)
    span = max(ceiling - floor, 1e-3 * max(abs(floor), 1))
    ax.set_ylim(floor - 0.15 * span, ceiling + 0.35 * span)
    if suggestion is not None:
        y = np.interp(np.log10(suggestion), np.log10(table["lr"]), smoothed)
        ax.axvline(suggestion, ls="--", color="#D55E00", lw=1.8)
        ax.plot(
            [suggestion],
            [y],
            "o",
            color="#D55E00",
            ms=10,
            zorder=3,
            label=f"suggested: {suggestion:.1e}",
        )
        ax.annotate(
            f"suggested LR\n{suggestion:.1e}",
            (suggestion, y),
            xytext=(10, 14),
            textcoords="offset points",
            fontsize=12,
            color="#D55E00",
        )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    finish(ax, "Learning-rate range test", "learning rate (log scale)", "training loss")
    return fig
