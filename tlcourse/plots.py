"""The lecture's figures: strategies compared, learning curves, data efficiency, what trains.

Every function returns a :class:`matplotlib.figure.Figure` and never calls ``plt.show()``: a
notebook displays the returned figure, the CLI writes it with :func:`save_figure`. Figures are
made without ``pyplot``, so pyplot does not keep them open: a notebook shows each one once (not
twice), and a loop that draws hundreds leaks nothing. They have no window; in a script, save
them. A function that takes ``ax`` draws into that axes instead and returns its figure (end the
notebook line with ``;`` then, or pyplot shows that figure a second time).

One strategy has one colour and one name in every figure (``STRATEGY_COLORS``,
``STRATEGY_LABELS``, colour-blind-safe Okabe-Ito hues; the baseline, from scratch, in grey).
Spread over seeds is always drawn the same way: **±1 standard deviation when a group has at least
3 seeds, min-max when it has 2** (a standard deviation of two numbers says little), nothing for 1.
"""

from __future__ import annotations

import functools
import io
import json
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from tlcourse.errors import InvalidParameterError
from tlcourse.strategies.registry import strategy_color, strategy_label, strategy_names

__all__ = [
    "STRATEGY_COLORS",
    "STRATEGY_LABELS",
    "parameter_counts",
    "plot_comparison",
    "plot_data_efficiency",
    "plot_learning_curves",
    "plot_learning_rates",
    "plot_lr_find",
    "plot_parameter_counts",
    "plot_trainable_map",
    "save_figure",
]

# The default strategies' labels and colours, from the strategy registry (one source of truth).
STRATEGY_LABELS = {name: strategy_label(name) for name in strategy_names(default=True)}
STRATEGY_COLORS = {name: strategy_color(name) for name in strategy_names(default=True)}
_FROZEN, _TRAINABLE = "#CFE2F3", "#D55E00"  # ice and fire: frozen blocks cold, training hot

# Slide-size text. Applied while a figure is built; tick sizes are also set per axes because
# ticks can be created later, at draw time, outside this context.
_RC = {
    "font.size": 12,
    "axes.titlesize": 14,
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "figure.titlesize": 15,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_SPREAD_NOTE = "±1 SD (min–max when n < 3)"

# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _slide_style(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


class _NotebookFigure(Figure):
    """A Figure that shows itself as a PNG in Jupyter, without pyplot.

    Jupyter only knows how to draw a plain Figure once pyplot has loaded its inline backend;
    before that it prints ``<Figure size ...>``. With ``_repr_png_`` the returned figure is
    drawn either way, and exactly once (pyplot-made figures are drawn again at the end of the
    cell).
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png")
        return buffer.getvalue()


def _new_figure(figsize, nrows=1, ncols=1, **subplot_kw) -> tuple[Figure, np.ndarray]:
    fig = _NotebookFigure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)


def _figure_and_ax(ax, figsize, func: str) -> tuple[Figure, Axes]:
    if ax is None:
        fig, axes = _new_figure(figsize)
        return fig, axes[0, 0]
    if not isinstance(ax, Axes):
        raise InvalidParameterError(
            f"The 'ax' parameter of {func} must be a matplotlib Axes or None. "
            f"Got {type(ax).__name__} instead."
        )
    return ax.get_figure(root=True), ax


def _finish(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.tick_params(labelsize=12)


def _check_frame(frame, required: Sequence[str], func: str, param: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidParameterError(
            f"The {param!r} parameter of {func} must be a pandas DataFrame. "
            f"Got {type(frame).__name__} instead."
        )
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise InvalidParameterError(
            f"The {param!r} parameter of {func} is missing the column(s) {missing}; it needs "
            f"{list(required)}. Got columns {list(frame.columns)}."
        )
    if frame.empty:
        raise InvalidParameterError(
            f"The {param!r} parameter of {func} is an empty DataFrame; it needs at least one row."
        )
    return frame


def _label(strategy) -> str:
    return strategy_label(strategy)


def _color(strategy) -> str:
    return strategy_color(strategy)


def _strategies(values) -> list:
    """The registered strategies in lecture order, then any others alphabetically."""
    present = set(values)
    known = [s for s in strategy_names() if s in present]
    return known + sorted((s for s in present if s not in known), key=str)


def _spread(frame: pd.DataFrame, value: str, by: list[str]) -> pd.DataFrame:
    """Mean and whisker ends per group: ±1 SD with >= 3 values, min-max below (see module)."""
    stats = frame.groupby(by, sort=False)[value].agg(["mean", "std", "min", "max", "count"])
    use_std = stats["count"] >= 3
    stats["low"] = stats["mean"].where(~use_std, stats["mean"] - stats["std"])
    stats["high"] = stats["mean"].where(~use_std, stats["mean"] + stats["std"])
    two_or_less = ~use_std & (stats["count"] == 2)
    stats.loc[two_or_less, "low"] = stats.loc[two_or_less, "min"]
    stats.loc[two_or_less, "high"] = stats.loc[two_or_less, "max"]
    return stats


def _largest_training_set(results: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    full = results["train_per_class"].isna()
    if full.any():
        return results[full], "full training set"
    largest = results["train_per_class"].max()
    return results[results["train_per_class"] == largest], f"{largest:g} images per class"


def _context(results: pd.DataFrame, func: str) -> str:
    """'backbone on dataset' for titles; refuses a strategy whose runs mix backbones or datasets.

    Strategies may differ (the comparison runner trains "from scratch" on its own small CNN),
    but the seeds averaged within one strategy must be alike.
    """
    parts = []
    for column in ("backbone", "dataset"):
        if column not in results.columns:
            continue
        values = results[["strategy", column]].dropna().astype(str)
        mixed = values.groupby("strategy")[column].nunique()
        if (mixed > 1).any():
            strategy = mixed.idxmax()
            found = sorted(values.loc[values["strategy"] == strategy, column].unique())
            raise InvalidParameterError(
                f"{func} averages the runs of each strategy, but {strategy!r} has runs with "
                f"{column} {found}. Select one first, e.g. "
                f"results[results[{column!r}] == {found[0]!r}]."
            )
        transfer = values.loc[values["strategy"] != "scratch", column].unique()
        text = " / ".join(sorted(transfer) or sorted(values[column].unique()))
        scratch = values.loc[values["strategy"] == "scratch", column].unique()
        if len(transfer) and len(scratch) and scratch[0] not in transfer:
            text += f" (from scratch: {scratch[0]})"
        parts += [text] if text else []
    return " on ".join(parts)


def _pick_scale(largest: float, units: Sequence[tuple[float, str]]) -> tuple[float, str]:
    """First (factor, unit) whose scaled ``largest`` is >= 1, else the last one."""
    if not np.isfinite(largest) or largest <= 0:
        return units[0]
    for factor, unit in units:
        if largest * factor >= 1:
            return factor, unit
    return units[-1]


def _short_block(name: str) -> str:
    """'block_3' -> '3', 'block3a' -> '3a', 'conv4_block2' -> '4.2'; stem/top/head unchanged."""
    if match := re.fullmatch(r"conv(\d+)_block(\d+)", name):
        return f"{match[1]}.{match[2]}"
    if name == "preprocessing":
        return "prep."
    if match := re.fullmatch(r"block_?(\w+)", name):
        return match[1]
    return name


def _count_text(count: float) -> str:
    """Parameter counts as people say them: 2.56 k, 3.33 M."""
    if not count:
        return "0"
    factor, unit = _pick_scale(count, [(1e-6, " M"), (1e-3, " k"), (1.0, "")])
    return f"{count * factor:.3g}{unit}"


def _share_text(share: float) -> str:
    return "<1%" if 0 < share < 0.01 else f"{share:.0%}"


def _wrap(text: str, width: int = 11) -> str:
    return textwrap.fill(text, width, break_long_words=False)


# --------------------------------------------------------------------------------------------
# 1. Strategies compared
# --------------------------------------------------------------------------------------------


def _bar_panel(ax: Axes, frame: pd.DataFrame, strategies: list, value: str) -> None:
    stats = _spread(frame, value, ["strategy"]).reindex(strategies)
    # One number format per panel, so 15.0 and 4.1 line up instead of "15" and "4.05".
    largest = stats["mean"].abs().max()
    fmt = ".1f" if largest >= 10 else ".2f" if largest >= 1 else ".2g"
    x = np.arange(len(strategies))
    ax.bar(x, stats["mean"], width=0.68, color=[_color(s) for s in strategies], zorder=2)
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
        top = pd.Series([stats["high"].iloc[i], *seeds]).max()  # NaN only when nothing measured
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
    ax.set_xticks(
        x, [f"{_wrap(_label(s))}\n(n={n})" for s, n in zip(strategies, counts, strict=True)]
    )
    ax.grid(axis="y", alpha=0.3, zorder=0)


def _short_method(method: str) -> str:
    """'Estimated by codecarbon 3.3.2 (...); carbon intensity 367 g CO2e/kWh (USA grid)'.

    ``co2_method`` is a full sentence (see tlcourse.tracking); the caption keeps its lead, up to
    the first colon, and the carbon intensity, the two things a reader needs to judge the bar.
    """
    lead = method.split(":", 1)[0].strip()
    intensity = re.search(r"carbon intensity [^;]*?\([^)]*\)", method)
    if intensity and intensity[0] not in lead:
        lead += f"; {intensity[0]}"
    return textwrap.shorten(lead, 160, placeholder=" …")  # one caption line at 14 in


def _co2_caption(methods: pd.Series, measured: bool) -> str:
    if not measured:
        return "CO₂ not measured for these runs."
    names = methods.dropna().astype(str).str.strip()
    names = list(dict.fromkeys(_short_method(n) for n in names if n))
    if not names:
        return "CO₂: method not recorded."
    more = f" (+{len(names) - 2} other methods)" if len(names) > 2 else ""
    text = "CO₂: " + "; ".join(n.rstrip(".") for n in names[:2]) + more
    return text if text.endswith("…") else text + "."


@_slide_style
def plot_comparison(results: pd.DataFrame, *, figsize=(14, 5.6)) -> Figure:
    """Compare strategies: test accuracy, wall-clock time and CO₂ side by side.

    Each panel has one bar per strategy (the mean over seeds), whiskers for the spread (±1
    standard deviation when a strategy has at least 3 seeds, min-max with 2: a standard
    deviation of two numbers is not worth drawing), every seed as a dot, and the mean printed
    above. The tick labels give the number of seeds. The CO₂ unit (g, mg or µg) follows the
    data; a caption says how CO₂ was estimated (``co2_method``, shortened).

    Only one training-set size is compared: the rows with the full training set
    (``train_per_class`` NaN) when there are any, else the largest ``train_per_class``.

    Args:
        results: one row per run, with at least the columns ``strategy``, ``seed``,
            ``test_accuracy`` (0..1), ``wall_seconds``, ``co2_kg`` (NaN when not measured),
            ``co2_method`` and ``train_per_class``; ``backbone`` and ``dataset`` (one value each)
            go in the title when present.
        figsize: figure size in inches. Defaults to ``(14, 5.6)``.

    Returns:
        The figure, with three axes.

    Raises:
        InvalidParameterError: not a DataFrame, a missing column, no rows, or several backbones
            or datasets mixed.

    Example:
        >>> runs = pd.DataFrame({"strategy": ["scratch", "fine_tuning"] * 2,
        ...     "seed": [0, 0, 1, 1], "test_accuracy": [0.7, 0.9, 0.72, 0.88],
        ...     "wall_seconds": [30.0, 12.0, 31.0, 11.0], "co2_kg": [2e-6, 8e-7, 2e-6, 8e-7],
        ...     "co2_method": "codecarbon, estimated from CPU load", "train_per_class": np.nan})
        >>> fig = plot_comparison(runs)
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['test accuracy (%)', 'wall-clock time (s)', 'CO₂ (mg)']
    """
    required = (
        "strategy",
        "seed",
        "test_accuracy",
        "wall_seconds",
        "co2_kg",
        "co2_method",
        "train_per_class",
    )
    results = _check_frame(results, required, "plot_comparison", "results")
    subset, size_text = _largest_training_set(results)
    context = _context(subset, "plot_comparison")
    strategies = _strategies(subset["strategy"])
    # Minutes only past 10 minutes: the lecture's CPU runs are seconds to minutes long.
    time_factor, time_unit = (1 / 60, "min") if subset["wall_seconds"].max() >= 600 else (1, "s")
    co2_factor, co2_unit = _pick_scale(
        subset["co2_kg"].max(), [(1e3, "g"), (1e6, "mg"), (1e9, "µg")]
    )
    frame = subset.assign(
        accuracy=subset["test_accuracy"] * 100,
        time=subset["wall_seconds"] * time_factor,
        co2=subset["co2_kg"] * co2_factor,
    )
    panels = [
        ("accuracy", "Test accuracy", "test accuracy (%)"),
        ("time", "Training time", f"wall-clock time ({time_unit})"),
        ("co2", "Estimated CO₂", f"CO₂ ({co2_unit})"),
    ]
    fig, axes = _new_figure(figsize, 1, 3)
    for ax, (value, title, ylabel) in zip(axes[0], panels, strict=True):
        _bar_panel(ax, frame, strategies, value)
        _finish(ax, title, "", ylabel)
    fig.suptitle(f"Strategies compared: {', '.join(filter(None, [context, size_text]))}")
    caption = (
        f"Bars: mean over seeds (n below each bar); whiskers: {_SPREAD_NOTE}; dots: seeds.\n"
        + _co2_caption(subset["co2_method"], subset["co2_kg"].notna().any())
    )
    fig.supxlabel(caption, fontsize=11, color="#444444")
    return fig


# --------------------------------------------------------------------------------------------
# 2. Learning curves
# --------------------------------------------------------------------------------------------


def _parse_history(history, row) -> dict:
    if hasattr(history, "history") and isinstance(history.history, dict):
        history = history.history  # a keras.callbacks.History
    if isinstance(history, str):
        try:
            history = json.loads(history)
        except json.JSONDecodeError as error:
            raise InvalidParameterError(
                f"The 'history' of run {row} is not valid JSON ({error}). It must be a JSON "
                'object of lists, e.g. \'{"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]}\'.'
            ) from None
    if not isinstance(history, Mapping) or not history:
        raise InvalidParameterError(
            f"The 'history' of run {row} must be a non-empty dict of per-epoch lists (or its "
            f"JSON, or a keras History). Got {type(history).__name__} {history!r:.60}."
        )
    return dict(history)


def _history_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Long table: one row per (run, epoch), one column per history key, epochs from 1."""
    parts = []
    for row, (strategy, history) in enumerate(zip(runs["strategy"], runs["history"], strict=True)):
        series = {k: pd.Series(v, dtype=float) for k, v in _parse_history(history, row).items()}
        part = pd.DataFrame(series)
        parts.append(part.assign(strategy=strategy, run=row, epoch=np.arange(1, len(part) + 1)))
    return pd.concat(parts, ignore_index=True)


def _accuracy_key(columns, metric: str | None) -> str:
    candidates = (
        [metric]
        if metric
        else [
            "accuracy",
            "acc",
            "sparse_categorical_accuracy",
            "categorical_accuracy",
            "binary_accuracy",
        ]
    )
    for key in candidates:
        if key in columns:
            return key
    keys = sorted(c for c in columns if c not in ("strategy", "run", "epoch"))
    raise InvalidParameterError(
        f"The 'metric' parameter of plot_learning_curves must be a key of the histories. "
        f"Got {metric!r} instead; the histories have {keys}."
    )


def _curve(
    ax: Axes, curves: pd.DataFrame, key: str, strategy, scale: float, style: str, band: bool
) -> None:
    data = curves[curves["strategy"] == strategy].dropna(subset=[key])
    if data.empty:
        return
    stats = _spread(data.assign(value=data[key] * scale), "value", ["epoch"]).sort_index()
    color = _color(strategy)
    ax.plot(stats.index, stats["mean"], style, color=color, lw=2.2, marker="o", ms=3.5)
    if band and (stats["count"] > 1).any():
        ax.fill_between(stats.index, stats["low"], stats["high"], color=color, alpha=0.18, lw=0)


def _mark_fine_tuning(ax: Axes, starts: dict, several: bool) -> None:
    for start, strategies in starts.items():
        color = _color(strategies[0]) if several else "black"
        ax.axvline(start, ls="--", lw=1.6, color=color, zorder=1)
        text = "fine-tuning starts"
        if several:
            text += f"\n({', '.join(_label(s) for s in strategies)})"
        # x in data units, y in axes units: the note stays at the top whatever the y range.
        ax.annotate(
            text,
            (start, 0.97),
            xycoords=ax.get_xaxis_transform(),
            xytext=(5, 0),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=11,
            color=color,
        )


@_slide_style
def plot_learning_curves(
    results_or_history,
    *,
    fine_tune_start: float | None = None,
    label: str = "run",
    metric: str | None = None,
    figsize=(14, 5.6),
) -> Figure:
    """Draw train and validation accuracy (left) and loss (right) per epoch, per strategy.

    With several seeds, each curve is the mean per epoch with a band (±1 standard deviation
    with at least 3 seeds, min-max with 2). Validation is solid, training dashed. The x axis
    counts completed epochs (1 = after the first epoch); a dashed vertical line at
    ``x = fine_tune_start`` marks "fine-tuning starts": points left of it were trained with the
    backbone frozen, points right of it while fine-tuning. Results with several training-set
    sizes are reduced to one as in :func:`plot_comparison`.

    Args:
        results_or_history: a results DataFrame (columns ``strategy`` and ``history``, a JSON
            string or dict of per-epoch lists; optional ``fine_tune_start``,
            ``train_per_class``, ``backbone``, ``dataset``), or one run's history: a dict like
            ``{"accuracy": [...], "val_accuracy": [...], "loss": [...], ...}``, its JSON, or a
            ``keras.callbacks.History``.
        fine_tune_start: for a single history, the epoch index where fine-tuning began
            (``initial_epoch`` of the second ``fit``). Ignored for a DataFrame, which has its
            own column. Defaults to None (no line).
        label: for a single history, the strategy key or legend label. Defaults to ``"run"``.
        metric: history key of the accuracy. Defaults to None: the first of ``accuracy``,
            ``acc``, ``sparse_categorical_accuracy``, ``categorical_accuracy``,
            ``binary_accuracy`` found.
        figsize: figure size in inches. Defaults to ``(14, 5.6)``.

    Returns:
        The figure, with the accuracy and the loss axes.

    Raises:
        InvalidParameterError: a missing column, no rows, a history that is not a dict of lists,
            or no accuracy key.

    Example:
        >>> history = {"accuracy": [0.5, 0.7, 0.8, 0.9], "val_accuracy": [0.5, 0.6, 0.7, 0.8],
        ...            "loss": [1.0, 0.7, 0.5, 0.3], "val_loss": [1.1, 0.9, 0.8, 0.7]}
        >>> fig = plot_learning_curves(history, fine_tune_start=2, label="fine_tuning")
        >>> fig.axes[0].get_ylabel()
        'accuracy (%)'
    """
    if isinstance(results_or_history, pd.DataFrame):
        runs = _check_frame(
            results_or_history,
            ("strategy", "history"),
            "plot_learning_curves",
            "results_or_history",
        )
        if "train_per_class" in runs.columns:
            runs, size_text = _largest_training_set(runs)
        else:
            size_text = ""
        context = _context(runs, "plot_learning_curves")
        starts = runs["fine_tune_start"] if "fine_tune_start" in runs.columns else None
    else:
        runs = pd.DataFrame({"strategy": [label], "history": [results_or_history]})
        context = size_text = ""
        starts = pd.Series([fine_tune_start], dtype=float)
    curves = _history_frame(runs)
    accuracy = _accuracy_key(curves.columns, metric)
    strategies = _strategies(runs["strategy"])
    band = len(runs) > len(strategies)

    fig, axes = _new_figure(figsize, 1, 2)
    panels = [
        (axes[0, 0], accuracy, 100.0, "Accuracy", "accuracy (%)"),
        (axes[0, 1], "loss", 1.0, "Loss", "loss (cross-entropy)"),
    ]
    fine_tuning = {}
    if starts is not None:
        marked = pd.DataFrame(
            {
                "strategy": runs["strategy"].to_numpy(),
                "start": pd.to_numeric(starts, errors="coerce").to_numpy(),
            }
        )
        for start, group in marked.dropna().groupby("start"):
            fine_tuning[float(start)] = _strategies(group["strategy"])
    for ax, key, scale, title, ylabel in panels:
        for strategy in strategies:
            if key in curves.columns:
                _curve(ax, curves, key, strategy, scale, "--", band)
            if f"val_{key}" in curves.columns:
                _curve(ax, curves, f"val_{key}", strategy, scale, "-", band)
        _mark_fine_tuning(ax, fine_tuning, several=len(fine_tuning) > 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        _finish(ax, f"{title} per epoch", "epoch", ylabel)

    handles = [Line2D([], [], color=_color(s), lw=3, label=_label(s)) for s in strategies]
    handles += [
        Line2D([], [], color="black", lw=2, ls="-", label="validation"),
        Line2D([], [], color="black", lw=2, ls="--", label="training"),
    ]
    fig.legend(
        handles=handles, loc="outside lower center", ncols=min(len(handles), 6), frameon=False
    )
    subtitle = ", ".join(filter(None, [context, size_text]))
    spread = f"\nmean over seeds; band: {_SPREAD_NOTE}" if band else ""
    fig.suptitle(f"Learning curves{': ' + subtitle if subtitle else ''}{spread}")
    return fig


# --------------------------------------------------------------------------------------------
# 3. Data efficiency
# --------------------------------------------------------------------------------------------


@_slide_style
def plot_data_efficiency(
    results: pd.DataFrame, *, log_x: bool = True, ax: Axes | None = None, figsize=(10, 6)
) -> Figure:
    """Test accuracy against training images per class, one line per strategy.

    The figure where transfer learning shines: with few images per class, a pretrained backbone
    is far ahead of training from scratch. Lines are the mean over seeds, with a band (±1
    standard deviation with at least 3 seeds, min-max with 2). The x axis is logarithmic by
    default because training sizes are usually spaced geometrically (5, 10, 20, 50...); its
    ticks are the sizes present. Rows with the full training set (``train_per_class`` NaN) are
    placed at ``train_images / classes``, the number of classes being read from the other rows
    (``train_images / train_per_class``), and marked "full". At the smallest size, an arrow
    shows how far the best transfer strategy is ahead of training from scratch.

    Args:
        results: one row per run with columns ``strategy``, ``seed``, ``test_accuracy``,
            ``train_per_class`` and ``train_images``.
        log_x: logarithmic x axis. Defaults to True.
        ax: axes to draw into. Defaults to None (a new figure).
        figsize: figure size in inches, for a new figure. Defaults to ``(10, 6)``.

    Returns:
        The figure.

    Raises:
        InvalidParameterError: a missing column, no rows, or no row with ``train_per_class``.

    Example:
        >>> runs = pd.DataFrame({"strategy": ["scratch", "fine_tuning"] * 2, "seed": 0,
        ...     "train_per_class": [5, 5, 50, 50], "train_images": [30, 30, 300, 300],
        ...     "test_accuracy": [0.3, 0.8, 0.6, 0.9]})
        >>> len(plot_data_efficiency(runs).axes[0].get_lines())
        2
    """
    required = ("strategy", "seed", "test_accuracy", "train_per_class", "train_images")
    results = _check_frame(results, required, "plot_data_efficiency", "results")
    known = results.dropna(subset=["train_per_class"])
    if known.empty:
        raise InvalidParameterError(
            "The 'results' parameter of plot_data_efficiency needs rows with 'train_per_class' "
            "set (several training-set sizes); every row has NaN (full data)."
        )
    classes = (known["train_images"] / known["train_per_class"]).median()
    full = results["train_per_class"].isna()
    frame = results.assign(
        per_class=results["train_per_class"].fillna(results["train_images"] / classes),
        accuracy=results["test_accuracy"] * 100,
    )
    context = _context(frame, "plot_data_efficiency")
    fig, ax = _figure_and_ax(ax, figsize, "plot_data_efficiency")
    stats = _spread(frame, "accuracy", ["strategy", "per_class"]).sort_index()
    strategies = _strategies(frame["strategy"])
    for strategy in strategies:
        line = stats.loc[strategy]
        color = _color(strategy)
        seeds = frame.loc[frame["strategy"] == strategy, "seed"].nunique()
        ax.plot(
            line.index,
            line["mean"],
            "-o",
            color=color,
            lw=2.5,
            ms=7,
            label=f"{_label(strategy)} (n={seeds})",
        )
        ax.fill_between(line.index, line["low"], line["high"], color=color, alpha=0.18, lw=0)

    sizes = np.sort(frame["per_class"].unique())
    if log_x:
        ax.set_xscale("log")
    labels = [f"{s:g}" for s in sizes]
    if full.any():
        full_x = frame.loc[full, "per_class"].median()
        labels = [
            (f"{s:g}" if float(s).is_integer() else f"≈{s:.0f}") + "\n(full)"
            if np.isclose(s, full_x)
            else t
            for s, t in zip(sizes, labels, strict=True)
        ]
    ax.set_xticks(sizes, labels)
    ax.xaxis.set_minor_locator(NullLocator())

    smallest = stats.xs(sizes[0], level="per_class")["mean"]
    transfer = smallest.drop("scratch", errors="ignore")
    if "scratch" in smallest.index and not transfer.empty and transfer.max() > smallest["scratch"]:
        gap = transfer.max() - smallest["scratch"]
        ax.annotate(
            "",
            (sizes[0], transfer.max()),
            xytext=(sizes[0], smallest["scratch"]),
            arrowprops={"arrowstyle": "<->", "lw": 1.8, "color": "black"},
        )
        ax.annotate(
            f"+{gap:.0f} points\nwith transfer",
            (sizes[0], smallest.mean()),
            xytext=(10, 0),
            textcoords="offset points",
            va="center",
            fontsize=12,
        )
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    scale = "log scale" if log_x else "linear scale"
    title = "Where transfer learning shines"
    _finish(
        ax,
        f"{title}{': ' + context if context else ''}",
        f"training images per class ({scale})",
        "test accuracy (%)",
    )
    return fig


# --------------------------------------------------------------------------------------------
# 4. What trains: blocks by strategy
# --------------------------------------------------------------------------------------------

_TRAINABLE_ALIASES = ("trainable_params", "trainable_parameters", "trainable")
_FROZEN_ALIASES = ("frozen_params", "frozen_parameters", "frozen", "non_trainable_params")


def _normalise_summary(table: pd.DataFrame, label) -> pd.DataFrame:
    """Columns block, trainable, frozen from a trainable_summary table (aliases accepted)."""
    if not isinstance(table, pd.DataFrame):
        raise InvalidParameterError(
            f"The summary for {label!r} in plot_trainable_map must be a DataFrame from "
            f"tlcourse.trainable_summary or a keras.Model. Got {type(table).__name__} instead."
        )
    if "block" not in table.columns:
        table = table.rename_axis("block").reset_index()
    columns = {}
    for name, aliases in (("trainable", _TRAINABLE_ALIASES), ("frozen", _FROZEN_ALIASES)):
        found = [a for a in aliases if a in table.columns]
        if not found:
            raise InvalidParameterError(
                f"The summary for {label!r} in plot_trainable_map is missing a column "
                f"{aliases[0]!r} (or one of {list(aliases[1:])}); it needs 'block' (column or "
                f"index), 'trainable_params' and 'frozen_params'. Got columns "
                f"{list(table.columns)}."
            )
        columns[found[0]] = name
    if table.empty:
        raise InvalidParameterError(f"The summary for {label!r} in plot_trainable_map has no rows.")
    out = table[["block", *columns]].rename(columns=columns)
    return out.assign(block=out["block"].astype(str))


def _summary_from_model(model) -> pd.DataFrame:
    """Trainable/frozen parameters per block plus "head", as ``fit`` would see them."""
    from tlcourse.backbones import backbone_blocks, find_backbone

    backbone, spec = find_backbone(model)
    # The outer model's list is the truth: an inner layer flagged trainable inside a frozen
    # parent does not train.
    training = {id(w) for w in model.trainable_weights}
    outer = [] if model is backbone else [layer for layer in model.layers if layer is not backbone]
    head_layers = outer + [layer for layer in backbone.layers if layer.name in spec.head_layers]
    groups = [(b.name, b.weights) for b in backbone_blocks(model)]
    groups.append(("head", [w for layer in head_layers for w in layer.weights]))
    rows = [
        {
            "block": name,
            "trainable_params": sum(int(np.prod(w.shape)) for w in weights if id(w) in training),
            "frozen_params": sum(int(np.prod(w.shape)) for w in weights if id(w) not in training),
        }
        for name, weights in groups
    ]
    table = pd.DataFrame(rows)
    return table if rows[-1]["trainable_params"] + rows[-1]["frozen_params"] else table[:-1]


def _set_trainable_by_blocks(model, depth) -> None:
    """Stand-in for tlcourse.freezing.set_trainable: the last ``depth`` blocks train."""
    from tlcourse.backbones import backbone_blocks, find_backbone

    backbone, _ = find_backbone(model)
    blocks = backbone_blocks(model)
    if depth == "all":
        depth = len(blocks)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= len(blocks):
        raise InvalidParameterError(
            f"The 'depth' parameter of set_trainable must be an int in the range "
            f"[0, {len(blocks)}] or 'all'. Got {depth!r} instead."
        )
    backbone.trainable = True
    for index, block in enumerate(blocks):
        for layer in block.layers:
            layer.trainable = index >= len(blocks) - depth


def _depth_text(depth) -> str:
    if depth == "all":
        return "all blocks"
    return "head only" if depth == 0 else f"last {depth} block{'s' * (depth != 1)}"


def _freezing_tools():
    """(set_trainable, trainable_summary) from tlcourse.freezing, or the stand-ins here."""
    try:
        from tlcourse.freezing import set_trainable, trainable_summary
    except ImportError:
        return _set_trainable_by_blocks, _summary_from_model
    return set_trainable, trainable_summary


def _summaries_for_depths(backbone: str, depths: Mapping, num_classes: int) -> dict:
    import keras

    from tlcourse.backbones import load_backbone

    set_trainable, summarise = _freezing_tools()
    base = load_backbone(backbone, weights=None, input_shape=(96, 96, 3))
    inputs = keras.Input(base.input_shape[1:])
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(base(inputs))
    model = keras.Model(inputs, outputs, name="classifier_model")
    summaries = {}
    for label, depth in depths.items():
        set_trainable(model, depth)
        summaries[f"{_label(label)}\n{_depth_text(depth)}"] = summarise(model)
    return summaries


@_slide_style
def plot_trainable_map(
    tables_or_backbone,
    depths: Mapping | None = None,
    *,
    num_classes: int = 2,
    figsize=None,
) -> Figure:
    """Show which blocks train in each strategy: a grid of blocks, plus parameters per block.

    Rows are strategies (or depths), columns the backbone's blocks from input to output and then
    the classifier head. A cell's colour is the share of the block's parameters that train, from
    frozen (ice blue) to trainable (red); BatchNorm moving statistics never train, so a
    "trainable" block can be a few percent short of full colour. The bars above give each
    block's parameter count, and each row ends with its number of trainable parameters. Block
    names are shortened (``block_3`` -> ``3``, ``block3a`` -> ``3a``, ``conv4_block2`` ->
    ``4.2``) so 18-19 blocks stay legible.

    Args:
        tables_or_backbone: either a dict ``{label: table}`` where each table is what
            ``tlcourse.trainable_summary(model)`` returns (columns ``block`` or a block index,
            ``trainable_params``, ``frozen_params``; ``trainable``/``frozen`` accepted) or a
            keras model (its current flags are read, not changed); or a backbone name, with
            ``depths``.
        depths: with a backbone name, ``{label: depth}`` where depth is the number of last
            blocks that train (0 = head only) or ``"all"``. The backbone is built with
            ``weights=None`` plus a dense head, and frozen with ``tlcourse.freezing.set_trainable``
            (or, when that module is not there, by making the last ``depth`` blocks trainable).
            Labels that are strategy keys are shown with their names. Defaults to None.
        num_classes: outputs of the dense head built with a backbone name. Defaults to 2.
        figsize: figure size in inches. Defaults to None (sized from the grid).

    Returns:
        The figure: the parameter bars on top, the grid below.

    Raises:
        InvalidParameterError: an unknown backbone, a bad depth, a table without the columns.

    Example:
        >>> fig = plot_trainable_map("vgg16", {"feature_extraction": 0, "fine_tuning": 2})
        >>> [t.get_text() for t in fig.axes[1].get_xticklabels()]
        ['1', '2', '3', '4', '5', 'head']
    """
    if isinstance(tables_or_backbone, str):
        if not isinstance(depths, Mapping) or not depths:
            raise InvalidParameterError(
                "The 'depths' parameter of plot_trainable_map must be a non-empty dict "
                "{label: depth} when a backbone name is given, e.g. {'feature_extraction': 0, "
                f"'fine_tuning': 4, 'scratch': 'all'}}. Got {depths!r} instead."
            )
        tables = _summaries_for_depths(tables_or_backbone, depths, num_classes)
    elif isinstance(tables_or_backbone, Mapping) and tables_or_backbone:
        # A model is recognised by duck typing, so tables alone never import Keras.
        tables = {
            _label(label): _freezing_tools()[1](t) if hasattr(t, "trainable_weights") else t
            for label, t in tables_or_backbone.items()
        }
    else:
        raise InvalidParameterError(
            "The 'tables_or_backbone' parameter of plot_trainable_map must be a non-empty dict "
            "{label: trainable_summary DataFrame or keras.Model} or a backbone name. "
            f"Got {type(tables_or_backbone).__name__} instead."
        )
    frames = {label: _normalise_summary(t, label) for label, t in tables.items()}
    long = pd.concat(frames, names=["row", None]).reset_index(level=0)
    blocks = list(dict.fromkeys(long["block"]))
    blocks = [b for b in blocks if b != "head"] + ["head"] * ("head" in blocks)
    rows = list(frames)
    total = long["trainable"] + long["frozen"]
    share = long.assign(share=long["trainable"] / total.where(total > 0))
    grid = share.pivot_table(index="row", columns="block", values="share", sort=False)
    grid = grid.reindex(index=rows, columns=blocks)
    params = (long.assign(total=total).groupby("block")["total"].max()).reindex(blocks)

    width = max(9.0, 0.5 * len(blocks) + 5.5)
    height = 3.2 + 0.75 * len(rows)
    fig, axes = _new_figure(
        figsize or (width, height),
        2,
        1,
        sharex=True,
        height_ratios=[1.4, max(1.5, 0.75 * len(rows))],
    )
    bar_ax, grid_ax = axes[:, 0]
    factor, unit = _pick_scale(params.max(), [(1e-6, "M"), (1e-3, "k"), (1.0, "")])
    x = np.arange(len(blocks))
    bar_ax.bar(x, params * factor, color="#888888", width=0.7)
    bar_ax.set_ylabel(f"parameters\n({unit or 'count'})")
    bar_ax.set_title("Parameters per block")
    bar_ax.tick_params(labelsize=12)
    bar_ax.grid(axis="y", alpha=0.3)

    cmap = LinearSegmentedColormap.from_list("trainable", [_FROZEN, _TRAINABLE])
    mesh = grid_ax.pcolormesh(
        np.arange(len(blocks) + 1) - 0.5,
        np.arange(len(rows) + 1) - 0.5,
        grid.to_numpy(dtype=float),
        cmap=cmap,
        vmin=0,
        vmax=1,
        edgecolors="white",
        linewidth=2,
    )
    if "head" in blocks:
        grid_ax.axvline(len(blocks) - 1.5, color="black", lw=2)
    grid_ax.set_ylim(len(rows) - 0.5, -0.5)
    grid_ax.set_yticks(np.arange(len(rows)), rows)
    grid_ax.set_xticks(
        x, [_short_block(b) for b in blocks], rotation=0 if len(blocks) <= 12 else 90
    )
    trainable = long.groupby("row", sort=False)["trainable"].sum().reindex(rows)
    every = total.groupby(long["row"], sort=False).sum().reindex(rows)
    right = grid_ax.secondary_yaxis("right")
    right.set_yticks(
        np.arange(len(rows)),
        [
            f"{_count_text(t)} trainable\n({_share_text(t / e)})" if e else "no parameters"
            for t, e in zip(trainable, every, strict=True)
        ],
    )
    right.tick_params(labelsize=11, length=0)
    right.spines["right"].set_visible(False)
    for spine in ("top", "right", "bottom", "left"):
        grid_ax.spines[spine].set_visible(False)
    grid_ax.tick_params(axis="y", length=0)
    colorbar = fig.colorbar(mesh, ax=grid_ax, location="bottom", shrink=0.35, aspect=25, pad=0.02)
    colorbar.set_ticks([0, 0.5, 1], labels=["frozen", "half", "trainable"])
    colorbar.ax.tick_params(labelsize=12)
    _finish(grid_ax, "Blocks that train", "block (input → output), then the classifier head", "")
    fig.suptitle("What trains in each strategy")
    return fig


# --------------------------------------------------------------------------------------------
# 5. Learning rates per block
# --------------------------------------------------------------------------------------------


def _is_head(block) -> bool:
    return pd.isna(block) or str(block).strip().lower() in ("", "head", "none")


@_slide_style
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
        InvalidParameterError: a missing column or no rows.

    Example:
        >>> table = pd.DataFrame({"path": ["a/kernel", "b/kernel", "head/kernel"],
        ...     "block": ["block_1", "block_2", "head"], "multiplier": [0.25, 0.5, 1.0],
        ...     "learning_rate": [2.5e-4, 5e-4, 1e-3]})
        >>> plot_learning_rates(table).axes[0].get_yscale()
        'log'
    """
    table = _check_frame(lr_table, ("block", "learning_rate"), "plot_learning_rates", "lr_table")
    table = table.assign(block=table["block"].map(lambda b: "head" if _is_head(b) else str(b)))
    # The block's rate is its trainable variables' rate: frozen ones (BatchNorm statistics,
    # listed with rate 0 by include_frozen=True) must not drag it to 0.
    per_block = table.groupby("block", sort=False)["learning_rate"].max()
    order = [b for b in per_block.index if b != "head"] + ["head"] * ("head" in per_block.index)
    rates = per_block.reindex(order).astype(float)
    n = len(rates)
    fig, ax = _figure_and_ax(ax, figsize or (max(8.0, 0.5 * n + 4), 6), "plot_learning_rates")
    x = np.arange(n)
    training = rates > 0
    colors = ["#004D40" if b == "head" else STRATEGY_COLORS["fine_tuning_dlr"] for b in order]
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
    ax.set_xticks(x, [_short_block(b) for b in order], rotation=0 if n <= 12 else 90)
    ax.set_xlim(-0.7, n - 0.3)  # room for the rotated labels of the first and last bars
    ax.grid(axis="y", which="major", alpha=0.3, zorder=0)
    _finish(
        ax,
        "Learning rate per block",
        "block (input → output), then the head",
        "learning rate (log scale)",
    )
    return fig


# --------------------------------------------------------------------------------------------
# 6. Parameter counts of the lecture's networks
# --------------------------------------------------------------------------------------------

LECTURE_NETWORKS = ("vgg16", "resnet50", "mobilenet_v2", "efficientnet_b0", "efficientnet_lite0")


def _count_with_head(name: str, classes: int | None) -> tuple[int, str]:
    import keras

    from tlcourse.backbones import load_backbone

    if classes is None:
        base = load_backbone(name, weights=None)
        return base.count_params(), f"load_backbone({name!r}, weights=None), global average pool"
    if name == "vgg16":
        # VGG16's own top: flatten 7x7x512, two 4096-unit layers, then the classifier. It holds
        # ~120 M of the ~134 M parameters, which is the lecture's point about VGG16.
        base = load_backbone(name, weights=None, pooling=None)
        x = keras.layers.Flatten(name="flatten")(base.output)
        x = keras.layers.Dense(4096, activation="relu", name="fc1")(x)
        x = keras.layers.Dense(4096, activation="relu", name="fc2")(x)
        how = f"original top: flatten, 4096, 4096, {classes} outputs"
    else:
        base = load_backbone(name, weights=None)
        x = base.output
        how = f"global average pool + dense {classes} outputs (its original top)"
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    model = keras.Model(base.input, outputs, name=f"{name}_with_head")
    return model.count_params(), f"load_backbone({name!r}, weights=None), 224 px; {how}"


def parameter_counts(
    names: Sequence[str] = LECTURE_NETWORKS, with_head_classes: int | None = 2
) -> pd.DataFrame:
    """Count the parameters of the lecture's networks, built with random weights.

    Each network is built at 224 px with ``weights=None`` (nothing is downloaded or cached) and
    its **original ImageNet top with** ``with_head_classes`` **outputs** instead of 1000: for
    VGG16 that is flatten, two 4096-unit dense layers and the classifier, which is
    ``keras.applications.VGG16(weights=None, include_top=True, classes=2)``: 134,268,738
    parameters with the default 2 classes, the lecture's "VGG16 with a small head, about 134
    million" (138.4 M with the 1000 ImageNet classes). The others' original top is global
    average pooling + one dense layer. Building VGG16 takes a few seconds and about 0.5 GB.

    Args:
        names: backbone names from :func:`tlcourse.list_backbones`. Defaults to
            ``("vgg16", "resnet50", "mobilenet_v2", "efficientnet_b0", "efficientnet_lite0")``.
        with_head_classes: outputs of the classifier; None counts the backbone alone (global
            average pooling, no top). Defaults to 2.

    Returns:
        DataFrame with columns ``name``, ``parameters`` (int), ``millions`` (float) and
        ``built_with`` (how the model was built), in the order of ``names``.

    Raises:
        InvalidParameterError: an unknown name or a bad ``with_head_classes``.

    Example:
        >>> parameter_counts(["efficientnet_lite0"])["parameters"].item()
        3415586
    """
    bad_classes = isinstance(with_head_classes, bool) or not (
        with_head_classes is None or (isinstance(with_head_classes, int) and with_head_classes > 0)
    )
    if bad_classes:
        raise InvalidParameterError(
            "The 'with_head_classes' parameter of parameter_counts must be an int >= 1 or None. "
            f"Got {with_head_classes!r} instead."
        )
    if isinstance(names, str) or not names:
        raise InvalidParameterError(
            "The 'names' parameter of parameter_counts must be a non-empty list of backbone "
            f"names, e.g. ['vgg16', 'efficientnet_lite0']. Got {names!r} instead."
        )
    rows = []
    for name in names:
        count, how = _count_with_head(name, with_head_classes)
        rows.append({"name": name, "parameters": int(count), "built_with": how})
    table = pd.DataFrame(rows)
    table.insert(2, "millions", table["parameters"] / 1e6)
    return table


@_slide_style
def plot_parameter_counts(
    names: Sequence[str] = LECTURE_NETWORKS,
    with_head_classes: int | None = 2,
    *,
    counts: pd.DataFrame | None = None,
    log_x: bool = False,
    ax: Axes | None = None,
    figsize=(10, 5),
) -> Figure:
    """Horizontal bars of the networks' parameter counts, in millions, largest on top.

    The x axis is linear by default, so VGG16's size is seen, not only read; every bar carries
    its value.

    Args:
        names: backbone names, as in :func:`parameter_counts`. Defaults to the lecture's five.
        with_head_classes: classifier outputs, as in :func:`parameter_counts`. Defaults to 2.
        counts: a table from :func:`parameter_counts` to draw instead of building the networks
            (``names`` and ``with_head_classes`` are then ignored). Defaults to None.
        log_x: logarithmic x axis. Defaults to False.
        ax: axes to draw into. Defaults to None (a new figure).
        figsize: figure size in inches, for a new figure. Defaults to ``(10, 5)``.

    Returns:
        The figure.

    Raises:
        InvalidParameterError: as :func:`parameter_counts`, or ``counts`` without the columns
            ``name`` and ``parameters``.

    Example:
        >>> table = pd.DataFrame({"name": ["vgg16", "efficientnet_lite0"],
        ...                       "parameters": [134_268_738, 3_415_586]})
        >>> len(plot_parameter_counts(counts=table).axes[0].patches)
        2
    """
    if counts is None:
        counts = parameter_counts(names, with_head_classes)
        head = "no top" if with_head_classes is None else f"a {with_head_classes}-class top"
    else:
        head = ""
    counts = _check_frame(counts, ("name", "parameters"), "plot_parameter_counts", "counts")
    counts = counts.sort_values("parameters")
    millions = counts["parameters"] / 1e6
    fig, ax = _figure_and_ax(ax, figsize, "plot_parameter_counts")
    bars = ax.barh(counts["name"].astype(str), millions, color="#555555", height=0.6)
    ax.bar_label(bars, [f"{m:.1f} M" for m in millions], padding=4, fontsize=12)
    if log_x:
        ax.set_xscale("log")
        ax.set_xlim(millions.min() / 2, millions.max() * 4)
    else:
        ax.set_xlim(0, millions.max() * 1.15)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.grid(axis="x", alpha=0.3)
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    title = f"Parameters (random weights{', ' + head if head else ''})"
    _finish(ax, title, f"parameters (millions{', log scale' if log_x else ''})", "")
    return fig


# --------------------------------------------------------------------------------------------
# 7. Learning-rate finder
# --------------------------------------------------------------------------------------------


@_slide_style
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
    table = _check_frame(
        lr_find_table, ("lr", "loss", "smoothed_loss"), "plot_lr_find", "lr_find_table"
    )
    if suggestion is not None and not (isinstance(suggestion, int | float) and suggestion > 0):
        raise InvalidParameterError(
            f"The 'suggestion' parameter of plot_lr_find must be a learning rate > 0 or None. "
            f"Got {suggestion!r} instead."
        )
    table = table.replace([np.inf, -np.inf], np.nan).dropna(subset=["lr", "smoothed_loss"])
    table = table[table["lr"] > 0].sort_values("lr")
    if table.empty:
        raise InvalidParameterError(
            "The 'lr_find_table' parameter of plot_lr_find has no row with a finite loss and "
            "a learning rate > 0."
        )
    fig, ax = _figure_and_ax(ax, figsize, "plot_lr_find")
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
    _finish(ax, "Learning-rate range test", "learning rate (log scale)", "training loss")
    return fig


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


def save_figure(fig: Figure, path) -> Path:
    """Write a figure as PNG at 150 dpi, creating the parent folders.

    Args:
        fig: a matplotlib figure (what every plotting function here returns).
        path: file path; ``.png`` is added when it has no suffix. Another suffix matplotlib
            knows (``.pdf``, ``.svg``) writes that format instead.

    Returns:
        The path written.

    Raises:
        InvalidParameterError: ``fig`` is not a matplotlib Figure.

    Example:
        >>> import tempfile
        >>> table = pd.DataFrame({"lr": [1e-4, 1e-3], "loss": [2.0, 1.5],
        ...                       "smoothed_loss": [2.0, 1.7]})
        >>> out = save_figure(plot_lr_find(table), Path(tempfile.mkdtemp()) / "figs" / "lr")
        >>> out.name, out.stat().st_size > 10_000
        ('lr.png', True)
    """
    if not isinstance(fig, Figure):
        raise InvalidParameterError(
            f"The 'fig' parameter of save_figure must be a matplotlib Figure. "
            f"Got {type(fig).__name__} instead."
        )
    path = Path(path).expanduser()
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path
