"""The lecture's figures: each ``plot_*`` function returns a :class:`matplotlib.figure.Figure`
that a notebook displays and :func:`save_figure` writes (never ``plt.show()``)."""

from tlcourse.plots.comparison import plot_comparison, plot_deployment
from tlcourse.plots.data_efficiency import (
    crossover_table,
    measured_crossover,
    plot_crossover,
    plot_data_efficiency,
)
from tlcourse.plots.learning_curves import plot_learning_curves
from tlcourse.plots.lecture import (
    LECTURE_FIGURES,
    LectureFigure,
    LectureSetup,
    lecture_figures,
    write_figures,
)
from tlcourse.plots.mistakes import plot_confusion, plot_gallery, plot_grad_cam
from tlcourse.plots.style import save_figure
from tlcourse.plots.training import (
    plot_learning_rates,
    plot_lr_find,
    plot_parameter_counts,
    plot_trainable_map,
)

__all__ = ["LECTURE_FIGURES", "LectureFigure", "LectureSetup", "crossover_table",
           "lecture_figures", "measured_crossover", "plot_comparison", "plot_confusion",
           "plot_crossover", "plot_data_efficiency", "plot_deployment", "plot_gallery",
           "plot_grad_cam", "plot_learning_curves", "plot_learning_rates", "plot_lr_find",
           "plot_parameter_counts", "plot_trainable_map", "save_figure",
           "write_figures"]  # fmt: skip
