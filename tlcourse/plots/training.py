"""What trains and how fast: parameter counts, the blocks each strategy trains, the learning
rate per block, the learning-rate range test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from tlcourse.comparison.strategies import strategy_color, strategy_label
from tlcourse.errors import InvalidParameterError, invalid_parameter
from tlcourse.models.backbones.registry import BACKBONE
from tlcourse.models.classifiers import LECTURE_NETWORKS, parameter_counts
from tlcourse.plots import style
from tlcourse.validation import Interval, Rule, StrOptions, frame_with, validate_params

__all__ = ["plot_learning_rates", "plot_lr_find", "plot_parameter_counts", "plot_trainable_map"]


@validate_params({"names": [style.each(BACKBONE, "a non-empty list of backbone names")],
                  "with_head_classes": [None, Interval(int, 1, None)],
                  "counts": [None, frame_with("name", "parameters")], "log_x": ["boolean"],
                  "ax": [None, Axes], "figsize": [style.FIGSIZE]})  # fmt: skip
@style.slide_style
def plot_parameter_counts(names: Sequence[str] = LECTURE_NETWORKS,
                          with_head_classes: int | None = 2, *, counts: pd.DataFrame | None = None,
                          log_x: bool = False, ax: Axes | None = None,
                          figsize=(10, 5)) -> Figure:  # fmt: skip
    """Horizontal bars of the networks' parameter counts, in millions, largest on top.

    ``names`` are counted by :func:`tlcourse.parameter_counts` with a classifier of
    ``with_head_classes`` outputs, unless ``counts`` gives its table."""
    head = "no top" if with_head_classes is None else f"a {with_head_classes}-class top"
    head = head if counts is None else ""
    counts = parameter_counts(names, with_head_classes) if counts is None else counts
    counts = counts.sort_values("parameters")
    millions = counts["parameters"] / 1e6
    fig, ax = style.figure_and_ax(ax, figsize)
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
    style.finish(ax, title, f"parameters (millions{', log scale' if log_x else ''})", "")
    return fig


_FUNC = "plot_trainable_map"
_SUMMARY = frame_with("block", "trainable_params", "frozen_params")
_DEPTH = [Interval(int, 0, None), StrOptions({"all"})]
_TABLES = Rule(lambda v: isinstance(v, Mapping) and bool(v),
               "a non-empty dict {label: trainable_summary DataFrame or keras.Model}")  # fmt: skip


def _summary(table, label) -> pd.DataFrame:
    """Columns block, trainable, frozen of a trainable_summary table or of a model."""
    if hasattr(table, "trainable_weights"):  # a model: its flags are read, not changed
        from tlcourse.transfer.freezing import trainable_summary

        table = trainable_summary(table)
    if isinstance(table, pd.DataFrame) and "block" not in table.columns:
        table = table.rename_axis("block").reset_index()
    if not _SUMMARY.accepts(table):
        got = list(table.columns) if isinstance(table, pd.DataFrame) else type(table).__name__
        raise InvalidParameterError(f"The summary for {label!r} in {_FUNC} must be {_SUMMARY} "
                                    "(what tlcourse.trainable_summary returns) or a keras.Model. "
                                    f"Got {got} instead.")  # fmt: skip
    out = table.rename(columns={"trainable_params": "trainable", "frozen_params": "frozen"})
    return out[["block", "trainable", "frozen"]].assign(block=out["block"].astype(str))


def _depth_text(depth) -> str:
    if depth == "all":
        return "all blocks"
    return "head only" if depth == 0 else f"last {depth} block{'s' * (depth != 1)}"


def _summaries_for_depths(backbone: str, depths: Mapping, num_classes: int) -> dict:
    """The backbone (random weights) and a dense head, frozen per depth, summarised."""
    import keras

    from tlcourse.models.backbones import backbone_blocks, load_backbone
    from tlcourse.transfer.freezing import set_trainable, trainable_summary

    base = load_backbone(backbone, weights=None, input_shape=(96, 96, 3))
    inputs = keras.Input(base.input_shape[1:])
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(base(inputs))
    model = keras.Model(inputs, outputs, name="classifier_model")
    blocks = len(backbone_blocks(model))
    for depth in depths.values():
        if depth != "all" and depth > blocks:
            raise invalid_parameter("depths", _FUNC, f"an int in the range [0, {blocks}] or 'all'",
                                    depth)  # fmt: skip
    summaries = {}
    for label, depth in depths.items():
        set_trainable(model, depth)
        summaries[f"{strategy_label(label)}\n{_depth_text(depth)}"] = trainable_summary(model)
    return summaries


def _depths_rule(args) -> list:
    if not isinstance(args["tables_or_backbone"], str):
        return [None, object]
    ok = Rule(lambda v: isinstance(v, Mapping) and bool(v) and all(
        any(c.accepts(d) for c in _DEPTH) for d in v.values()),
        "a non-empty dict {label: depth (an int >= 0 or 'all')} when a backbone name is given, "
        "e.g. {'feature_extraction': 0, 'fine_tuning': 4, 'scratch': 'all'}")  # fmt: skip
    return [ok]


@validate_params({"tables_or_backbone": [BACKBONE, _TABLES], "depths": _depths_rule,
                  "num_classes": [Interval(int, 2, None)],
                  "figsize": [None, style.FIGSIZE]})  # fmt: skip
@style.slide_style
def plot_trainable_map(tables_or_backbone, depths: Mapping | None = None, *, num_classes: int = 2,
                       figsize=None) -> Figure:  # fmt: skip
    """Show which blocks train in each strategy: a grid of blocks, plus parameters per block.

    ``tables_or_backbone``: ``{label: trainable_summary(model) or model}``, or a backbone name
    (random weights, a head of ``num_classes``) frozen per ``{label: depth}``.

    Example:
        >>> fig = plot_trainable_map("vgg16", {"feature_extraction": 0, "fine_tuning": 2})
    """
    if isinstance(tables_or_backbone, str):
        depths = {label: d if d == "all" else int(d) for label, d in depths.items()}
        tables = _summaries_for_depths(tables_or_backbone, depths, num_classes)
    else:
        tables = {strategy_label(label): t for label, t in tables_or_backbone.items()}
    frames = {label: _summary(t, label) for label, t in tables.items()}
    long = pd.concat(frames, names=["row", None]).reset_index(level=0)
    blocks = list(dict.fromkeys(long["block"]))
    blocks = [b for b in blocks if b != "head"] + ["head"] * ("head" in blocks)
    rows = list(frames)
    total = long["trainable"] + long["frozen"]
    share = long.assign(share=long["trainable"] / total.where(total > 0))
    grid = share.pivot_table(index="row", columns="block", values="share", sort=False)
    grid = grid.reindex(index=rows, columns=blocks)
    params = (long.assign(total=total).groupby("block")["total"].max()).reindex(blocks)

    figsize = figsize or (max(9.0, 0.5 * len(blocks) + 5.5), 3.2 + 0.75 * len(rows))
    ratios = [1.4, max(1.5, 0.75 * len(rows))]
    fig, axes = style.new_figure(figsize, 2, 1, sharex=True, height_ratios=ratios)
    bar_ax, grid_ax = axes[:, 0]
    factor, unit = style.pick_scale(params.max(), [(1e-6, "M"), (1e-3, "k"), (1.0, "")])
    x = np.arange(len(blocks))
    bar_ax.bar(x, params * factor, color="#888888", width=0.7)
    bar_ax.set_ylabel(f"parameters\n({unit or 'count'})")
    bar_ax.set_title("Parameters per block")
    bar_ax.tick_params(labelsize=12)
    bar_ax.grid(axis="y", alpha=0.3)

    colors = [style.FROZEN_COLOR, style.TRAINABLE_COLOR]
    cmap = LinearSegmentedColormap.from_list("trainable", colors)
    mesh = grid_ax.pcolormesh(np.arange(len(blocks) + 1) - 0.5, np.arange(len(rows) + 1) - 0.5,
                              grid.to_numpy(dtype=float), cmap=cmap, vmin=0, vmax=1,
                              edgecolors="white", linewidth=2)  # fmt: skip
    if "head" in blocks:
        grid_ax.axvline(len(blocks) - 1.5, color="black", lw=2)
    grid_ax.set_ylim(len(rows) - 0.5, -0.5)
    grid_ax.set_yticks(np.arange(len(rows)), rows)
    ticks = [style.short_block(b) for b in blocks]
    grid_ax.set_xticks(x, ticks, rotation=0 if len(blocks) <= 12 else 90)
    trainable = long.groupby("row", sort=False)["trainable"].sum().reindex(rows)
    every = total.groupby(long["row"], sort=False).sum().reindex(rows)
    right = grid_ax.secondary_yaxis("right")
    right.set_yticks(np.arange(len(rows)), [
        f"{style.count_text(t)} trainable\n({style.share_text(t / e)})" if e else "no parameters"
        for t, e in zip(trainable, every, strict=True)])  # fmt: skip
    right.tick_params(labelsize=11, length=0)
    right.spines["right"].set_visible(False)
    grid_ax.spines[:].set_visible(False)
    grid_ax.tick_params(axis="y", length=0)
    colorbar = fig.colorbar(mesh, ax=grid_ax, location="bottom", shrink=0.35, aspect=25, pad=0.02)
    colorbar.set_ticks([0, 0.5, 1], labels=["frozen", "half", "trainable"])
    colorbar.ax.tick_params(labelsize=12)
    style.finish(grid_ax, "Blocks that train", "block (input → output), then the classifier head",
                 "")  # fmt: skip
    fig.suptitle("What trains in each strategy")
    return fig


def _block_name(block) -> str:
    head = pd.isna(block) or str(block).strip().lower() in ("", "head", "none")
    return "head" if head else str(block)


@validate_params({"lr_table": [frame_with("block", "learning_rate")], "ax": [None, Axes],
                  "figsize": [None, style.FIGSIZE]})  # fmt: skip
@style.slide_style
def plot_learning_rates(lr_table: pd.DataFrame, *, ax: Axes | None = None, figsize=None) -> Figure:
    """Draw the learning rate of every block of ``tlcourse.learning_rates(model)`` (log scale),
    with the ratio between consecutive rates."""
    table = lr_table.assign(block=lr_table["block"].map(_block_name))
    # The block's rate is its trainable variables' rate: frozen ones (rate 0) must not drag it.
    per_block = table.groupby("block", sort=False)["learning_rate"].max()
    order = [b for b in per_block.index if b != "head"] + ["head"] * ("head" in per_block.index)
    rates = per_block.reindex(order).astype(float)
    n = len(rates)
    fig, ax = style.figure_and_ax(ax, figsize or (max(8.0, 0.5 * n + 4), 6))
    x = np.arange(n)
    training = rates > 0
    colors = ["#004D40" if b == "head" else strategy_color("fine_tuning_dlr") for b in order]
    ax.bar(x[training], rates[training], color=np.array(colors)[training], width=0.7, zorder=2)
    ax.set_yscale("log")
    if training.any():
        low, high = rates[training].min(), rates[training].max()
        ax.set_ylim(low / 3, high * 6)  # room above the bars for the ratios
    for i in x[~training]:
        ax.annotate("frozen", (i, 0.04), xycoords=ax.get_xaxis_transform(), ha="center",
                    va="bottom", rotation=90, fontsize=11, color="#555555")  # fmt: skip

    # Groups of equal rates; the ratio is read across each boundary.
    new_group = ~np.isclose(rates.to_numpy(), rates.shift().to_numpy(), rtol=1e-6)
    starts = np.flatnonzero(new_group)[1:]
    ratios = [rates.iloc[i] / rates.iloc[i - 1] if rates.iloc[i - 1] > 0 else np.nan
              for i in starts]  # fmt: skip
    finite = [(i, r) for i, r in zip(starts, ratios, strict=True) if np.isfinite(r) and r > 0]
    if len(finite) > 8 and np.allclose([r for _, r in finite], finite[0][1], rtol=1e-3):
        ax.text(0.02, 0.97, f"each block ×{finite[0][1]:.3g} the one before", fontsize=13,
                transform=ax.transAxes, va="top")  # fmt: skip
    else:
        for i, ratio in finite:
            top = max(rates.iloc[i], rates.iloc[i - 1])
            many = len(finite) > 8
            ax.annotate(f"×{ratio:.3g}", (i - 0.5, top), xytext=(0, 6), textcoords="offset points",
                        ha="center", va="bottom", fontsize=11 if many else 12,
                        rotation=90 if many else 0)  # fmt: skip
    if "head" in order and training.iloc[-1]:
        # Inside the head's bar: above it, the last ratio label already takes the space.
        ax.annotate(f"{rates.iloc[-1]:.1e}", (n - 1, rates.iloc[-1]), xytext=(0, -6),
                    textcoords="offset points", ha="center", va="top", rotation=90, fontsize=11,
                    color="white")  # fmt: skip
    ax.set_xticks(x, [style.short_block(b) for b in order], rotation=0 if n <= 12 else 90)
    ax.set_xlim(-0.7, n - 0.3)  # room for the rotated labels of the first and last bars
    ax.grid(axis="y", which="major", alpha=0.3, zorder=0)
    style.finish(ax, "Learning rate per block", "block (input → output), then the head",
                 "learning rate (log scale)")  # fmt: skip
    return fig


_ORANGE = "#D55E00"


@validate_params({"lr_find_table": [frame_with("lr", "loss", "smoothed_loss")],
                  "suggestion": [None, Interval(float, 0, None, closed="neither")],
                  "ax": [None, Axes], "figsize": [style.FIGSIZE]})  # fmt: skip
@style.slide_style
def plot_lr_find(lr_find_table: pd.DataFrame, suggestion: float | None = None, *,
                 ax: Axes | None = None, figsize=(9, 5.5)) -> Figure:  # fmt: skip
    """Draw the table of ``tlcourse.lr_find``: loss against learning rate, ``suggestion`` marked."""
    table = lr_find_table.replace([np.inf, -np.inf], np.nan).dropna(subset=["lr", "smoothed_loss"])
    table = table[table["lr"] > 0].sort_values("lr")
    if table.empty:
        raise InvalidParameterError("The 'lr_find_table' parameter of plot_lr_find has no row with "
                                    "a finite loss and a learning rate > 0.")  # fmt: skip
    fig, ax = style.figure_and_ax(ax, figsize)
    ax.plot(table["lr"], table["loss"], color="#0072B2", alpha=0.35, lw=1.2, label="loss")
    ax.plot(table["lr"], table["smoothed_loss"], color="#0072B2", lw=2.8, label="smoothed loss")
    ax.set_xscale("log")
    smoothed = table["smoothed_loss"]
    floor = smoothed.min()
    # Up to the starting loss: the end diverges.
    ceiling = max(smoothed.iloc[: max(1, smoothed.argmin() + 1)].max(), floor)
    span = max(ceiling - floor, 1e-3 * max(abs(floor), 1))
    ax.set_ylim(floor - 0.15 * span, ceiling + 0.35 * span)
    if suggestion is not None:
        y = np.interp(np.log10(suggestion), np.log10(table["lr"]), smoothed)
        ax.axvline(suggestion, ls="--", color=_ORANGE, lw=1.8)
        ax.plot([suggestion], [y], "o", color=_ORANGE, ms=10, zorder=3,
                label=f"suggested: {suggestion:.1e}")  # fmt: skip
        ax.annotate(f"suggested LR\n{suggestion:.1e}", (suggestion, y), xytext=(10, 14),
                    textcoords="offset points", fontsize=12, color=_ORANGE)  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    style.finish(ax, "Learning-rate range test", "learning rate (log scale)", "training loss")
    return fig
