"""What trains: a grid of the backbone's blocks by strategy, plus the parameters per block."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from tlcourse.errors import InvalidParameterError, check_choice, check_int, invalid_parameter
from tlcourse.plots.style import (
    FROZEN_COLOR,
    TRAINABLE_COLOR,
    check_figsize,
    count_text,
    finish,
    new_figure,
    pick_scale,
    share_text,
    short_block,
    slide_style,
)
from tlcourse.strategies import strategy_label

__all__ = ["plot_trainable_map"]

_TRAINABLE_ALIASES = ("trainable_params", "trainable_parameters", "trainable")
_FROZEN_ALIASES = ("frozen_params", "frozen_parameters", "frozen", "non_trainable_params")
_FUNC = "plot_trainable_map"


def _normalise_summary(table: pd.DataFrame, label) -> pd.DataFrame:
    """Columns block, trainable, frozen from a trainable_summary table (aliases accepted)."""
    if not isinstance(table, pd.DataFrame):
        raise InvalidParameterError(
            f"The summary for {label!r} in {_FUNC} must be a DataFrame from "
            f"tlcourse.trainable_summary or a keras.Model. Got {type(table).__name__} instead."
        )
    if "block" not in table.columns:
        table = table.rename_axis("block").reset_index()
    columns = {}
    for name, aliases in (("trainable", _TRAINABLE_ALIASES), ("frozen", _FROZEN_ALIASES)):
        found = [a for a in aliases if a in table.columns]
        if not found:
            raise InvalidParameterError(
                f"The summary for {label!r} in {_FUNC} is missing a column "
                f"{aliases[0]!r} (or one of {list(aliases[1:])}); it needs 'block' (column or "
                f"index), 'trainable_params' and 'frozen_params'. Got columns "
                f"{list(table.columns)}."
            )
        columns[found[0]] = name
    if table.empty:
        raise InvalidParameterError(f"The summary for {label!r} in {_FUNC} has no rows.")
    out = table[["block", *columns]].rename(columns=columns)
    return out.assign(block=out["block"].astype(str))


def _depth_text(depth) -> str:
    if depth == "all":
        return "all blocks"
    return "head only" if depth == 0 else f"last {depth} block{'s' * (depth != 1)}"


def _summaries_for_depths(backbone: str, depths: Mapping, num_classes: int) -> dict:
    """Build the backbone (random weights) with a dense head, freeze it per depth, count."""
    import keras

    from tlcourse.backbones import backbone_blocks, list_backbones, load_backbone
    from tlcourse.freezing import set_trainable, trainable_summary

    check_choice("tables_or_backbone", backbone, list(list_backbones().index), _FUNC)
    for depth in depths.values():  # the type now; the range once the blocks are known
        check_int("depths", depth, _FUNC, low=0, extra=["all"])
    base = load_backbone(backbone, weights=None, input_shape=(96, 96, 3))
    inputs = keras.Input(base.input_shape[1:])
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(base(inputs))
    model = keras.Model(inputs, outputs, name="classifier_model")
    blocks = len(backbone_blocks(model))
    # Every depth is checked before any is applied, naming this function, not set_trainable.
    checked = {
        label: check_int("depths", depth, _FUNC, low=0, high=blocks, extra=["all"])
        for label, depth in depths.items()
    }
    summaries = {}
    for label, depth in checked.items():
        set_trainable(model, depth)
        summaries[f"{strategy_label(label)}\n{_depth_text(depth)}"] = trainable_summary(model)
    return summaries


def _tables(tables_or_backbone, depths, num_classes) -> dict:
    """``{row label: summary table}`` from whichever form the caller gave."""
    if isinstance(tables_or_backbone, str):
        if not isinstance(depths, Mapping) or not depths:
            raise invalid_parameter(
                "depths",
                _FUNC,
                "a non-empty dict {label: depth} when a backbone name is given",
                depths,
                "For example {'feature_extraction': 0, 'fine_tuning': 4, 'scratch': 'all'}.",
            )
        return _summaries_for_depths(tables_or_backbone, depths, num_classes)
    if isinstance(tables_or_backbone, Mapping) and tables_or_backbone:
        from tlcourse.freezing import trainable_summary

        # A model is recognised by duck typing, so tables alone never build anything.
        return {
            strategy_label(label): trainable_summary(t) if hasattr(t, "trainable_weights") else t
            for label, t in tables_or_backbone.items()
        }
    raise InvalidParameterError(
        f"The 'tables_or_backbone' parameter of {_FUNC} must be a non-empty dict "
        "{label: trainable_summary DataFrame or keras.Model} or a backbone name. "
        f"Got {type(tables_or_backbone).__name__} instead."
    )


@slide_style
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
            blocks that train (0 = head only) or ``"all"``. The backbone is built at 96 px with
            ``weights=None`` plus a dense head, and frozen with
            :func:`tlcourse.freezing.set_trainable`. Labels that are strategy names are shown
            with their registered labels. Defaults to None.
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
    num_classes = check_int("num_classes", num_classes, _FUNC, low=2)
    figsize = check_figsize(figsize, _FUNC, none_ok=True)
    tables = _tables(tables_or_backbone, depths, num_classes)
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
    fig, axes = new_figure(
        figsize or (width, height),
        2,
        1,
        sharex=True,
        height_ratios=[1.4, max(1.5, 0.75 * len(rows))],
    )
    bar_ax, grid_ax = axes[:, 0]
    factor, unit = pick_scale(params.max(), [(1e-6, "M"), (1e-3, "k"), (1.0, "")])
    x = np.arange(len(blocks))
    bar_ax.bar(x, params * factor, color="#888888", width=0.7)
    bar_ax.set_ylabel(f"parameters\n({unit or 'count'})")
    bar_ax.set_title("Parameters per block")
    bar_ax.tick_params(labelsize=12)
    bar_ax.grid(axis="y", alpha=0.3)

    cmap = LinearSegmentedColormap.from_list("trainable", [FROZEN_COLOR, TRAINABLE_COLOR])
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
    grid_ax.set_xticks(x, [short_block(b) for b in blocks], rotation=0 if len(blocks) <= 12 else 90)
    trainable = long.groupby("row", sort=False)["trainable"].sum().reindex(rows)
    every = total.groupby(long["row"], sort=False).sum().reindex(rows)
    right = grid_ax.secondary_yaxis("right")
    right.set_yticks(
        np.arange(len(rows)),
        [
            f"{count_text(t)} trainable\n({share_text(t / e)})" if e else "no parameters"
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
    finish(grid_ax, "Blocks that train", "block (input → output), then the classifier head", "")
    fig.suptitle("What trains in each strategy")
    return fig
