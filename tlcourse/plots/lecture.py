"""The lecture's figures: one list, read by ``tlcourse figures`` and by ``tlcourse compare``.

Each :class:`LectureFigure` says which file it writes, whether it needs a results table (or the
predictions table, ``predictions.csv``), when it applies (the data-efficiency figure only for
several training-set sizes) and how to build it. :func:`write_figures` writes the ones drawn
from results and predictions (what ``tlcourse compare`` writes after a run);
:func:`lecture_figures` writes all of them. Adding a figure is one module with its plot
function, one record in :data:`LECTURE_FIGURES`, and its test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from tlcourse.error_analysis import check_predictions
from tlcourse.errors import check_choice, check_int, check_real, invalid_parameter
from tlcourse.plots.comparison import plot_comparison
from tlcourse.plots.confusion import plot_confusion
from tlcourse.plots.crossover import plot_crossover
from tlcourse.plots.data_efficiency import plot_data_efficiency
from tlcourse.plots.deployment import has_deployment_columns, plot_deployment
from tlcourse.plots.gallery import gallery_applies, plot_gallery
from tlcourse.plots.learning_curves import plot_learning_curves
from tlcourse.plots.learning_rates import plot_learning_rates
from tlcourse.plots.network_sizes import plot_parameter_counts
from tlcourse.plots.style import save_figure
from tlcourse.plots.tables import check_frame, several_sizes
from tlcourse.plots.trainable_map import plot_trainable_map

__all__ = ["LECTURE_FIGURES", "LectureFigure", "LectureSetup", "lecture_figures", "write_figures"]


@dataclass(frozen=True)
class LectureSetup:
    """What the figures that need no results are drawn for.

    Attributes:
        backbone: the network of the trainable map and the learning-rate figure, built with
            random weights (only its structure matters).
        depth: blocks unfrozen for fine-tuning in those figures, or ``"all"``.
        factor: ratio between consecutive blocks' learning rates.
        num_classes: outputs of the classifier drawn (the shipped photos have 6 classes).
    """

    backbone: str = "efficientnet_lite0"
    depth: int | str = 4
    factor: float = 3.0
    num_classes: int = 6


@dataclass(frozen=True)
class LectureFigure:
    """One of the lecture's figures.

    Attributes:
        file_name: the PNG written, e.g. ``"comparison.png"``.
        build: ``build(results, setup) -> Figure``; ``results`` is None for a figure that
            needs none, and the predictions table for one that ``needs_predictions``.
        needs_results: True when drawn from a comparison's tables (written by
            ``tlcourse compare``).
        applies: ``applies(results) -> bool`` (or of the predictions), for a figure drawn
            only when the table allows it. Defaults to always.
        description: what it shows, in a few words.
        needs_predictions: True when drawn from the predictions table (one row per test image
            per run, ``predictions.csv``) instead of the results: ``build`` and ``applies``
            then receive it in place of the results. Defaults to False.
    """

    file_name: str
    build: Callable[[pd.DataFrame | None, LectureSetup], Figure]
    needs_results: bool
    applies: Callable[[pd.DataFrame], bool] = lambda results: True
    description: str = ""
    needs_predictions: bool = False


def _lecture_classifier(setup: LectureSetup):
    """The fine-tuning set-up the lecture draws: the last blocks + head, a factor per block."""
    from tlcourse.freezing import set_trainable
    from tlcourse.models import transfer_classifier
    from tlcourse.optimizers import layerwise_optimizer

    model = transfer_classifier(setup.backbone, setup.num_classes, image_size=96, weights=None)
    set_trainable(model, setup.depth)
    model.compile(layerwise_optimizer(model, 1e-3, factor=setup.factor), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _learning_rates(results, setup: LectureSetup) -> Figure:
    from tlcourse.optimizers import learning_rates

    return plot_learning_rates(learning_rates(_lecture_classifier(setup)))


def _deployment_networks(results, setup: LectureSetup) -> Figure:
    from tlcourse.deployment import deployment_table

    # Short measurements: the figure compares orders of magnitude (VGG16 against a small CNN).
    table = deployment_table(num_classes=setup.num_classes, repeats=10, seconds=1.0)
    return plot_deployment(table)


def _trainable_map(results, setup: LectureSetup) -> Figure:
    # The lecture's three strategies and what each unfreezes.
    depths = {"scratch": "all", "feature_extraction": 0, "fine_tuning": setup.depth}
    return plot_trainable_map(setup.backbone, depths, num_classes=setup.num_classes)


#: The lecture's figures, in the order they are written.
LECTURE_FIGURES: tuple[LectureFigure, ...] = (
    LectureFigure(
        "parameter_counts.png",
        lambda results, setup: plot_parameter_counts(),
        needs_results=False,
        description="parameters of the lecture's networks, VGG16 to EfficientNet-Lite0",
    ),
    LectureFigure(
        "trainable_map.png",
        _trainable_map,
        needs_results=False,
        description="which blocks train in each strategy",
    ),
    LectureFigure(
        "learning_rates.png",
        _learning_rates,
        needs_results=False,
        description="the learning rate per block under differential rates",
    ),
    LectureFigure(
        "deployment_networks.png",
        _deployment_networks,
        needs_results=False,
        description="size, CPU latency and CO2 per 1,000 predictions: VGG16, Lite0, small CNN",
    ),
    LectureFigure(
        "comparison.png",
        lambda results, setup: plot_comparison(results),
        needs_results=True,
        description="test accuracy, time and CO2 per strategy",
    ),
    LectureFigure(
        "learning_curves.png",
        lambda results, setup: plot_learning_curves(results),
        needs_results=True,
        description="accuracy and loss per epoch, fine-tuning start marked",
    ),
    LectureFigure(
        "data_efficiency.png",
        lambda results, setup: plot_data_efficiency(results),
        needs_results=True,
        applies=several_sizes,
        description="accuracy against training images per class",
    ),
    LectureFigure(
        "deployment.png",
        lambda results, setup: plot_deployment(results),
        needs_results=True,
        applies=has_deployment_columns,
        description="size, CPU latency and CO2 per 1,000 predictions of each strategy's model",
    ),
    LectureFigure(
        "confusion.png",
        lambda predictions, setup: plot_confusion(predictions),
        needs_results=True,
        needs_predictions=True,
        description="confusion matrix per strategy, seeds pooled",
    ),
    LectureFigure(
        "gallery.png",
        lambda predictions, setup: plot_gallery(predictions),
        needs_results=True,
        needs_predictions=True,
        applies=gallery_applies,
        description="test photos from scratch gets wrong and transfer learning gets right",
    ),
    LectureFigure(
        "crossover.png",
        lambda results, setup: plot_crossover(),  # the measurement shipped with tlcourse
        needs_results=False,
        description="accuracy against images per class, near and far from ImageNet (measured)",
    ),
)


def _check_out(out, func: str) -> Path:
    if not isinstance(out, str | os.PathLike) or not str(out):
        raise invalid_parameter("out", func, "a folder path (str or pathlib.Path)", out)
    return Path(out).expanduser()


def _table(figure: LectureFigure, results, predictions):
    return predictions if figure.needs_predictions else results


def _chosen(figures, results, predictions, with_others: bool) -> list[LectureFigure]:
    """The records to draw: those whose table is there and applies (and, if asked, the rest)."""
    chosen = []
    for figure in figures:
        if not figure.needs_results:
            if with_others:
                chosen.append(figure)
            continue
        table = _table(figure, results, predictions)
        if table is not None and figure.applies(table):
            chosen.append(figure)
    return chosen


def _write(figures, results, predictions, setup, out: Path) -> list[Path]:
    paths = []
    for figure in figures:
        # Drawn without pyplot: nothing to close, the figure goes with its last reference.
        built = figure.build(_table(figure, results, predictions), setup)
        paths.append(save_figure(built, out / figure.file_name))
    return paths


def _check_predictions(predictions, func: str) -> pd.DataFrame | None:
    if predictions is None:
        return None
    if isinstance(predictions, str | os.PathLike):
        path = Path(predictions).expanduser()
        if not path.is_file():
            raise invalid_parameter(
                "predictions", func, "None, a predictions DataFrame or an existing "
                "predictions.csv", str(predictions),
            )  # fmt: skip
        predictions = pd.read_csv(path)
    return check_predictions(predictions, func)


def write_figures(
    results: pd.DataFrame,
    out: str | os.PathLike,
    predictions: pd.DataFrame | str | os.PathLike | None = None,
) -> list[Path]:
    """Save the figures drawn from a comparison's results as PNG files in ``out``.

    What ``tlcourse compare`` writes after a run: every record of :data:`LECTURE_FIGURES` that
    needs results and applies to this table, and, given the predictions table, those drawn
    from it (confusion matrices, the gallery).

    Args:
        results: the DataFrame :func:`tlcourse.compare` returns (or its ``results.csv``, read).
        out: output folder (created if missing).
        predictions: the predictions table (``predictions.csv``, read, or its path), one row
            per test image per run; None skips the figures drawn from it. Defaults to None.

    Returns:
        The paths written: ``comparison.png``, ``learning_curves.png``; with several
        training-set sizes ``data_efficiency.png``; with deployment columns ``deployment.png``;
        with predictions ``confusion.png`` and, when it has files and a strategy from
        scratch, ``gallery.png``.

    Raises:
        InvalidParameterError: ``results`` is not a results table, ``predictions`` not a
            predictions table, or ``out`` is not a path.

    Example:
        >>> import json, tempfile
        >>> history = json.dumps({"accuracy": [0.5, 0.8], "loss": [1.0, 0.6]})
        >>> runs = pd.DataFrame({"strategy": ["scratch", "feature_extraction"], "seed": 0,
        ...     "test_accuracy": [0.6, 0.9], "wall_seconds": [30.0, 3.0], "co2_kg": None,
        ...     "train_per_class": None, "history": history})
        >>> [p.name for p in write_figures(runs, tempfile.mkdtemp())]
        ['comparison.png', 'learning_curves.png']
    """
    results = check_frame(results, ("strategy", "train_per_class"), "write_figures", "results")
    predictions = _check_predictions(predictions, "write_figures")
    out = _check_out(out, "write_figures")
    chosen = _chosen(LECTURE_FIGURES, results, predictions, with_others=False)
    return _write(chosen, results, predictions, LectureSetup(), out)


def _read_results(results, func: str) -> pd.DataFrame | None:
    if results is None or isinstance(results, pd.DataFrame):
        return results
    if isinstance(results, str | os.PathLike) and Path(results).expanduser().is_file():
        return pd.read_csv(Path(results).expanduser())
    path_given = isinstance(results, str | os.PathLike)
    raise invalid_parameter(
        "results",
        func,
        "None, a results DataFrame or the path of an existing results.csv",
        str(results) if path_given else results,
        "That file does not exist: run `tlcourse compare --out DIR` first and pass DIR/results.csv."
        if path_given
        else "",
    )


def lecture_figures(
    out: str | os.PathLike,
    results: str | os.PathLike | pd.DataFrame | None = None,
    backbone: str = "efficientnet_lite0",
    depth: int | str = 4,
    factor: float = 3.0,
    only: Sequence[str] | None = None,
    predictions: str | os.PathLike | pd.DataFrame | None = None,
) -> list[Path]:
    """Write the lecture's figures as PNG files: every record of :data:`LECTURE_FIGURES`.

    Always: parameter counts of the lecture's networks (``parameter_counts.png``), which blocks
    train in each strategy (``trainable_map.png``), the learning rate per block under
    differential rates (``learning_rates.png``), what using VGG16, Lite0 and the small CNN
    costs (``deployment_networks.png``, measured on this machine: about 10 s) and the
    crossover measured near and far from ImageNet (``crossover.png``, from
    :func:`~tlcourse.plots.crossover.measured_crossover`). With ``results`` and
    ``predictions`` (from :func:`tlcourse.compare`): what :func:`write_figures` writes.

    Args:
        out: folder for the PNG files (created if missing).
        results: a results DataFrame or the path of a ``results.csv``; None skips the figures
            drawn from results. Defaults to None.
        backbone: network drawn in the trainable map and learning-rate figure (built with
            random weights: only the structure matters). Defaults to ``"efficientnet_lite0"``.
        depth: blocks unfrozen for fine-tuning in those figures (an int >= 0 or ``"all"``).
            Defaults to 4.
        factor: ratio between consecutive blocks' learning rates (> 0). Defaults to 3.0.
        only: file names of the figures to write (see :data:`LECTURE_FIGURES`), e.g.
            ``["trainable_map.png"]``. Defaults to None (all that apply).
        predictions: the predictions table or the path of a ``predictions.csv``, for the
            confusion matrices and the gallery; None skips them. Defaults to None.

    Returns:
        The paths written, in the order of :data:`LECTURE_FIGURES`.

    Raises:
        InvalidParameterError: a bad argument, e.g. a ``results`` file that does not exist or a
            ``depth`` beyond the backbone's blocks.

    Example:
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> paths = lecture_figures(out, backbone="vgg16", depth=2, only=["trainable_map.png"])
        >>> [p.name for p in paths]
        ['trainable_map.png']
    """
    from tlcourse.backbones import backbone_blocks, get_spec, list_backbones, load_backbone

    func = "lecture_figures"
    out = _check_out(out, func)
    results = _read_results(results, func)
    if results is not None:
        check_frame(results, ("strategy", "train_per_class"), func, "results")
    predictions = _check_predictions(predictions, func)
    check_choice("backbone", backbone, list(list_backbones().index), func)
    depth = check_int("depth", depth, func, low=0, extra=["all"])
    factor = check_real("factor", factor, func, low=0, low_open=True)
    names = [f.file_name for f in LECTURE_FIGURES]
    if only is not None:
        if isinstance(only, str) or not isinstance(only, Sequence) or not only:
            raise invalid_parameter("only", func, f"None or a non-empty list from {names}", only)
        only = {check_choice("only", name, names, func) for name in only}
    if depth != "all":
        side = max(96, get_spec(backbone).min_input_size)  # small: only the blocks are counted
        base = load_backbone(backbone, weights=None, input_shape=(side, side, 3))
        blocks = len(backbone_blocks(base))
        check_int("depth", depth, func, low=0, high=blocks, extra=["all"])
    setup = LectureSetup(backbone=backbone, depth=depth, factor=factor)
    chosen = [
        f
        for f in _chosen(LECTURE_FIGURES, results, predictions, with_others=True)
        if only is None or f.file_name in only
    ]
    return _write(chosen, results, predictions, setup, out)
