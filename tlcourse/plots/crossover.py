"""The crossover: accuracy against training images per class, near and far from ImageNet.

One panel per dataset, each the data-efficiency figure of that dataset (one line per strategy,
the spread over seeds as a band). On the shipped photos (animals, plants, food: what ImageNet
shows) transfer wins at every size by 20 points or more; on Fashion-MNIST (greyscale clothing)
its advantage shrinks as the images grow in number (measured: 9 points at 10 images per class, 3
at 385). The figure writes, per panel, the gain of transfer at the smallest and the largest size,
and marks the first size at which training from scratch reaches feature extraction, if it does.

``tlcourse figures`` draws it from the measurement shipped with tlcourse
(:func:`measured_crossover`, ``data/measured/crossover.csv``, made by the commands in the
README); :func:`plot_crossover` draws any table of the same columns, e.g. two ``results.csv``
of ``tlcourse compare --train-per-class ...`` concatenated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tlcourse.errors import DatasetError, InvalidParameterError, check_bool, invalid_parameter
from tlcourse.paths import data_dir
from tlcourse.plots.data_efficiency import plot_data_efficiency, with_per_class
from tlcourse.plots.style import TITLE_FONTSIZE, check_figsize, new_figure, slide_style
from tlcourse.plots.tables import check_frame, training_sizes
from tlcourse.strategies import strategy_label

__all__ = [
    "DATASET_TITLES",
    "MEASURED_CROSSOVER",
    "crossover_table",
    "measured_crossover",
    "plot_crossover",
]

#: The shipped measurement, relative to :func:`tlcourse.paths.data_dir`.
MEASURED_CROSSOVER = "measured/crossover.csv"

#: Panel titles: how far each dataset is from ImageNet (other datasets are titled by name).
DATASET_TITLES = {
    "photos": "Photos: near ImageNet (animals, plants, food)",
    "fashion_mnist": "Fashion-MNIST: far from ImageNet (greyscale clothing)",
    "fashion_mnist_full": "Fashion-MNIST: far from ImageNet (greyscale clothing)",
}

_COLUMNS = ("dataset", "strategy", "seed", "test_accuracy", "train_per_class", "train_images")
_BASELINE, _FROZEN = "scratch", "feature_extraction"


def measured_crossover() -> pd.DataFrame:
    """The crossover measured for the lecture, as shipped with tlcourse.

    One row per run of ``tlcourse compare`` (the columns of ``results.csv`` without the
    per-epoch ``history``), on the photos and on Fashion-MNIST; the README gives the commands,
    the machine and its load.

    Returns:
        The results table.

    Raises:
        DatasetError: the file is missing (a copy of ``data/`` without it).

    Example:
        >>> sorted(measured_crossover()["dataset"].unique())
        ['fashion_mnist', 'photos']
    """
    path = data_dir() / MEASURED_CROSSOVER
    if not path.is_file():
        raise DatasetError(
            f"The shipped crossover measurement {path} is missing. Set TLCOURSE_DATA_DIR to a "
            "copy of the repository's data/ folder, or measure it again with the commands of "
            "the README (section 'The crossover')."
        )
    return pd.read_csv(path)


def _check(results, func: str) -> pd.DataFrame:
    results = check_frame(results, _COLUMNS, func, "results")
    if training_sizes(results).nunique(dropna=False) < 2:
        raise InvalidParameterError(
            f"The 'results' parameter of {func} needs several training-set sizes "
            "(train_per_class), as `tlcourse compare --train-per-class 10,100,all` gives. Got "
            f"{training_sizes(results).nunique(dropna=False)} size."
        )
    return results


def _check_datasets(datasets, results: pd.DataFrame, func: str) -> list[str]:
    present = list(dict.fromkeys(results["dataset"].astype(str)))
    if datasets is None:
        return present
    if isinstance(datasets, str) or not isinstance(datasets, Sequence) or not datasets:
        raise invalid_parameter("datasets", func, f"None or a list among {present}", datasets)
    unknown = [d for d in datasets if d not in present]
    if unknown:
        raise invalid_parameter(
            "datasets", func, f"a list of datasets of the table, among {present}", unknown
        )
    return list(dict.fromkeys(datasets))


def crossover_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of test accuracy per dataset, size and strategy.

    Args:
        results: one row per run with the columns ``dataset``, ``strategy``, ``seed``,
            ``test_accuracy``, ``train_per_class`` and ``train_images`` (e.g.
            :func:`measured_crossover`).

    Returns:
        One row per dataset and training-set size (``train_per_class``: an int, or ``"all"``
        with ``train_images`` then the mean number of training images per class), one
        column pair ``(strategy, "mean")`` / ``(strategy, "std")`` per strategy in registry
        order, accuracies as fractions; and ``("runs", "")``, the seeds per cell (the
        smallest count).

    Raises:
        InvalidParameterError: a missing column or a table without several sizes.

    Example:
        >>> runs = pd.DataFrame({"dataset": "d", "strategy": ["scratch", "fine_tuning"] * 2,
        ...     "seed": 0, "train_per_class": [5, 5, 50, 50], "train_images": [10, 10, 100, 100],
        ...     "test_accuracy": [0.3, 0.8, 0.6, 0.9]})
        >>> crossover_table(runs)[("scratch", "mean")].tolist()
        [0.3, 0.6]
    """
    from tlcourse.plots.style import ordered_strategies

    results = _check(results, "crossover_table")
    frame = results.assign(per_class=training_sizes(results).fillna(np.inf))
    stats = frame.groupby(["dataset", "per_class", "strategy"], sort=True)["test_accuracy"].agg(
        ["mean", "std", "count"]
    )
    table = stats[["mean", "std"]].unstack("strategy").swaplevel(axis=1)
    strategies = ordered_strategies(frame["strategy"])
    table = table[[(s, m) for s in strategies for m in ("mean", "std")]]
    table[("runs", "")] = stats["count"].unstack("strategy").min(axis=1)
    table = table.reset_index()
    table[("train_per_class", "")] = [
        "all" if np.isinf(v) else int(v) for v in table[("per_class", "")]
    ]
    table = table.drop(columns=[("per_class", "")])
    return table[[("dataset", ""), ("train_per_class", ""), *table.columns[1:-1]]]


def _mark_crossover(ax, frame: pd.DataFrame) -> None:
    """A dotted line where training from scratch first reaches feature extraction."""
    means = frame.groupby(["per_class", "strategy"])["accuracy"].mean().unstack("strategy")
    if _BASELINE not in means or _FROZEN not in means:
        return
    caught = means.index[means[_BASELINE] >= means[_FROZEN]]
    if caught.empty:
        return
    ax.axvline(caught[0], color="0.3", ls=":", lw=1.8)
    ax.annotate(
        f"{strategy_label(_BASELINE).lower()}\ncatches up with\n{strategy_label(_FROZEN).lower()}",
        (caught[0], ax.get_ylim()[0]),
        xytext=(-6, 8),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=11,
        color="0.3",
    )


def _mark_last_gap(ax, frame: pd.DataFrame) -> None:
    """The gain of the best transfer strategy at the largest size (accuracies in percent)."""
    means = frame.groupby(["per_class", "strategy"])["accuracy"].mean().unstack("strategy")
    if _BASELINE not in means or means.shape[1] < 2 or len(means) < 2:
        return
    largest = means.index.max()
    scratch = means.loc[largest, _BASELINE]
    transfer = means.loc[largest].drop(_BASELINE).max()
    if not transfer > scratch:
        return  # scratch caught up: _mark_crossover says so
    ax.annotate("", xy=(largest, transfer), xytext=(largest, scratch),
                arrowprops={"arrowstyle": "<->", "color": "0.15", "lw": 1.6})  # fmt: skip
    ax.annotate(
        f"+{transfer - scratch:.0f} point{'' if round(transfer - scratch) == 1 else 's'}",
        (largest, scratch),  # below the lines: at the largest size they are close
        xytext=(-6, -10),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=11,
        color="0.15",
    )


@slide_style
def plot_crossover(
    results: pd.DataFrame | None = None,
    *,
    datasets: Sequence[str] | None = None,
    log_x: bool = True,
    figsize=None,
) -> Figure:
    """Accuracy against training images per class, one panel per dataset, on one y axis.

    Each panel is :func:`~tlcourse.plots.plot_data_efficiency` of one dataset: a line per
    strategy (mean over seeds, band ±1 SD with 3 seeds or more, min-max with 2), the gain of
    transfer at the smallest size and at the largest (how far the advantage shrinks), and a
    dotted line at the first size where training from scratch reaches feature extraction, if
    it does.

    Args:
        results: one row per run with the columns ``dataset``, ``strategy``, ``seed``,
            ``test_accuracy``, ``train_per_class`` and ``train_images``; several training-set
            sizes. Defaults to None: the shipped measurement (:func:`measured_crossover`).
        datasets: the datasets to draw, in this order. Defaults to None (every dataset, in
            the order of the table).
        log_x: logarithmic x axes. Defaults to True.
        figsize: figure size in inches. Defaults to None (7 inches wide per panel, 6 high).

    Returns:
        The figure.

    Raises:
        InvalidParameterError: a missing column, a table without several sizes, a dataset
            not in the table, or a bad keyword argument.
        DatasetError: ``results`` is None and the shipped measurement is missing.

    Example:
        >>> runs = pd.DataFrame({"dataset": ["near"] * 4 + ["far"] * 4,
        ...     "strategy": ["scratch", "feature_extraction"] * 4, "seed": 0,
        ...     "train_per_class": [5, 5, 50, 50] * 2, "train_images": [10, 10, 100, 100] * 2,
        ...     "test_accuracy": [0.3, 0.8, 0.6, 0.9, 0.3, 0.6, 0.8, 0.7]})
        >>> [ax.get_title() for ax in plot_crossover(runs).axes]
        ['near', 'far']
    """
    func = "plot_crossover"
    if results is None:
        results = measured_crossover()
    results = _check(results, func)
    chosen = _check_datasets(datasets, results, func)
    log_x = check_bool("log_x", log_x, func)
    figsize = check_figsize(figsize, func, none_ok=True) or (7.0 * len(chosen), 6.0)
    fig, axes = new_figure(figsize, 1, len(chosen), sharey=True)
    for index, (ax, dataset) in enumerate(zip(axes[0], chosen, strict=True)):
        runs = results[results["dataset"].astype(str) == dataset]
        plot_data_efficiency(runs, log_x=log_x, ax=ax)
        ax.set_title(DATASET_TITLES.get(dataset, dataset))
        if index:
            ax.set_ylabel("")
            ax.get_legend().remove()
        _mark_crossover(ax, with_per_class(runs))
        _mark_last_gap(ax, with_per_class(runs))
    fig.suptitle(
        "Accuracy against training images per class: near and far from ImageNet",
        fontsize=TITLE_FONTSIZE,
    )
    return fig
