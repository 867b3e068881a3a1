"""Parameter counts of the lecture's networks, as horizontal bars (the counting is in models)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from tlcourse.errors import check_bool
from tlcourse.models import LECTURE_NETWORKS, check_networks, parameter_counts
from tlcourse.plots.style import check_figsize, figure_and_ax, finish, slide_style
from tlcourse.plots.tables import check_frame

__all__ = ["plot_parameter_counts"]


@slide_style
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
        names: backbone names, as in :func:`tlcourse.models.parameter_counts`. Defaults to the
            lecture's five.
        with_head_classes: classifier outputs, as in :func:`~tlcourse.models.parameter_counts`.
            Defaults to 2.
        counts: a table from :func:`~tlcourse.models.parameter_counts` to draw instead of
            building the networks (``names`` and ``with_head_classes`` are then ignored).
            Defaults to None.
        log_x: logarithmic x axis. Defaults to False.
        ax: axes to draw into. Defaults to None (a new figure).
        figsize: figure size in inches, for a new figure. Defaults to ``(10, 5)``.

    Returns:
        The figure.

    Raises:
        InvalidParameterError: an unknown name, a bad ``with_head_classes``, ``counts`` without
            the columns ``name`` and ``parameters``, or a bad keyword argument.

    Example:
        >>> table = pd.DataFrame({"name": ["vgg16", "efficientnet_lite0"],
        ...                       "parameters": [134_268_738, 3_415_586]})
        >>> len(plot_parameter_counts(counts=table).axes[0].patches)
        2
    """
    log_x = check_bool("log_x", log_x, "plot_parameter_counts")
    figsize = check_figsize(figsize, "plot_parameter_counts")
    if counts is None:
        names, with_head_classes = check_networks(names, with_head_classes, "plot_parameter_counts")
        counts = parameter_counts(names, with_head_classes)
        head = "no top" if with_head_classes is None else f"a {with_head_classes}-class top"
    else:
        head = ""
    counts = check_frame(counts, ("name", "parameters"), "plot_parameter_counts", "counts")
    counts = counts.sort_values("parameters")
    millions = counts["parameters"] / 1e6
    fig, ax = figure_and_ax(ax, figsize, "plot_parameter_counts")
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
    finish(ax, title, f"parameters (millions{', log scale' if log_x else ''})", "")
    return fig
