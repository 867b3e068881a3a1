"""What every figure shares: slide-size text, the spread rule, reading results tables, saving.

Figures are made without ``pyplot``, so none stays open and no backend is chosen here. Spread over
seeds: ±1 standard deviation with at least 3 seeds, min-max with 2, nothing for 1."""

from __future__ import annotations

import contextlib
import io
import os
import re
import textwrap
from numbers import Real
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tlcourse.comparison.strategies import get_strategy, strategy_label, strategy_names
from tlcourse.errors import InvalidParameterError, TLCourseError
from tlcourse.validation import Rule, validate_params

__all__ = ["FIGSIZE", "PATH", "SPREAD_NOTE", "TITLE_FONTSIZE", "each", "NotebookFigure",
           "context", "count_text", "figure_and_ax", "finish", "largest_training_set",
           "new_figure", "ordered_strategies", "pick_scale", "save_figure", "several_sizes",
           "share_text", "short_block", "slide_style", "spread", "training_sizes",
           "trains_backbone", "wrap", "wrap_to_width"]  # fmt: skip

FROZEN_COLOR, TRAINABLE_COLOR = "#CFE2F3", "#D55E00"  # ice and fire: frozen cold, training hot
TITLE_FONTSIZE = 15
CAPTION_FONTSIZE = 11
SPREAD_NOTE = "±1 SD (min–max when n < 3)"
_RC = {"font.size": 12, "axes.titlesize": 14, "axes.labelsize": 13, "xtick.labelsize": 12,
       "ytick.labelsize": 12, "legend.fontsize": 12, "figure.titlesize": TITLE_FONTSIZE,
       "axes.spines.top": False, "axes.spines.right": False}  # fmt: skip
ABOVE = {"xytext": (0, 4), "textcoords": "offset points", "ha": "center", "va": "bottom"}
CO2_UNITS = [(1e3, "g"), (1e6, "mg"), (1e9, "µg")]

PATH = Rule(lambda v: isinstance(v, str | os.PathLike) and bool(str(v)), "a path (str or Path)")
FIGSIZE = Rule(
    lambda v: isinstance(v, tuple | list) and len(v) == 2
    and all(isinstance(x, Real) and not isinstance(x, bool) and x > 0 for x in v),
    "a pair (width, height) of numbers > 0, in inches",
    lambda v: tuple(float(x) for x in v))  # fmt: skip


def each(item, description: str) -> Rule:
    """A non-empty list or tuple whose every item meets ``item`` (e.g. a ``StrOptions``)."""
    many = lambda v: isinstance(v, list | tuple)  # noqa: E731
    return Rule(lambda v: many(v) and bool(v) and all(map(item.accepts, v)), description,
                hint=lambda v: " ".join(item.hint(x) for x in v if not item.accepts(x))
                if many(v) else "")  # fmt: skip


#: Decorator: build the figure with slide-size text (each call enters its own rc_context).
slide_style = matplotlib.rc_context(_RC)


class NotebookFigure(Figure):
    """A Figure that Jupyter shows as a PNG without pyplot, exactly once."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png")
        return buffer.getvalue()


def new_figure(figsize, nrows=1, ncols=1, **subplot_kw) -> tuple[Figure, np.ndarray]:
    """A constrained-layout :class:`NotebookFigure` and its 2-D array of axes."""
    fig = NotebookFigure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)


def figure_and_ax(ax: Axes | None, figsize) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.get_figure(root=True), ax
    fig, axes = new_figure(figsize)
    return fig, axes[0, 0]


def finish(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.tick_params(labelsize=12)


def caption(fig: Figure, text: str) -> None:
    """A grey footnote under the figure, wrapped to its width."""
    width = fig.get_figwidth() - 0.3  # constrained layout keeps a margin on each side
    fig.supxlabel(wrap_to_width(text, width, CAPTION_FONTSIZE), fontsize=CAPTION_FONTSIZE,
                  color="#444444")  # fmt: skip


def hatch(ax: Axes, i: float, low: float, high: float) -> None:
    """A hatched band across bar ``i``: the range of an estimate."""
    if np.isfinite(low) and np.isfinite(high) and high > low:
        ax.fill_between([i - 0.34, i + 0.34], low, high, facecolor=(1, 1, 1, 0.35),
                        edgecolor="#333333", hatch="///", lw=1.0, zorder=2.5)  # fmt: skip


def ordered_strategies(values) -> list:
    """The strategies present, registered ones in registry order, then others alphabetically."""
    present = set(values)
    known = [s for s in strategy_names() if s in present]
    return known + sorted((s for s in present if s not in known), key=str)


def trains_backbone(strategy) -> bool:
    """False for a registered strategy that trains a network of its own (the baseline)."""
    return strategy not in strategy_names() or get_strategy(strategy).network == "backbone"


def spread(frame: pd.DataFrame, value: str, by: list[str]) -> pd.DataFrame:
    """Mean and whisker ends (``low``, ``high``) per group: ±1 SD from 3 values, min-max from 2."""
    stats = frame.groupby(by, sort=False)[value].agg(["mean", "std", "min", "max", "count"])
    use_std, two = stats["count"] >= 3, stats["count"] == 2
    stats["low"] = stats["mean"].where(~use_std, stats["mean"] - stats["std"])
    stats["high"] = stats["mean"].where(~use_std, stats["mean"] + stats["std"])
    stats.loc[two, "low"], stats.loc[two, "high"] = stats.loc[two, "min"], stats.loc[two, "max"]
    return stats


def pick_scale(largest: float, units) -> tuple[float, str]:
    """The first ``(factor, unit)`` that scales ``largest`` to >= 1, else the last."""
    if not np.isfinite(largest) or largest <= 0:
        return units[0]
    return next(((f, u) for f, u in units if largest * f >= 1), units[-1])


def short_block(name: str) -> str:
    """'block_3' -> '3', 'block3a' -> '3a', 'conv4_block2' -> '4.2'; stem/top/head unchanged."""
    if match := re.fullmatch(r"conv(\d+)_block(\d+)", name):
        return f"{match[1]}.{match[2]}"
    if name == "preprocessing":
        return "prep."
    match = re.fullmatch(r"block_?(\w+)", name)
    return match[1] if match else name


def count_text(count: float) -> str:
    """Parameter counts as people say them: ``'2.56 k'``, ``'3.33 M'``."""
    if not count:
        return "0"
    factor, unit = pick_scale(count, [(1e-6, " M"), (1e-3, " k"), (1.0, "")])
    return f"{count * factor:.3g}{unit}"


def share_text(share: float) -> str:
    """A percentage; a non-zero share below 1% is ``<1%``, never ``0%``."""
    return "<1%" if 0 < share < 0.01 else f"{share:.0%}"


def wrap(text: str, width: int = 11) -> str:
    """Break ``text`` on spaces into lines of at most ``width`` characters."""
    return textwrap.fill(text, width, break_long_words=False)


def wrap_to_width(text: str, inches: float, fontsize: float) -> str:
    """Wrap ``text`` to lines that fit in ``inches`` at ``fontsize``."""
    columns = max(10, int(inches * 72 / (0.6 * fontsize)))  # a character: about 0.6 em
    return "\n".join(textwrap.fill(line, columns, break_long_words=False, break_on_hyphens=False)
                     for line in text.splitlines())  # fmt: skip


def training_sizes(results: pd.DataFrame) -> pd.Series:
    """``train_per_class`` as floats, NaN meaning the full training set."""
    return pd.to_numeric(results["train_per_class"].replace("all", np.nan), errors="coerce")


def several_sizes(results: pd.DataFrame) -> bool:
    """True when the table holds several training-set sizes."""
    return "train_per_class" in results and training_sizes(results).nunique(dropna=False) > 1


def largest_training_set(results: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of the full training set, else of the largest size; and its words."""
    if "train_per_class" not in results:
        return results, ""
    sizes = training_sizes(results)
    if sizes.isna().any():
        return results[sizes.isna()], "full training set"
    return results[sizes == sizes.max()], f"{sizes.max():g} images per class"


def context(results: pd.DataFrame, func: str) -> str:
    """'backbone on dataset' for titles; refuses a strategy whose runs mix backbones or datasets."""
    parts = []
    for column in ("backbone", "dataset"):
        if column not in results.columns:
            continue
        values = results[["strategy", column]].dropna().astype(str)
        mixed = values.groupby("strategy")[column].nunique()
        if (mixed > 1).any():
            strategy = mixed.idxmax()
            found = sorted(values.loc[values["strategy"] == strategy, column].unique())
            raise InvalidParameterError(f"{func} averages the runs of each strategy, but "
                                        f"{strategy!r} has runs with {column} {found}. Select one "
                                        f"first, e.g. results[results[{column!r}] == "
                                        f"{found[0]!r}].")  # fmt: skip
        own = values["strategy"].map(lambda s: not trains_backbone(s)).astype(bool)
        transfer = values.loc[~own, column].unique()
        text = " / ".join(sorted(transfer) or sorted(values[column].unique()))
        if len(transfer):
            for strategy in ordered_strategies(values.loc[own, "strategy"]):
                value = values.loc[values["strategy"] == strategy, column].iloc[0]
                if value not in transfer:
                    label = strategy_label(strategy)
                    text += f" ({label[:1].lower() + label[1:]}: {value})"
        parts += [text] if text else []
    return " on ".join(parts)


@validate_params({"fig": [Figure], "path": [PATH]})
def save_figure(fig: Figure, path) -> Path:
    """Write a figure as PNG at 150 dpi (``.png`` added without a suffix), creating folders.

    Example:
        >>> import tempfile
        >>> save_figure(new_figure((4, 3))[0], Path(tempfile.mkdtemp()) / "figs" / "empty").name
        'empty.png'
    """
    path = Path(path).expanduser()
    path = path if path.suffix else path.with_suffix(".png")
    tmp = path.with_name(f".{path.name}.tmp")  # the old figure stays whole until replaced
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(tmp, dpi=150, format=path.suffix[1:])
        os.replace(tmp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise TLCourseError(f"Could not write the figure {path}: {error.strerror or error}. Free "
                            "some disk space or choose a writable folder "
                            "(--out).") from None  # fmt: skip
    return path
