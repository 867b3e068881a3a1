"""What every figure shares: slide-size text, the spread rule, strategy colours, saving.

Figures are made without ``pyplot`` (:class:`NotebookFigure`), so pyplot does not keep them open:
a notebook shows each one once (not twice), a loop that draws hundreds leaks nothing, and no
backend is chosen here (only the command line does that). A function that takes ``ax`` draws
into that axes instead and returns its figure.

One strategy has one colour and one name in every figure: its record in the strategy registry
(:func:`tlcourse.strategies.strategy_label`, :func:`~tlcourse.strategies.strategy_color`), in the
registry's order. Spread over seeds is always drawn the same way: **±1 standard deviation when a
group has at least 3 seeds, min-max when it has 2** (a standard deviation of two numbers says
little), nothing for 1.
"""

from __future__ import annotations

import functools
import io
import os
import re
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tlcourse.errors import invalid_parameter, is_real_number
from tlcourse.strategies import get_strategy, strategy_color, strategy_label, strategy_names

__all__ = [
    "FROZEN_COLOR",
    "SPREAD_NOTE",
    "STRATEGY_COLORS",
    "STRATEGY_LABELS",
    "TITLE_FONTSIZE",
    "TRAINABLE_COLOR",
    "NotebookFigure",
    "check_figsize",
    "count_text",
    "figure_and_ax",
    "finish",
    "new_figure",
    "ordered_strategies",
    "pick_scale",
    "save_figure",
    "share_text",
    "short_block",
    "slide_style",
    "spread",
    "trains_backbone",
    "wrap",
    "wrap_to_width",
]

FROZEN_COLOR, TRAINABLE_COLOR = "#CFE2F3", "#D55E00"  # ice and fire: frozen cold, training hot

TITLE_FONTSIZE = 15  # the figure's title (suptitle), in points

# Slide-size text. Applied while a figure is built; tick sizes are also set per axes because
# ticks can be created later, at draw time, outside this context.
_RC = {
    "font.size": 12,
    "axes.titlesize": 14,
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "figure.titlesize": TITLE_FONTSIZE,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
SPREAD_NOTE = "±1 SD (min–max when n < 3)"


def slide_style(func):
    """Decorator: build the figure under the slide-size rc settings (restored afterwards)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


class NotebookFigure(Figure):
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


def new_figure(figsize, nrows=1, ncols=1, **subplot_kw) -> tuple[Figure, np.ndarray]:
    """A constrained-layout :class:`NotebookFigure` and its 2-D array of axes."""
    fig = NotebookFigure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)


def check_figsize(value, func: str, none_ok: bool = False):
    """Return ``value`` if it is ``(width, height)`` in inches, both > 0 (or None if allowed)."""
    if value is None and none_ok:
        return None
    if (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(is_real_number(v) and v > 0 for v in value)
    ):
        return tuple(float(v) for v in value)
    rule = "a pair (width, height) of numbers > 0, in inches" + (" or None" if none_ok else "")
    raise invalid_parameter("figsize", func, rule, value)


def figure_and_ax(ax, figsize, func: str) -> tuple[Figure, Axes]:
    """A new figure and its axes, or the figure of ``ax`` (validated, naming ``func``)."""
    if ax is None:
        fig, axes = new_figure(figsize)
        return fig, axes[0, 0]
    if not isinstance(ax, Axes):
        raise invalid_parameter("ax", func, "a matplotlib Axes or None", ax)
    return ax.get_figure(root=True), ax


def finish(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    """Title, axis labels and slide-size ticks."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.tick_params(labelsize=12)


# --------------------------------------------------------------------------------------------
# Strategies: names, colours and order come from the registry
# --------------------------------------------------------------------------------------------


def ordered_strategies(values) -> list:
    """The strategies present, registered ones in registry order, then others alphabetically.

    Example:
        >>> ordered_strategies(["fine_tuning", "my_idea", "scratch"])
        ['scratch', 'fine_tuning', 'my_idea']
    """
    present = set(values)
    known = [s for s in strategy_names() if s in present]
    return known + sorted((s for s in present if s not in known), key=str)


def trains_backbone(strategy) -> bool:
    """True unless the registry says the strategy trains a network of its own (from scratch).

    Those strategies are the figures' baseline: the title names their network apart and the
    data-efficiency figure measures the gain of transfer against them. An unregistered name
    (a table from an older version) counts as training the backbone.

    Example:
        >>> trains_backbone("fine_tuning"), trains_backbone("scratch")
        (True, False)
    """
    if strategy not in strategy_names():
        return True
    return get_strategy(strategy).network == "backbone"


class _RegistryView(Mapping):
    """A read-only, always current ``{name: label or colour}`` view of the strategy registry."""

    def __init__(self, read):
        self._read = read

    def __getitem__(self, name):
        if name not in strategy_names():
            raise KeyError(name)
        return self._read(name)

    def __iter__(self) -> Iterator[str]:
        return iter(strategy_names())

    def __len__(self) -> int:
        return len(strategy_names())

    def __repr__(self) -> str:
        return repr(dict(self))


#: ``{name: label}`` of every registered strategy (read-only, follows the registry).
STRATEGY_LABELS: Mapping[str, str] = _RegistryView(strategy_label)
#: ``{name: colour}`` of every registered strategy (read-only, follows the registry).
STRATEGY_COLORS: Mapping[str, str] = _RegistryView(strategy_color)


# --------------------------------------------------------------------------------------------
# Numbers and text
# --------------------------------------------------------------------------------------------


def spread(frame: pd.DataFrame, value: str, by: list[str]) -> pd.DataFrame:
    """Mean and whisker ends per group: ±1 SD with >= 3 values, min-max with 2 (see module).

    Example:
        >>> runs = pd.DataFrame({"s": ["a", "a", "b", "b", "b"], "v": [1.0, 3.0, 1.0, 2.0, 3.0]})
        >>> spread(runs, "v", ["s"])[["low", "high"]].values.tolist()
        [[1.0, 3.0], [1.0, 3.0]]
    """
    stats = frame.groupby(by, sort=False)[value].agg(["mean", "std", "min", "max", "count"])
    use_std = stats["count"] >= 3
    stats["low"] = stats["mean"].where(~use_std, stats["mean"] - stats["std"])
    stats["high"] = stats["mean"].where(~use_std, stats["mean"] + stats["std"])
    two_or_less = ~use_std & (stats["count"] == 2)
    stats.loc[two_or_less, "low"] = stats.loc[two_or_less, "min"]
    stats.loc[two_or_less, "high"] = stats.loc[two_or_less, "max"]
    return stats


def pick_scale(largest: float, units: Sequence[tuple[float, str]]) -> tuple[float, str]:
    """First (factor, unit) whose scaled ``largest`` is >= 1, else the last one.

    Example:
        >>> pick_scale(2e-6, [(1e3, "g"), (1e6, "mg"), (1e9, "µg")])
        (1000000.0, 'mg')
    """
    if not np.isfinite(largest) or largest <= 0:
        return units[0]
    for factor, unit in units:
        if largest * factor >= 1:
            return factor, unit
    return units[-1]


def short_block(name: str) -> str:
    """'block_3' -> '3', 'block3a' -> '3a', 'conv4_block2' -> '4.2'; stem/top/head unchanged.

    Example:
        >>> [short_block(n) for n in ["block_3", "block3a", "conv4_block2", "stem"]]
        ['3', '3a', '4.2', 'stem']
    """
    if match := re.fullmatch(r"conv(\d+)_block(\d+)", name):
        return f"{match[1]}.{match[2]}"
    if name == "preprocessing":
        return "prep."
    if match := re.fullmatch(r"block_?(\w+)", name):
        return match[1]
    return name


def count_text(count: float) -> str:
    """Parameter counts as people say them.

    Example:
        >>> count_text(2560), count_text(3_330_000), count_text(0)
        ('2.56 k', '3.33 M', '0')
    """
    if not count:
        return "0"
    factor, unit = pick_scale(count, [(1e-6, " M"), (1e-3, " k"), (1.0, "")])
    return f"{count * factor:.3g}{unit}"


def share_text(share: float) -> str:
    """A share as a percentage; a non-zero share below 1% is ``<1%``, never ``0%``."""
    return "<1%" if 0 < share < 0.01 else f"{share:.0%}"


def wrap(text: str, width: int = 11) -> str:
    """Break ``text`` on spaces into lines of at most ``width`` characters (tick labels)."""
    return textwrap.fill(text, width, break_long_words=False)


def wrap_to_width(text: str, inches: float, fontsize: float) -> str:
    """Wrap ``text`` so that each line fits in ``inches`` at ``fontsize`` points; never cut it.

    The width of a character is taken as 0.6 em, a little more than the average of DejaVu Sans
    (matplotlib's default font), so a line is never wider than the figure. Existing line breaks
    are kept.

    Example:
        >>> print(wrap_to_width("CO2 estimated by codecarbon; grid: World average", 2, 11))
        CO2 estimated by
        codecarbon; grid:
        World average
    """
    columns = max(10, int(inches * 72 / (0.6 * fontsize)))
    return "\n".join(
        textwrap.fill(line, columns, break_long_words=False, break_on_hyphens=False)
        for line in text.splitlines()
    )


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


def save_figure(fig: Figure, path) -> Path:
    """Write a figure as PNG at 150 dpi, creating the parent folders.

    Works with any matplotlib backend, and without pyplot: the figure is drawn by the canvas
    that fits the file format.

    Args:
        fig: a matplotlib figure (what every plotting function here returns).
        path: file path; ``.png`` is added when it has no suffix. Another suffix matplotlib
            knows (``.pdf``, ``.svg``) writes that format instead.

    Returns:
        The path written.

    Raises:
        InvalidParameterError: ``fig`` is not a matplotlib Figure, or ``path`` is not a path.

    Example:
        >>> import tempfile
        >>> fig, _ = new_figure((4, 3))
        >>> out = save_figure(fig, Path(tempfile.mkdtemp()) / "figs" / "empty")
        >>> out.name, out.read_bytes()[:4]
        ('empty.png', b'\\x89PNG')
    """
    if not isinstance(fig, Figure):
        raise invalid_parameter("fig", "save_figure", "a matplotlib Figure", fig)
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise invalid_parameter("path", "save_figure", "a file path (str or pathlib.Path)", path)
    path = Path(path).expanduser()
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path
