"""Test accuracy against training images per class, one line per strategy; the crossover
draws it per dataset, near and far from ImageNet."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from tlcourse.comparison.strategies import strategy_color, strategy_label
from tlcourse.errors import DatasetError, InvalidParameterError, invalid_parameter
from tlcourse.paths import data_dir
from tlcourse.plots import style
from tlcourse.validation import frame_with, validate_params

__all__ = ["MEASURED_CROSSOVER", "crossover_table", "measured_crossover", "plot_crossover",
           "plot_data_efficiency", "with_per_class"]  # fmt: skip

_REQUIRED = ("strategy", "seed", "test_accuracy", "train_per_class", "train_images")


def with_per_class(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with ``per_class`` (the full training set at its images over the classes)
    and ``accuracy`` in percent."""
    sizes = style.training_sizes(results)
    full = sizes.isna()
    classes = (results["train_images"][~full] / sizes[~full]).median()
    return results.assign(per_class=sizes.fillna(results["train_images"] / classes),
                          accuracy=results["test_accuracy"] * 100)  # fmt: skip


def _size_labels(sizes: np.ndarray, full_x: float | None) -> list[str]:
    labels = []
    for size in sizes:
        text = f"{size:g}"
        if full_x is not None and np.isclose(size, full_x):
            text = (text if float(size).is_integer() else f"≈{size:.0f}") + "\n(full)"
        labels.append(text)
    return labels


def _mark_transfer_gain(ax: Axes, stats: pd.DataFrame, smallest_size: float) -> None:
    """An arrow from the best baseline to the best transfer strategy at the smallest size."""
    smallest = stats.xs(smallest_size, level="per_class")["mean"]
    own = [s for s in smallest.index if not style.trains_backbone(s)]
    transfer = smallest.drop(own)
    if not own or transfer.empty or transfer.max() <= smallest[own].max():
        return
    baseline = smallest[own].max()
    ax.annotate("", (smallest_size, transfer.max()), xytext=(smallest_size, baseline),
                arrowprops={"arrowstyle": "<->", "lw": 1.8, "color": "black"})  # fmt: skip
    ax.annotate(f"+{transfer.max() - baseline:.0f} points\nwith transfer",
                (smallest_size, smallest.mean()), xytext=(10, 0), textcoords="offset points",
                va="center", fontsize=12)  # fmt: skip


@validate_params({"results": [frame_with(*_REQUIRED)], "log_x": ["boolean"], "ax": [None, Axes],
                  "figsize": [style.FIGSIZE]})  # fmt: skip
@style.slide_style
def plot_data_efficiency(results: pd.DataFrame, *, log_x: bool = True, ax: Axes | None = None,
                         figsize=(10, 6)) -> Figure:  # fmt: skip
    """Test accuracy against training images per class, one line per strategy.

    Means over seeds with a band for the spread; an arrow shows how far the best transfer
    strategy is ahead of training from scratch at the smallest size.

    Example:
        >>> runs = measured_crossover().query("dataset == 'photos'")
        >>> len(plot_data_efficiency(runs).axes[0].get_lines())
        3
    """
    full = style.training_sizes(results).isna()
    if full.all():
        raise InvalidParameterError("The 'results' parameter of plot_data_efficiency needs rows "
                                    "with 'train_per_class' set (several training-set sizes); "
                                    "every row has NaN (full data).")  # fmt: skip
    frame = with_per_class(results)
    title_context = style.context(frame, "plot_data_efficiency")
    fig, ax = style.figure_and_ax(ax, figsize)
    stats = style.spread(frame, "accuracy", ["strategy", "per_class"]).sort_index()
    for strategy in style.ordered_strategies(frame["strategy"]):
        line, color = stats.loc[strategy], strategy_color(strategy)
        seeds = frame.loc[frame["strategy"] == strategy, "seed"].nunique()
        ax.plot(line.index, line["mean"], "-o", color=color, lw=2.5, ms=7,
                label=f"{strategy_label(strategy)} (n={seeds})")  # fmt: skip
        ax.fill_between(line.index, line["low"], line["high"], color=color, alpha=0.18, lw=0)
    sizes = np.sort(frame["per_class"].unique())
    if log_x:
        ax.set_xscale("log")
    full_x = frame.loc[full, "per_class"].median() if full.any() else None
    ax.set_xticks(sizes, _size_labels(sizes, full_x))
    ax.xaxis.set_minor_locator(NullLocator())
    _mark_transfer_gain(ax, stats, sizes[0])
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    title = "Where transfer learning shines" + (f": {title_context}" if title_context else "")
    scale = "log scale" if log_x else "linear scale"
    style.finish(ax, title, f"training images per class ({scale})", "test accuracy (%)")
    return fig


MEASURED_CROSSOVER = "measured/crossover.csv"
DATASET_TITLES = {
    "photos": "Photos: near ImageNet (animals, plants, food)",
    "fashion_mnist": "Fashion-MNIST: far from ImageNet (greyscale clothing)",
    "fashion_mnist_full": "Fashion-MNIST: far from ImageNet (greyscale clothing)",
}
_RESULTS = frame_with("dataset", *_REQUIRED)
_BASELINE, _FROZEN = "scratch", "feature_extraction"


def measured_crossover() -> pd.DataFrame:
    """The crossover measured for the lecture with ``tlcourse compare``, as shipped.

    Example:
        >>> sorted(measured_crossover()["dataset"].unique())
        ['fashion_mnist', 'photos']
    """
    path = data_dir() / MEASURED_CROSSOVER
    if not path.is_file():
        raise DatasetError(f"The shipped crossover measurement {path} is missing. Set "
                           "TLCOURSE_DATA_DIR to a copy of the repository's data/ folder, or "
                           "measure it again with the commands of the README (section 'The "
                           "crossover').")  # fmt: skip
    return pd.read_csv(path)


def _several_sizes(results: pd.DataFrame, func: str) -> None:
    if (sizes := style.training_sizes(results).nunique(dropna=False)) < 2:
        raise InvalidParameterError(f"The 'results' parameter of {func} needs several training-set "
                                    "sizes (train_per_class), as `tlcourse compare "
                                    "--train-per-class 10,100,all` gives. Got "
                                    f"{sizes} size.")  # fmt: skip


@validate_params({"results": [_RESULTS]})
def crossover_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of test accuracy per dataset, ``train_per_class`` and
    strategy, with the fewest seeds of a cell (``runs``).

    Example:
        >>> crossover_table(measured_crossover())["train_per_class"].tolist()
        [10, 30, 100, 'all', 2, 4, 6, 'all']
    """
    _several_sizes(results, "crossover_table")
    frame = results.assign(per_class=style.training_sizes(results).fillna(np.inf))
    stats = frame.groupby(["dataset", "per_class", "strategy"], sort=True)["test_accuracy"]
    stats = stats.agg(["mean", "std", "count"])
    table = stats[["mean", "std"]].unstack("strategy").swaplevel(axis=1)
    strategies = style.ordered_strategies(frame["strategy"])
    table = table[[(s, m) for s in strategies for m in ("mean", "std")]]
    table[("runs", "")] = stats["count"].unstack("strategy").min(axis=1)
    table = table.reset_index()
    per_class = table.pop(("per_class", ""))
    table.insert(1, ("train_per_class", ""), ["all" if np.isinf(v) else int(v) for v in per_class])
    return table


def _means(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.groupby(["per_class", "strategy"])["accuracy"].mean().unstack("strategy")


def _mark_crossover(ax, means: pd.DataFrame) -> None:
    """A dotted line where training from scratch catches up with feature extraction."""
    if _BASELINE not in means or _FROZEN not in means:
        return
    caught = means.index[means[_BASELINE] >= means[_FROZEN]]
    if caught.empty:
        return
    ax.axvline(caught[0], color="0.3", ls=":", lw=1.8)
    baseline, frozen = strategy_label(_BASELINE).lower(), strategy_label(_FROZEN).lower()
    text = f"{baseline}\ncatches up with\n{frozen}"
    ax.annotate(text, (caught[0], ax.get_ylim()[0]), xytext=(-6, 8), textcoords="offset points",
                ha="right", va="bottom", fontsize=11, color="0.3")  # fmt: skip


def _mark_last_gap(ax, means: pd.DataFrame) -> None:
    """The gain of the best transfer strategy at the largest size."""
    if _BASELINE not in means or means.shape[1] < 2 or len(means) < 2:
        return
    largest = means.index.max()
    scratch = means.loc[largest, _BASELINE]
    transfer = means.loc[largest].drop(_BASELINE).max()
    if not transfer > scratch:
        return  # scratch caught up: _mark_crossover says so
    ax.annotate("", xy=(largest, transfer), xytext=(largest, scratch),
                arrowprops={"arrowstyle": "<->", "color": "0.15", "lw": 1.6})  # fmt: skip
    gain = transfer - scratch
    # Below the lines: at the largest size they are close.
    ax.annotate(f"+{gain:.0f} point{'' if round(gain) == 1 else 's'}", (largest, scratch),
                xytext=(-6, -10), textcoords="offset points", ha="right", va="top",
                fontsize=11, color="0.15")  # fmt: skip


@validate_params({"results": [None, _RESULTS], "datasets": [None, list, tuple],
                  "log_x": ["boolean"], "figsize": [None, style.FIGSIZE]})  # fmt: skip
@style.slide_style
def plot_crossover(results: pd.DataFrame | None = None, *, datasets: Sequence[str] | None = None,
                   log_x: bool = True, figsize=None) -> Figure:  # fmt: skip
    """Accuracy against training images per class, one panel per dataset, on one y axis.

    Each panel is :func:`plot_data_efficiency` of one of ``datasets`` (default: all).
    ``results``: None for :func:`measured_crossover`.

    Example:
        >>> plot_crossover(datasets=["photos"]).axes[0].get_title()
        'Photos: near ImageNet (animals, plants, food)'
    """
    results = measured_crossover() if results is None else results
    _several_sizes(results, "plot_crossover")
    present = list(dict.fromkeys(results["dataset"].astype(str)))
    if datasets is not None and (not datasets or set(datasets) - set(present)):
        raise invalid_parameter("datasets", "plot_crossover",
                                f"None or a list of datasets of the table, among {present}",
                                datasets)  # fmt: skip
    chosen = present if datasets is None else list(dict.fromkeys(datasets))
    figsize = figsize or (7.0 * len(chosen), 6.0)
    fig, axes = style.new_figure(figsize, 1, len(chosen), sharey=True)
    for index, (ax, dataset) in enumerate(zip(axes[0], chosen, strict=True)):
        runs = results[results["dataset"].astype(str) == dataset]
        plot_data_efficiency(runs, log_x=log_x, ax=ax)
        ax.set_title(DATASET_TITLES.get(dataset, dataset))
        if index:
            ax.set_ylabel("")
            ax.get_legend().remove()
        _mark_crossover(ax, _means(with_per_class(runs)))
        _mark_last_gap(ax, _means(with_per_class(runs)))
    fig.suptitle("Accuracy against training images per class: near and far from ImageNet",
                 fontsize=style.TITLE_FONTSIZE)  # fmt: skip
    return fig
