"""The lecture's figures: one list, written by ``tlcourse figures`` and ``tlcourse compare``.

Adding a figure is one plot function, one record in :data:`LECTURE_FIGURES`, and its test."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from tlcourse.errors import InvalidParameterError, invalid_parameter
from tlcourse.models.backbones.registry import BACKBONE
from tlcourse.plots import style
from tlcourse.plots.comparison import has_deployment_columns, plot_comparison, plot_deployment
from tlcourse.plots.data_efficiency import plot_crossover, plot_data_efficiency
from tlcourse.plots.learning_curves import plot_learning_curves
from tlcourse.plots.mistakes import PREDICTIONS, gallery_applies, plot_confusion, plot_gallery
from tlcourse.plots.training import plot_learning_rates, plot_parameter_counts, plot_trainable_map
from tlcourse.validation import Interval, Rule, StrOptions, frame_with, validate_params

__all__ = ["LECTURE_FIGURES", "LectureFigure", "LectureSetup", "lecture_figures", "write_figures"]


@dataclass(frozen=True)
class LectureSetup:
    """What the figures that need no results draw: the network (random weights), the blocks
    unfrozen, the ratio of consecutive blocks' rates, the classes."""

    backbone: str = "efficientnet_lite0"
    depth: int | str = 4
    factor: float = 3.0
    num_classes: int = 6


@dataclass(frozen=True)
class LectureFigure:
    """One of the lecture's figures: ``build(table, setup)`` draws it from the results, the
    predictions (``needs_predictions``) or None (not ``needs_results``) when ``applies(table)``."""

    file_name: str
    build: Callable[[pd.DataFrame | None, LectureSetup], Figure]
    needs_results: bool
    applies: Callable[[pd.DataFrame], bool] = lambda results: True
    description: str = ""
    needs_predictions: bool = False


def _learning_rates(results, setup: LectureSetup) -> Figure:
    from tlcourse.models.classifiers import transfer_classifier
    from tlcourse.transfer.freezing import set_trainable
    from tlcourse.transfer.optimizers import layerwise_optimizer, learning_rates

    model = transfer_classifier(setup.backbone, setup.num_classes, image_size=96, weights=None)
    set_trainable(model, setup.depth)
    model.compile(layerwise_optimizer(model, 1e-3, factor=setup.factor), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return plot_learning_rates(learning_rates(model))


def _deployment_networks(results, setup: LectureSetup) -> Figure:
    from tlcourse.measure.deployment import deployment_table

    # Short measurements: the figure compares orders of magnitude (VGG16 against a small CNN).
    return plot_deployment(deployment_table(num_classes=setup.num_classes, repeats=10, seconds=1.0))


def _trainable_map(results, setup: LectureSetup) -> Figure:
    depths = {"scratch": "all", "feature_extraction": 0, "fine_tuning": setup.depth}
    return plot_trainable_map(setup.backbone, depths, num_classes=setup.num_classes)


LECTURE_FIGURES: tuple[LectureFigure, ...] = (
    LectureFigure("parameter_counts.png", lambda results, setup: plot_parameter_counts(), False,
                  description="parameters of the lecture's networks, VGG16 to EfficientNet-Lite0"),
    LectureFigure("trainable_map.png", _trainable_map, False,
                  description="which blocks train in each strategy"),
    LectureFigure("learning_rates.png", _learning_rates, False,
                  description="the learning rate per block under differential rates"),
    LectureFigure("deployment_networks.png", _deployment_networks, False,
                  description="size, CPU latency and CO2 per 1,000 predictions: VGG16, Lite0, "
                  "small CNN"),
    LectureFigure("comparison.png", lambda results, setup: plot_comparison(results), True,
                  description="test accuracy, time and CO2 per strategy"),
    LectureFigure("learning_curves.png", lambda results, setup: plot_learning_curves(results),
                  True, description="accuracy and loss per epoch, fine-tuning start marked"),
    LectureFigure("data_efficiency.png", lambda results, setup: plot_data_efficiency(results),
                  True, style.several_sizes, "accuracy against training images per class"),
    LectureFigure("deployment.png", lambda results, setup: plot_deployment(results), True,
                  has_deployment_columns, "size, CPU latency and CO2 per 1,000 predictions of "
                  "each strategy's model"),
    LectureFigure("confusion.png", lambda predictions, setup: plot_confusion(predictions), True,
                  description="confusion matrix per strategy, seeds pooled",
                  needs_predictions=True),
    LectureFigure("gallery.png", lambda predictions, setup: plot_gallery(predictions), True,
                  gallery_applies, "test photos from scratch gets wrong and transfer learning "
                  "gets right", needs_predictions=True),
    LectureFigure("crossover.png", lambda results, setup: plot_crossover(), False,
                  description="accuracy against images per class, near and far from ImageNet "
                  "(measured)"))  # fmt: skip


def _csv(name: str, frame: Rule) -> Rule:
    """The path of a ``name`` that ``tlcourse compare`` wrote, read into its table."""

    def read(path) -> pd.DataFrame:
        from tlcourse.comparison import read_predictions, read_results

        table = (read_predictions if name == "predictions.csv" else read_results)(path)
        if not frame.accepts(table):
            raise InvalidParameterError(f"{path} is not a {name}: {frame} expected, it has the "
                                        f"columns {list(table.columns)}.")  # fmt: skip
        return table

    return Rule(lambda v: style.PATH.accepts(v) and Path(v).expanduser().is_file(),
                f"the path of an existing {name}", read, hint=lambda v: "That file does not "
                f"exist: run `tlcourse compare --out DIR` first and pass DIR/{name}."
                if style.PATH.accepts(v) else "")  # fmt: skip


_RESULTS = frame_with("strategy", "train_per_class")
_COMPARED = {"results": [_RESULTS, _csv("results.csv", _RESULTS)],
             "predictions": [None, PREDICTIONS, _csv("predictions.csv", PREDICTIONS)],
             "out": [style.PATH]}  # fmt: skip


def _write(results, predictions, setup: LectureSetup, out, others: bool, only=None) -> list:
    """Save the figures whose table is there and applies (with ``others``: those needing none)."""
    paths = []
    for figure in LECTURE_FIGURES:
        table = predictions if figure.needs_predictions else results
        if figure.needs_results and (table is None or not figure.applies(table)):
            continue
        if (figure.needs_results or others) and (only is None or figure.file_name in only):
            built = figure.build(table if figure.needs_results else None, setup)
            paths.append(style.save_figure(built, Path(out).expanduser() / figure.file_name))
    return paths


@validate_params(_COMPARED)
def write_figures(results: pd.DataFrame | str | os.PathLike, out: str | os.PathLike,
                  predictions: pd.DataFrame | str | os.PathLike | None = None,
                  ) -> list[Path]:  # fmt: skip
    """Save the figures of a comparison's results (and ``predictions``) as PNG files in ``out``."""
    return _write(results, predictions, LectureSetup(), out, others=False)


# Read at call time: a test may add a figure.
_FILES = style.each(StrOptions(lambda: [f.file_name for f in LECTURE_FIGURES]),
                    "a non-empty list of figure files")  # fmt: skip


@validate_params({**_COMPARED, "results": [None, *_COMPARED["results"]], "backbone": [BACKBONE],
                  "depth": [Interval(int, 0, None), StrOptions({"all"})],
                  "factor": [Interval(Real, 0, None, closed="neither")],
                  "only": [None, _FILES]})  # fmt: skip
def lecture_figures(out: str | os.PathLike, results: pd.DataFrame | str | os.PathLike | None = None,
                    backbone: str = "efficientnet_lite0", depth: int | str = 4, factor: float = 3.0,
                    only: Sequence[str] | None = None,
                    predictions: pd.DataFrame | str | os.PathLike | None = None,
                    ) -> list[Path]:  # fmt: skip
    """Write the lecture's figures (or ``only`` those files) in ``out``: the networks' figures
    for ``backbone`` with ``depth`` blocks unfrozen and rates ``factor`` apart, and with
    ``results``, what :func:`write_figures` writes.

    Example:
        >>> import tempfile
        >>> [p.name for p in lecture_figures(tempfile.mkdtemp(), only=["crossover.png"])]
        ['crossover.png']
    """
    from tlcourse.models.backbones import backbone_blocks, get_spec, load_backbone

    if depth != "all":  # checked before anything is drawn
        side = max(96, get_spec(backbone).min_input_size)
        blocks = len(backbone_blocks(load_backbone(backbone, weights=None,
                                                   input_shape=(side, side, 3))))  # fmt: skip
        if depth > blocks:
            rule = f"an int in the range [0, {blocks}] or 'all'"
            raise invalid_parameter("depth", "lecture_figures", rule, depth)
    setup = LectureSetup(backbone=backbone, depth=depth, factor=factor)
    return _write(results, predictions, setup, out, others=True, only=only)
