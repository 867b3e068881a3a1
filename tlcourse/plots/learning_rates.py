"""Learning rate per block under differential learning rates, input to output, then the head."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tlcourse.plots.style import check_figsize, figure_and_ax, finish, short_block, slide_style
from tlcourse.plots.tables import check_frame
from tlcourse.strategies import strategy_color

__all__ = ["plot_learning_rates"]


def _is_head(block) -> bool:
    return pd.isna(block) or str(block).strip().lower() in ("", "head", "none")


@slide_style
def plot_learning_rates(lr_table: pd.DataFrame, *, ax: Axes | None = None, figsize=None) -> Figure:
    """Draw the learning rate of every block (log scale), input to output, then the head.

    Takes the table of ``tlcourse.learning_rates(model)`` (per variable, or ``by="block"``) and
    keeps one value per block: the largest, so that frozen variables listed at rate 0 (BatchNorm
    statistics with ``include_frozen=True``) do not hide the rate the block trains at.
    Consecutive blocks with the same rate form a group; the ratio between one group and the next
    is written above the boundary (``×2``), or once for all when every step has the same ratio
    and there are more than 8 of them. Blocks with a rate of 0 (frozen) have no bar and say
    "frozen". Rows whose block is empty, NaN or ``"head"`` are the head.

    Args:
        lr_table: DataFrame with columns ``block`` and ``learning_rate`` (also ``path`` and
            ``multiplier`` in the ``learning_rates`` output, not needed here), one row per
            variable, in model order.
        ax: axes to draw into. Defaults to None (a new figure).
        figsize: figure size in inches, for a new figure. Defaults to None (from the number of
            blocks).

    Returns:
        The figure.

    Raises:
        InvalidParameterError: a missing column, no rows, or a bad ``ax`` or ``figsize``.

    Example:
        >>> table = pd.DataFrame({"path": ["a/kernel", "b/kernel", "head/kernel"],
        ...     "block": ["block_1", "block_2", "head"], "multiplier": [0.25, 0.5, 1.0],
        ...     "learning_rate": [2.5e-4, 5e-4, 1e-3]})
        >>> plot_learning_rates(table).axes[0].get_yscale()
        'log'
    """
    table = check_frame(lr_table, ("block", "learning_rate"), "plot_learning_rates", "lr_table")
    figsize = check_figsize(figsize, "plot_learning_rates", none_ok=True)
    table = table.assign(block=table["block"].map(lambda b: "head" if _is_head(b) else str(b)))
    # The block's rate is its trainable variables' rate: frozen ones (BatchNorm statistics,
    # listed with rate 0 by include_frozen=True) must not drag it to 0.
    per_block = table.groupby("block", sort=False)["learning_rate"].max()
    order = [b for b in per_block.index if b != "head"] + ["head"] * ("head" in per_block.index)
    rates = per_block.reindex(order).astype(float)
    n = len(rates)
    fig, ax = figure_and_ax(ax, figsize or (max(8.0, 0.5 * n + 4), 6), "plot_learning_rates")
    x = np.arange(n)
    training = rates > 0
    colors = ["#004D40" if b == "head" else strategy_color("fine_tuning_dlr") for b in order]
    ax.bar(x[training], rates[training], color=np.array(colors)[training], width=0.7, zorder=2)
    ax.set_yscale("log")
    if training.any():
        low, high = rates[training].min(), rates[training].max()
        ax.set_ylim(low / 3, high * 6)  # room above the bars for the ratios
    for i in x[~training]:
        ax.annotate(
            "frozen",
            (i, 0.04),
            xycoords=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            rotation=90,
            fontsize=11,
            color="#555555",
        )

    # Groups of equal rates; the ratio is read across each boundary.
    new_group = ~np.isclose(rates.to_numpy(), rates.shift().to_numpy(), rtol=1e-6)
    starts = np.flatnonzero(new_group)[1:]
    ratios = [
        rates.iloc[i] / rates.iloc[i - 1] if rates.iloc[i - 1] > 0 else np.nan for i in starts
    ]
    finite = [(i, r) for i, r in zip(starts, ratios, strict=True) if np.isfinite(r) and r > 0]
    if len(finite) > 8 and np.allclose([r for _, r in finite], finite[0][1], rtol=1e-3):
        ax.text(
            0.02,
            0.97,
            f"each block ×{finite[0][1]:.3g} the one before",
            fontsize=13,
            transform=ax.transAxes,
            va="top",
        )
    else:
        for i, ratio in finite:
            top = max(rates.iloc[i], rates.iloc[i - 1])
            ax.annotate(
                f"×{ratio:.3g}",
                (i - 0.5, top),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=11 if len(finite) > 8 else 12,
                rotation=90 if len(finite) > 8 else 0,
            )
    if "head" in order and training.iloc[-1]:
        # Inside the head's bar: above it, the last ratio label already takes the space.
        ax.annotate(
            f"{rates.iloc[-1]:.1e}",
            (n - 1, rates.iloc[-1]),
            xytext=(0, -6),
            textcoords="offset points",
            ha="center",
            va="top",
            rotation=90,
            fontsize=11,
            color="white",
        )
    ax.set_xticks(x, [short_block(b) for b in order], rotation=0 if n <= 12 else 90)
    ax.set_xlim(-0.7, n - 0.3)  # room for the rotated labels of the first and last bars
    ax.grid(axis="y", which="major", alpha=0.3, zorder=0)
    finish(
        ax,
        "Learning rate per block",
        "block (input → output), then the head",
        "learning rate (log scale)",
    )
    return fig
