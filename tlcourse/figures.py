"""``tlcourse figures``: reproduce the lecture's figures as PNG files."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from tlcourse.errors import InvalidParameterError


def _lecture_classifier(backbone: str, depth: int, factor: float):
    """The fine-tuning set-up the lecture draws: last ``depth`` blocks + head, factor per block."""
    from tlcourse.freezing import set_trainable
    from tlcourse.models import transfer_classifier
    from tlcourse.optimizers import layerwise_optimizer

    model = transfer_classifier(backbone, 6, image_size=96, weights=None)
    set_trainable(model, depth)
    model.compile(layerwise_optimizer(model, 1e-3, factor=factor), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def lecture_figures(
    out: str | os.PathLike,
    results: str | os.PathLike | None = None,
    backbone: str = "efficientnet_lite0",
    depth: int = 4,
    factor: float = 3.0,
) -> list[Path]:
    """Write the lecture's figures as PNG files.

    Always: parameter counts of the lecture's networks (``parameter_counts.png``), which blocks
    train in each strategy (``trainable_map.png``) and the learning rate per block under
    differential rates (``learning_rates.png``). With ``results`` (a ``results.csv`` from
    :func:`tlcourse.compare`): accuracy/time/CO2 per strategy, learning curves and, when it holds
    several training-set sizes, accuracy against data size.

    Args:
        out: folder for the PNG files (created if missing).
        results: path of a ``results.csv``; None skips the comparison figures.
        backbone: network drawn in the trainable map and learning-rate figure. Default
            ``"efficientnet_lite0"`` (built with random weights: only the structure matters).
        depth: blocks unfrozen for fine-tuning in those figures. Default 4.
        factor: ratio between consecutive blocks' learning rates. Default 3.0.

    Returns:
        The paths written.

    Raises:
        InvalidParameterError: ``results`` does not exist.

    Example:
        >>> paths = lecture_figures("/tmp/figures")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    from tlcourse import plots
    from tlcourse.comparison import write_figures
    from tlcourse.optimizers import learning_rates

    out = Path(out)
    if results is not None and not Path(results).is_file():
        raise InvalidParameterError(
            f"The results file {str(results)!r} does not exist. Run `tlcourse compare --out DIR` "
            "first and pass DIR/results.csv."
        )
    model = _lecture_classifier(backbone, depth, factor)
    figures = {
        "parameter_counts.png": plots.plot_parameter_counts(),
        "trainable_map.png": plots.plot_trainable_map(
            backbone,
            {"scratch": "all", "feature_extraction": 0, "fine_tuning": depth},
            num_classes=6,
        ),
        "learning_rates.png": plots.plot_learning_rates(learning_rates(model)),
    }
    paths = []
    for name, figure in figures.items():
        paths.append(out / name)
        plots.save_figure(figure, paths[-1])
        plt.close(figure)
    if results is not None:
        paths += write_figures(pd.read_csv(results), out)
    return paths
