"""Learning curves: train and validation accuracy and loss per epoch, per strategy."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from tlcourse.comparison.strategies import strategy_color, strategy_label
from tlcourse.errors import InvalidParameterError
from tlcourse.plots import style
from tlcourse.validation import Interval, Rule, frame_with, validate_params

__all__ = ["plot_learning_curves"]

_ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy",
                  "binary_accuracy")  # fmt: skip


def _parse_history(history, row) -> dict:
    history = getattr(history, "history", history)  # a keras.callbacks.History
    if isinstance(history, str):
        try:
            history = json.loads(history)
        except json.JSONDecodeError as error:
            raise InvalidParameterError(
                f"The 'history' of run {row} is not valid JSON ({error}). It must be a JSON "
                'object of lists, e.g. \'{"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]}\'.'
            ) from None
    if not isinstance(history, Mapping) or not history:
        raise InvalidParameterError(f"The 'history' of run {row} must be a non-empty dict of "
                                    "per-epoch lists (or its JSON, or a keras History). Got "
                                    f"{type(history).__name__} {history!r:.60}.")  # fmt: skip
    return dict(history)


def _history_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, epoch), one column per history key, epochs from 1."""
    parts = []
    for row, (strategy, history) in enumerate(zip(runs["strategy"], runs["history"], strict=True)):
        series = {k: pd.Series(v, dtype=float) for k, v in _parse_history(history, row).items()}
        part = pd.DataFrame(series)
        parts.append(part.assign(strategy=strategy, run=row, epoch=np.arange(1, len(part) + 1)))
    return pd.concat(parts, ignore_index=True)


def _accuracy_key(columns, metric: str | None) -> str:
    for key in [metric] if metric else _ACCURACY_KEYS:
        if key in columns:
            return key
    keys = sorted(c for c in columns if c not in ("strategy", "run", "epoch"))
    raise InvalidParameterError("The 'metric' parameter of plot_learning_curves must be a key of "
                                f"the histories. Got {metric!r} instead; the "
                                f"histories have {keys}.")  # fmt: skip


def _shared_prefix(stats: pd.DataFrame, drawn: dict) -> tuple[int, object]:
    """(leading epochs of ``stats`` equal to a curve already drawn, that curve's strategy)."""
    best, owner = 0, None
    for strategy, other in drawn.items():
        if other.index[0] != stats.index[0]:
            continue
        epochs = stats.index.intersection(other.index)
        mine, theirs = stats["mean"].reindex(epochs), other.reindex(epochs)
        same = np.isclose(mine.to_numpy(), theirs.to_numpy(), rtol=1e-9, atol=1e-12)
        leading = len(same) if same.all() else int(np.argmin(same))
        if leading >= len(stats):
            # Equal all along (two variants at 100% training accuracy): not the run it continues.
            continue
        if leading > best:
            best, owner = leading, strategy
    return best, owner


def _curve(ax: Axes, curves, key: str, strategy, scale: float, line_style: str, band: bool, drawn):
    """Draw one strategy's mean curve; returns the strategy whose curve it continues, or None.

    Fine-tuning's head epochs are the feature-extraction run: drawn whole, its curve would hide that
    one, so a curve that continues another is drawn from the last shared epoch on."""
    data = curves[curves["strategy"] == strategy].dropna(subset=[key])
    if data.empty:
        return None
    stats = style.spread(data.assign(value=data[key] * scale), "value", ["epoch"]).sort_index()
    shared, owner = _shared_prefix(stats, drawn)
    drawn[strategy] = stats["mean"]
    continues = 2 <= shared < len(stats)
    if continues:
        stats = stats.iloc[shared - 1 :]  # from the last shared point: the line stays joined
    color = strategy_color(strategy)
    ax.plot(stats.index, stats["mean"], line_style, color=color, lw=2.2, marker="o", ms=3.5)
    if band and (stats["count"] > 1).any():
        ax.fill_between(stats.index, stats["low"], stats["high"], color=color, alpha=0.18, lw=0)
    return owner if continues else None


def _continued_text(continued: dict, strategies: list) -> str:
    clauses = []
    for owner in dict.fromkeys(continued[s] for s in strategies if s in continued):
        names = [strategy_label(s) for s in strategies if continued.get(s) == owner]
        verb = "continues" if len(names) == 1 else "continue"
        curve = f"the {strategy_label(owner)} curve (the same first epochs, drawn once)"
        clauses.append(f"{' and '.join(names)} {verb} {curve}")
    return "; ".join(clauses)


def _mark_fine_tuning(ax: Axes, starts: dict, several: bool) -> None:
    for start, strategies in starts.items():
        color = strategy_color(strategies[0]) if several else "black"
        ax.axvline(start, ls="--", lw=1.6, color=color, zorder=1)
        text = "fine-tuning starts"
        if several:
            text += f"\n({', '.join(strategy_label(s) for s in strategies)})"
        # x in data units, y in axes units: the note stays at the top whatever the y range.
        ax.annotate(text, (start, 0.97), xycoords=ax.get_xaxis_transform(), xytext=(5, 0),
                    textcoords="offset points", ha="left", va="top", fontsize=11,
                    color=color)  # fmt: skip


def _runs(results_or_history, fine_tune_start, label) -> tuple[pd.DataFrame, str, pd.Series]:
    if not isinstance(results_or_history, pd.DataFrame):
        runs = pd.DataFrame({"strategy": [label], "history": [results_or_history]})
        return runs, "", pd.Series([fine_tune_start], dtype=float)
    runs, size_text = style.largest_training_set(results_or_history)
    subtitle = ", ".join(filter(None, [style.context(runs, "plot_learning_curves"), size_text]))
    starts = runs["fine_tune_start"] if "fine_tune_start" in runs.columns else None
    return runs, subtitle, starts


def _table_rule(args) -> list:
    # A single history is checked by _parse_history.
    table = isinstance(args["results_or_history"], pd.DataFrame)
    return [frame_with("strategy", "history")] if table else [object]


@validate_params({"results_or_history": _table_rule,
                  "fine_tune_start": [None, Interval(float, 0, None)],
                  "label": [Rule(lambda v: isinstance(v, str) and bool(v), "a non-empty str")],
                  "metric": [None, str], "figsize": [style.FIGSIZE]})  # fmt: skip
@style.slide_style
def plot_learning_curves(results_or_history, *, fine_tune_start: float | None = None,
                         label: str = "run", metric: str | None = None,
                         figsize=(14, 5.6)) -> Figure:  # fmt: skip
    """Draw train (dashed) and validation accuracy and loss per epoch, per strategy.

    ``results_or_history``: a results table (``strategy``, ``history``, ``fine_tune_start``) or
    one run's history (a dict of per-epoch lists, its JSON or a ``keras.callbacks.History``).
    Seeds are averaged with a band for the spread; a dashed line marks where fine-tuning starts.
    ``metric``: the history's accuracy key (default: ``accuracy`` or a known alias).

    Example:
        >>> history = {"accuracy": [0.5, 0.7, 0.8, 0.9], "val_accuracy": [0.5, 0.6, 0.7, 0.8],
        ...            "loss": [1.0, 0.7, 0.5, 0.3], "val_loss": [1.1, 0.9, 0.8, 0.7]}
        >>> fig = plot_learning_curves(history, fine_tune_start=2, label="fine_tuning")
        >>> fig.axes[0].get_ylabel()
        'accuracy (%)'
    """
    runs, subtitle, starts = _runs(results_or_history, fine_tune_start, label)
    curves = _history_frame(runs)
    accuracy = _accuracy_key(curves.columns, metric)
    strategies = style.ordered_strategies(runs["strategy"])
    band = len(runs) > len(strategies)

    fig, axes = style.new_figure(figsize, 1, 2)
    panels = [(axes[0, 0], accuracy, 100.0, "Accuracy", "accuracy (%)"),
              (axes[0, 1], "loss", 1.0, "Loss", "loss (cross-entropy)")]  # fmt: skip
    fine_tuning = {}
    if starts is not None:
        start = pd.to_numeric(starts, errors="coerce").to_numpy()
        marked = pd.DataFrame({"strategy": runs["strategy"].to_numpy(), "start": start})
        for start, group in marked.dropna().groupby("start"):
            fine_tuning[float(start)] = style.ordered_strategies(group["strategy"])
    continued: dict = {}
    for ax, key, scale, title, ylabel in panels:
        for name, line_style in ((key, "--"), (f"val_{key}", "-")):
            if name not in curves.columns:
                continue
            drawn: dict = {}
            for strategy in strategies:
                owner = _curve(ax, curves, name, strategy, scale, line_style, band, drawn)
                if owner is not None:
                    continued[strategy] = owner
        _mark_fine_tuning(ax, fine_tuning, several=len(fine_tuning) > 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        style.finish(ax, f"{title} per epoch", "epoch", ylabel)

    handles = [Line2D([], [], color=strategy_color(s), lw=3, label=strategy_label(s))
               for s in strategies] + [
        Line2D([], [], color="black", lw=2, ls=ls, label=name)
        for ls, name in (("-", "validation"), ("--", "training"))]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6),
               frameon=False)  # fmt: skip
    spread_text = f"\nmean over seeds; band: {style.SPREAD_NOTE}" if band else ""
    shared_text = f"\n{_continued_text(continued, strategies)}" if continued else ""
    title = f"Learning curves{': ' + subtitle if subtitle else ''}{spread_text}{shared_text}"
    fig.suptitle(style.wrap_to_width(title, figsize[0], style.TITLE_FONTSIZE))
    return fig
