"""The deployment figure: model size, CPU latency and CO₂ per 1,000 predictions, side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tlcourse.errors import InvalidParameterError
from tlcourse.plots.style import (
    TITLE_FONTSIZE,
    check_figsize,
    finish,
    new_figure,
    ordered_strategies,
    pick_scale,
    slide_style,
    wrap,
    wrap_to_width,
)
from tlcourse.plots.tables import check_frame, largest_training_set
from tlcourse.strategies import strategy_color, strategy_label
from tlcourse.tracking import co2_footnote

__all__ = ["has_deployment_columns", "plot_deployment"]

_CAPTION_FONTSIZE = 11
_COLUMNS = ("model_mb", "latency_ms", "co2_per_1000_predictions_kg")
# Okabe-Ito colours not used by the default strategies, for networks named by themselves.
_NETWORK_COLORS = ("#56B4E9", "#CC79A7", "#F0E442", "#D55E00", "#009E73", "#E69F00", "#999999")


def has_deployment_columns(results: pd.DataFrame) -> bool:
    """True when a results table has deployment columns with at least one value.

    Example:
        >>> has_deployment_columns(pd.DataFrame({"model_mb": [None]}))
        False
    """
    return all(c in results.columns for c in _COLUMNS) and results["model_mb"].notna().any()


def _rows(table: pd.DataFrame, func: str) -> tuple[pd.DataFrame, list[str], list[str], str]:
    """(one row per bar, labels, colours, title words) from a results or networks table."""
    if "strategy" in table.columns:
        strategies = ordered_strategies(table["strategy"])
        numeric = [c for c in table.columns if c.startswith(_COLUMNS)]
        rows = table.groupby("strategy")[numeric].median().reindex(strategies)
        networks = (
            table.groupby("strategy")["backbone"].first().reindex(strategies)
            if "backbone" in table.columns
            else pd.Series("", index=strategies)
        )
        labels = [
            f"{strategy_label(s)}\n({n})" if n else strategy_label(s)
            for s, n in zip(strategies, networks.fillna(""), strict=True)
        ]
        colors = [strategy_color(s) for s in strategies]
        return rows.reset_index(drop=True), labels, colors, "the model each strategy deploys"
    if "name" not in table.columns:
        raise InvalidParameterError(
            f"The 'table' parameter of {func} needs a 'strategy' column (a results table) or a "
            f"'name' column (tlcourse.deployment.deployment_table). Got columns "
            f"{list(table.columns)}."
        )
    colors = [_NETWORK_COLORS[i % len(_NETWORK_COLORS)] for i in range(len(table))]
    return table.reset_index(drop=True), list(table["name"].astype(str)), colors, "networks"


def _panel(ax: Axes, values, labels, colors, fmt_unit, low=None, high=None) -> None:
    values = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    x = np.arange(len(values))
    ax.bar(x, values, width=0.68, color=colors, zorder=2)
    if low is not None and high is not None:
        for i, (lo, hi) in enumerate(zip(low, high, strict=True)):
            if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
                ax.fill_between(
                    [i - 0.34, i + 0.34], lo, hi, facecolor=(1, 1, 1, 0.35),
                    edgecolor="#333333", hatch="///", lw=1.0, zorder=2.5,
                )  # fmt: skip
    tops = np.fmax(values, high if high is not None else values)
    finite = values[np.isfinite(values) & (values > 0)]
    # Sizes and times span orders of magnitude (VGG16 against a small CNN): a log axis keeps
    # the small bars visible, and the printed numbers keep them readable.
    if len(finite) and finite.max() / finite.min() > 30:
        ax.set_yscale("log")
        ax.set_ylim(finite.min() / 3, np.nanmax(tops) * 6)
    elif len(finite):
        ax.set_ylim(0, np.nanmax(tops) * 1.2)
    for i, (value, top) in enumerate(zip(values, tops, strict=True)):
        text = "n/a" if not np.isfinite(value) else fmt_unit(value)
        ax.annotate(
            text, (i, top if np.isfinite(top) else 0), xytext=(0, 4), textcoords="offset points",
            ha="center", va="bottom", fontsize=12, fontweight="bold",
        )  # fmt: skip
    ax.set_xticks(x, [wrap(label, 12) for label in labels])
    ax.grid(axis="y", alpha=0.3, zorder=0)


def _number(value: float, digits: int = 2) -> str:
    """``digits`` significant digits, never in exponent notation: 0.4, 59, 580."""
    return f"{float(f'{value:.{digits}g}'):,g}"


@slide_style
def plot_deployment(table: pd.DataFrame, *, figsize=(14, 5.6)) -> Figure:
    """Draw what using each model costs: size, CPU latency and CO₂ per 1,000 predictions.

    One bar per network (a table from :func:`tlcourse.deployment.deployment_table`, with a
    ``name`` column) or per strategy (a results table with a ``strategy`` column and the
    :data:`~tlcourse.deployment.DEPLOYMENT_COLUMNS`: the median over its runs; with several
    training-set sizes, the largest, as in :func:`~tlcourse.plots.plot_comparison`). A panel
    whose values span more than 30x uses a log axis; every bar has its value printed. CO₂ has
    its low-high range hatched when one is stated (``co2_per_1000_predictions_kg_low`` /
    ``_high``), and the footnote says how it was obtained.

    Args:
        table: the deployment table or a results table (see above).
        figsize: figure size in inches. Defaults to ``(14, 5.6)``.

    Returns:
        The figure, with three axes.

    Raises:
        InvalidParameterError: not a DataFrame, no rows, a missing column, or a bad
            ``figsize``.

    Example:
        >>> table = pd.DataFrame({"name": ["vgg16", "small_cnn"], "model_mb": [58.9, 0.4],
        ...     "latency_ms": [60.0, 1.5], "co2_per_1000_predictions_kg": [9e-5, 5e-6]})
        >>> [ax.get_yscale() for ax in plot_deployment(table).axes]
        ['log', 'log', 'linear']
    """
    func = "plot_deployment"
    table = check_frame(table, _COLUMNS, func, "table")
    figsize = check_figsize(figsize, func)
    if "strategy" in table.columns and "train_per_class" in table.columns:
        table, _ = largest_training_set(table)
    rows, labels, colors, what = _rows(table, func)
    co2 = pd.to_numeric(rows["co2_per_1000_predictions_kg"], errors="coerce")
    factor, unit = pick_scale(co2.max(), [(1e3, "g"), (1e6, "mg"), (1e9, "µg")])
    ends = [
        pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=float) * factor
        if c in rows.columns
        else None
        for c in ("co2_per_1000_predictions_kg_low", "co2_per_1000_predictions_kg_high")
    ]
    fig, axes = new_figure(figsize, 1, 3)
    ax_size, ax_time, ax_co2 = axes[0]
    _panel(ax_size, rows["model_mb"], labels, colors, lambda v: f"{_number(v)} MB")
    finish(ax_size, "Model size", "", ".keras file (MB)")
    _panel(ax_time, rows["latency_ms"], labels, colors, lambda v: f"{_number(v, 3)} ms")
    finish(ax_time, "CPU latency per image", "", "median, batch 1 (ms)")
    _panel(ax_co2, co2 * factor, labels, colors, _number, *ends)
    finish(ax_co2, "CO₂ per 1,000 predictions", "", f"CO₂ ({unit})")
    fig.suptitle(wrap_to_width(f"What using the model costs: {what}", figsize[0], TITLE_FONTSIZE))
    hatched = ends[0] is not None and ends[1] is not None and bool(np.any(ends[1] > ends[0]))
    random = (
        "built_with" in table.columns
        and table["built_with"].astype(str).str.contains("weights=None").any()
    )
    caption = (
        "Latency: median time of one image (batch 1) through a traced inference function on "
        "this machine's CPU, after warm-up. Size: the saved .keras file, nearly all weights."
        + (" Hatched: range of the CO₂ estimate." if hatched else "")
        + (" Random weights: size and time do not depend on them." if random else "")
        + "\n"
        + co2_footnote(table.assign(co2_kg=table["co2_per_1000_predictions_kg"]))
    )
    width = fig.get_figwidth() - 0.3
    fig.supxlabel(
        wrap_to_width(caption, width, _CAPTION_FONTSIZE), fontsize=_CAPTION_FONTSIZE,
        color="#444444",
    )  # fmt: skip
    return fig
