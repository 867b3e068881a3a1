"""The comparison figure: test accuracy, wall-clock time and CO₂ per strategy, side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tlcourse.plots.style import (
    SPREAD_NOTE,
    TITLE_FONTSIZE,
    check_figsize,
    finish,
    new_figure,
    ordered_strategies,
    pick_scale,
    slide_style,
    spread,
    wrap,
    wrap_to_width,
)
from tlcourse.plots.tables import check_frame, context, largest_training_set
from tlcourse.strategies import strategy_color, strategy_label
from tlcourse.tracking import co2_footnote

__all__ = ["plot_comparison"]

_CAPTION_FONTSIZE = 11


def _label_width(figure_width: float, strategies: int) -> int:
    """Characters per tick-label line so that neighbouring labels do not run into each other.

    About 0.55 em per character at 12 pt, in a third of the figure less the y label: 11 with
    the four default strategies at 14 in, fewer when strategies are added ("Fine-" / "tuning").
    """
    panel = figure_width / 3 - 0.5
    return int(np.clip(panel * 72 / (strategies * 0.55 * 12), 6, 11))


def _ranges(frame: pd.DataFrame, strategies: list) -> pd.DataFrame | None:
    """Mean low and high CO2 per strategy where a range is stated, else None (see tracking)."""
    if not {"co2_low", "co2_high"} <= set(frame.columns):
        return None
    stated = frame["co2_high"] > frame["co2_low"]
    if not stated.any():
        return None
    means = frame.groupby("strategy")[["co2_low", "co2_high"]].mean()
    return means.reindex(strategies)


def _draw_ranges(ax: Axes, ranges: pd.DataFrame) -> list[float]:
    """A hatched band from the low to the high estimate across each bar; returns the highs."""
    for i, (low, high) in enumerate(zip(ranges["co2_low"], ranges["co2_high"], strict=True)):
        if np.isfinite(low) and np.isfinite(high) and high > low:
            ax.fill_between(
                [i - 0.34, i + 0.34],
                low,
                high,
                facecolor=(1, 1, 1, 0.35),
                edgecolor="#333333",
                hatch="///",
                lw=1.0,
                zorder=2.5,
            )
    return list(ranges["co2_high"])


def _bar_panel(
    ax: Axes, frame: pd.DataFrame, strategies: list, value: str, width: int, band=None
) -> None:
    stats = spread(frame, value, ["strategy"]).reindex(strategies)
    # One number format per panel, so 15.0 and 4.1 line up instead of "15" and "4.05".
    largest = stats["mean"].abs().max()
    fmt = ".1f" if largest >= 10 else ".2f" if largest >= 1 else ".2g"
    if band is not None:
        fmt = ".2g"  # a figure known within a factor of two: no third digit
    x = np.arange(len(strategies))
    ax.bar(x, stats["mean"], width=0.68, color=[strategy_color(s) for s in strategies], zorder=2)
    ax.errorbar(
        x,
        stats["mean"],
        yerr=[stats["mean"] - stats["low"], stats["high"] - stats["mean"]],
        fmt="none",
        ecolor="black",
        elinewidth=1.5,
        capsize=6,
        zorder=3,
    )
    highs = _draw_ranges(ax, band) if band is not None else [np.nan] * len(strategies)
    tops = []
    for i, strategy in enumerate(strategies):
        seeds = frame.loc[frame["strategy"] == strategy, value].dropna().to_numpy()
        offsets = np.linspace(-0.16, 0.16, len(seeds)) if len(seeds) > 1 else np.zeros(1)
        ax.scatter(
            i + offsets[: len(seeds)],
            seeds,
            s=30,
            color="white",
            edgecolor="black",
            linewidth=1.2,
            zorder=4,
        )
        # NaN only when nothing measured
        top = pd.Series([stats["high"].iloc[i], highs[i], *seeds]).max()
        tops.append(top)
        if np.isfinite(stats["mean"].iloc[i]):
            # Above the whisker and the dots, so the number never sits on top of data.
            ax.annotate(
                format(stats["mean"].iloc[i], fmt),
                (i, top),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=12,
                fontweight="bold",
            )
    finite = [t for t in tops if np.isfinite(t)]
    if finite:
        ax.set_ylim(0, max(finite) * 1.18)
    else:
        ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", fontsize=13)
    counts = stats["count"].fillna(0).astype(int)
    labels = [wrap(strategy_label(s), width) for s in strategies]
    ax.set_xticks(x, [f"{label}\n(n={n})" for label, n in zip(labels, counts, strict=True)])
    ax.grid(axis="y", alpha=0.3, zorder=0)


@slide_style
def plot_comparison(results: pd.DataFrame, *, figsize=(14, 5.6)) -> Figure:
    """Compare strategies: test accuracy, wall-clock time and CO₂ side by side.

    Each panel has one bar per strategy (the mean over seeds), whiskers for the spread (±1
    standard deviation when a strategy has at least 3 seeds, min-max with 2: a standard
    deviation of two numbers is not worth drawing), every seed as a dot, and the mean printed
    above. The tick labels give the number of seeds. The CO₂ unit (g, mg or µg) follows the
    data; a footnote says how CO₂ was obtained (:func:`tlcourse.tracking.co2_footnote`, from the
    ``co2_mode``, ``co2_grid`` and ``carbon_intensity_g_per_kwh`` columns), wrapped to the
    figure's width, never cut. When the estimate rests on a default CPU power, a hatched band
    across each CO₂ bar spans the mean of ``co2_kg_low`` to the mean of ``co2_kg_high`` (the
    range of :mod:`tlcourse.tracking.ranges`) and the footnote states the assumption.

    Only one training-set size is compared: the rows with the full training set
    (``train_per_class`` NaN, None or ``"all"``) when there are any, else the largest
    ``train_per_class``.

    Args:
        results: one row per run, with at least the columns ``strategy``, ``seed``,
            ``test_accuracy`` (0..1), ``wall_seconds``, ``co2_kg`` (NaN when not measured) and
            ``train_per_class``; ``backbone`` and ``dataset`` (one value per strategy) go in the
            title, the CO₂ columns of :data:`tlcourse.tracking.CO2_COLUMNS` in the footnote
            and ``co2_kg_low`` / ``co2_kg_high`` in the CO₂ panel, when present.
        figsize: figure size in inches. Defaults to ``(14, 5.6)``.

    Returns:
        The figure, with three axes.

    Raises:
        InvalidParameterError: not a DataFrame, a missing column, no rows, several backbones or
            datasets mixed within a strategy, or a bad ``figsize``.

    Example:
        >>> runs = pd.DataFrame({"strategy": ["scratch", "fine_tuning"] * 2,
        ...     "seed": [0, 0, 1, 1], "test_accuracy": [0.7, 0.9, 0.72, 0.88],
        ...     "wall_seconds": [30.0, 12.0, 31.0, 11.0], "co2_kg": [2e-6, 8e-7, 2e-6, 8e-7],
        ...     "co2_mode": "estimated (CPU load x TDP)", "co2_grid": "World average",
        ...     "carbon_intensity_g_per_kwh": 475.0, "train_per_class": np.nan})
        >>> fig = plot_comparison(runs)
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['test accuracy (%)', 'wall-clock time (s)', 'CO₂ (mg)']
    """
    required = ("strategy", "seed", "test_accuracy", "wall_seconds", "co2_kg", "train_per_class")
    results = check_frame(results, required, "plot_comparison", "results")
    figsize = check_figsize(figsize, "plot_comparison")
    subset, size_text = largest_training_set(results)
    title_context = context(subset, "plot_comparison")
    strategies = ordered_strategies(subset["strategy"])
    # Minutes only past 10 minutes: the lecture's CPU runs are seconds to minutes long.
    time_factor, time_unit = (1 / 60, "min") if subset["wall_seconds"].max() >= 600 else (1, "s")
    co2_factor, co2_unit = pick_scale(
        subset["co2_kg"].max(), [(1e3, "g"), (1e6, "mg"), (1e9, "µg")]
    )
    frame = subset.assign(
        accuracy=subset["test_accuracy"] * 100,
        time=subset["wall_seconds"] * time_factor,
        co2=subset["co2_kg"] * co2_factor,
    )
    for end in ("low", "high"):
        if f"co2_kg_{end}" in subset.columns:
            column = pd.to_numeric(subset[f"co2_kg_{end}"], errors="coerce")
            frame[f"co2_{end}"] = column * co2_factor
    panels = [
        ("accuracy", "Test accuracy", "test accuracy (%)"),
        ("time", "Training time", f"wall-clock time ({time_unit})"),
        ("co2", "Estimated CO₂", f"CO₂ ({co2_unit})"),
    ]
    fig, axes = new_figure(figsize, 1, 3)
    label_width = _label_width(figsize[0], len(strategies))
    ranges = _ranges(frame, strategies)
    for ax, (value, title, ylabel) in zip(axes[0], panels, strict=True):
        band = ranges if value == "co2" else None
        _bar_panel(ax, frame, strategies, value, label_width, band)
        finish(ax, title, "", ylabel)
    title = f"Strategies compared: {', '.join(filter(None, [title_context, size_text]))}"
    fig.suptitle(wrap_to_width(title, figsize[0], TITLE_FONTSIZE))
    hatched = "; hatched: range of the CO₂ estimate (below)" if ranges is not None else ""
    caption = (
        f"Bars: mean over seeds (n below each bar); whiskers: {SPREAD_NOTE}; dots: seeds"
        f"{hatched}.\n" + co2_footnote(subset)
    )
    # A little narrower than the figure: constrained layout keeps a margin on each side.
    width = fig.get_figwidth() - 0.3
    fig.supxlabel(
        wrap_to_width(caption, width, _CAPTION_FONTSIZE),
        fontsize=_CAPTION_FONTSIZE,
        color="#444444",
    )
    return fig
