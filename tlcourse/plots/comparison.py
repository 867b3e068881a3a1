"""Bar figures: what each strategy costs to train (accuracy, time, CO₂) and to use (size,
CPU latency, CO₂ per 1,000 predictions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tlcourse.comparison.strategies import strategy_color, strategy_label
from tlcourse.errors import InvalidParameterError
from tlcourse.measure import co2_footnote
from tlcourse.plots import style
from tlcourse.validation import frame_with, validate_params

__all__ = ["has_deployment_columns", "plot_comparison", "plot_deployment"]

_REQUIRED = ("strategy", "seed", "test_accuracy", "wall_seconds", "co2_kg", "train_per_class")


def _bar_panel(ax: Axes, frame: pd.DataFrame, strategies: list, value: str, width: int, band):
    stats = style.spread(frame, value, ["strategy"]).reindex(strategies)
    # One number format per panel (15.0 and 4.1, not 15 and 4.05); no third digit in a range.
    largest = stats["mean"].abs().max()
    fmt = ".1f" if largest >= 10 else ".2f" if largest >= 1 else ".2g"
    fmt = ".2g" if band is not None else fmt
    x = np.arange(len(strategies))
    ax.bar(x, stats["mean"], width=0.68, color=[strategy_color(s) for s in strategies], zorder=2)
    whiskers = [stats["mean"] - stats["low"], stats["high"] - stats["mean"]]
    ax.errorbar(x, stats["mean"], yerr=whiskers, fmt="none", ecolor="black", elinewidth=1.5,
                capsize=6, zorder=3)  # fmt: skip
    highs = [np.nan] * len(strategies)
    if band is not None:
        for i, (low, high) in enumerate(zip(band["co2_low"], band["co2_high"], strict=True)):
            style.hatch(ax, i, low, high)
        highs = list(band["co2_high"])
    tops = []
    for i, strategy in enumerate(strategies):
        seeds = frame.loc[frame["strategy"] == strategy, value].dropna().to_numpy()
        offsets = np.linspace(-0.16, 0.16, len(seeds)) if len(seeds) > 1 else np.zeros(1)
        ax.scatter(i + offsets[: len(seeds)], seeds, s=30, color="white", edgecolor="black",
                   linewidth=1.2, zorder=4)  # fmt: skip
        top = pd.Series([stats["high"].iloc[i], highs[i], *seeds]).max()  # NaN: nothing measured
        tops.append(top)
        if np.isfinite(stats["mean"].iloc[i]):  # above the whisker and the dots
            ax.annotate(format(stats["mean"].iloc[i], fmt), (i, top), **style.ABOVE, fontsize=12,
                        fontweight="bold")  # fmt: skip
    finite = [t for t in tops if np.isfinite(t)]
    if finite:
        ax.set_ylim(0, max(finite) * 1.18)
    else:
        ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", fontsize=13)
    counts = stats["count"].fillna(0).astype(int)
    names = [style.wrap(strategy_label(s), width) for s in strategies]
    ax.set_xticks(x, [f"{name}\n(n={n})" for name, n in zip(names, counts, strict=True)])
    ax.grid(axis="y", alpha=0.3, zorder=0)


@validate_params({"results": [frame_with(*_REQUIRED)], "figsize": [style.FIGSIZE]})
@style.slide_style
def plot_comparison(results: pd.DataFrame, *, figsize=(14, 5.6)) -> Figure:
    """Compare strategies: test accuracy, wall-clock time and CO₂ side by side.

    One bar per strategy (mean over seeds, largest training set), whiskers for the spread, a
    dot per seed; a footnote says how CO₂ was obtained, a hatched band gives its range.

    Example:
        >>> from tlcourse.plots import measured_crossover  # runs of tlcourse compare
        >>> runs = measured_crossover().query("dataset == 'photos'")
        >>> [ax.get_ylabel() for ax in plot_comparison(runs).axes]
        ['test accuracy (%)', 'wall-clock time (s)', 'CO₂ (mg)']
    """
    subset, size_text = style.largest_training_set(results)
    title_context = style.context(subset, "plot_comparison")
    strategies = style.ordered_strategies(subset["strategy"])
    time_factor, time_unit = (1 / 60, "min") if subset["wall_seconds"].max() >= 600 else (1, "s")
    co2_factor, co2_unit = style.pick_scale(subset["co2_kg"].max(), style.CO2_UNITS)
    frame = subset.assign(accuracy=subset["test_accuracy"] * 100,
                          time=subset["wall_seconds"] * time_factor,
                          co2=subset["co2_kg"] * co2_factor)  # fmt: skip
    band = None
    if {"co2_kg_low", "co2_kg_high"} <= set(subset.columns):
        for end in ("low", "high"):
            frame[f"co2_{end}"] = pd.to_numeric(subset[f"co2_kg_{end}"], errors="coerce")
            frame[f"co2_{end}"] *= co2_factor
        if (frame["co2_high"] > frame["co2_low"]).any():  # a range is stated
            band = frame.groupby("strategy")[["co2_low", "co2_high"]].mean().reindex(strategies)
    fig, axes = style.new_figure(figsize, 1, 3)
    # Characters per tick-label line so that neighbouring labels never touch (0.55 em each).
    panel = figsize[0] / 3 - 0.5
    width = int(np.clip(panel * 72 / (len(strategies) * 0.55 * 12), 6, 11))
    panels = [("accuracy", "Test accuracy", "test accuracy (%)"),
              ("time", "Training time", f"wall-clock time ({time_unit})"),
              ("co2", "Estimated CO₂", f"CO₂ ({co2_unit})")]  # fmt: skip
    for ax, (value, title, ylabel) in zip(axes[0], panels, strict=True):
        _bar_panel(ax, frame, strategies, value, width, band if value == "co2" else None)
        style.finish(ax, title, "", ylabel)
    title = f"Strategies compared: {', '.join(filter(None, [title_context, size_text]))}"
    fig.suptitle(style.wrap_to_width(title, figsize[0], style.TITLE_FONTSIZE))
    hatched = "; hatched: range of the CO₂ estimate (below)" if band is not None else ""
    note = f"Bars: mean over seeds (n below each bar); whiskers: {style.SPREAD_NOTE}; dots: seeds"
    style.caption(fig, f"{note}{hatched}.\n" + co2_footnote(subset))
    return fig


_COLUMNS = ("model_mb", "latency_ms", "co2_per_1000_predictions_kg")
# Okabe-Ito colours, for networks named by themselves.
_NETWORK_COLORS = ("#56B4E9", "#CC79A7", "#F0E442", "#D55E00", "#009E73", "#E69F00", "#999999")


def has_deployment_columns(results: pd.DataFrame) -> bool:
    """True when a results table has deployment values."""
    return all(c in results.columns for c in _COLUMNS) and results["model_mb"].notna().any()


def _rows(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str], str]:
    """(one row per bar, labels, colours, title words) from a results or networks table."""
    if "strategy" not in table.columns:
        colors = [_NETWORK_COLORS[i % len(_NETWORK_COLORS)] for i in range(len(table))]
        return table.reset_index(drop=True), list(table["name"].astype(str)), colors, "networks"
    strategies = style.ordered_strategies(table["strategy"])
    numeric = [c for c in table.columns if c.startswith(_COLUMNS)]
    rows = table.groupby("strategy")[numeric].median().reindex(strategies)
    networks = pd.Series("", index=strategies)
    if "backbone" in table.columns:
        networks = table.groupby("strategy")["backbone"].first().reindex(strategies).fillna("")
    labels = [f"{strategy_label(s)}\n({n})" if n else strategy_label(s)
              for s, n in zip(strategies, networks, strict=True)]  # fmt: skip
    colors = [strategy_color(s) for s in strategies]
    return rows.reset_index(drop=True), labels, colors, "the model each strategy deploys"


def _panel(ax: Axes, values, labels, colors, fmt_unit, low=None, high=None) -> None:
    values = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    x = np.arange(len(values))
    ax.bar(x, values, width=0.68, color=colors, zorder=2)
    if low is not None and high is not None:
        for i, (lo, hi) in enumerate(zip(low, high, strict=True)):
            style.hatch(ax, i, lo, hi)
    tops = np.fmax(values, high if high is not None else values)
    finite = values[np.isfinite(values) & (values > 0)]
    # VGG16 against a small CNN: a log axis keeps the small bars visible.
    if len(finite) and finite.max() / finite.min() > 30:
        ax.set_yscale("log")
        ax.set_ylim(finite.min() / 3, np.nanmax(tops) * 6)
    elif len(finite):
        ax.set_ylim(0, np.nanmax(tops) * 1.2)
    for i, (value, top) in enumerate(zip(values, tops, strict=True)):
        text = "n/a" if not np.isfinite(value) else fmt_unit(value)
        ax.annotate(text, (i, top if np.isfinite(top) else 0), **style.ABOVE, fontsize=12,
                    fontweight="bold")  # fmt: skip
    ax.set_xticks(x, [style.wrap(label, 12) for label in labels])
    ax.grid(axis="y", alpha=0.3, zorder=0)


def _number(value: float, digits: int = 2) -> str:
    """``digits`` significant digits, never in exponent notation: 0.4, 59, 580."""
    return f"{float(f'{value:.{digits}g}'):,g}"


@validate_params({"table": [frame_with(*_COLUMNS)], "figsize": [style.FIGSIZE]})
@style.slide_style
def plot_deployment(table: pd.DataFrame, *, figsize=(14, 5.6)) -> Figure:
    """Draw what using each model costs: size, CPU latency and CO₂ per 1,000 predictions.

    ``table``: :func:`tlcourse.measure.deployment.deployment_table` (a bar per network) or a results
    table (a bar per strategy, the median of its runs)."""
    if "strategy" not in table.columns and "name" not in table.columns:
        raise InvalidParameterError("The 'table' parameter of plot_deployment needs a 'strategy' "
                                    "column (a results table) or a 'name' column "
                                    "(tlcourse.measure.deployment.deployment_table). Got columns "
                                    f"{list(table.columns)}.")  # fmt: skip
    if "strategy" in table.columns:
        table, _ = style.largest_training_set(table)
    rows, labels, colors, what = _rows(table)
    co2 = pd.to_numeric(rows["co2_per_1000_predictions_kg"], errors="coerce")
    factor, unit = style.pick_scale(co2.max(), style.CO2_UNITS)
    ends = [
        pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=float) * factor
        if c in rows.columns else None
        for c in ("co2_per_1000_predictions_kg_low", "co2_per_1000_predictions_kg_high")
    ]  # fmt: skip
    fig, axes = style.new_figure(figsize, 1, 3)
    ax_size, ax_time, ax_co2 = axes[0]
    _panel(ax_size, rows["model_mb"], labels, colors, lambda v: f"{_number(v)} MB")
    style.finish(ax_size, "Model size", "", ".keras file (MB)")
    _panel(ax_time, rows["latency_ms"], labels, colors, lambda v: f"{_number(v, 3)} ms")
    style.finish(ax_time, "CPU latency per image", "", "median, batch 1 (ms)")
    _panel(ax_co2, co2 * factor, labels, colors, _number, *ends)
    style.finish(ax_co2, "CO₂ per 1,000 predictions", "", f"CO₂ ({unit})")
    title = f"What using the model costs: {what}"
    fig.suptitle(style.wrap_to_width(title, figsize[0], style.TITLE_FONTSIZE))
    hatched = ends[0] is not None and ends[1] is not None and bool(np.any(ends[1] > ends[0]))
    built = table.get("built_with", pd.Series(dtype=str)).astype(str)
    random = built.str.contains("weights=None").any()
    style.caption(
        fig,
        "Latency: median time of one image (batch 1) through a traced inference function on "
        "this machine's CPU, after warm-up. Size: the saved .keras file, nearly all weights."
        + (" Hatched: range of the CO₂ estimate." if hatched else "")
        + (" Random weights: size and time do not depend on them." if random else "")
        + "\n"
        + co2_footnote(table.assign(co2_kg=table["co2_per_1000_predictions_kg"])),
    )
    return fig
