"""The lecture's figures: strategies compared, learning curves, data efficiency, the crossover,
what trains.

One module per figure, each with one ``plot_*`` function that returns a
:class:`matplotlib.figure.Figure` and never calls ``plt.show()``: a notebook displays the
returned figure, the CLI writes it with :func:`save_figure`. What the figures share (slide-size
text, the spread rule, colours, saving) is in :mod:`tlcourse.plots.style`; the list of the
lecture's figures, written by ``tlcourse figures`` and ``tlcourse compare``, in
:mod:`tlcourse.plots.lecture`. Strategy names, labels and colours come from the strategy
registry (:mod:`tlcourse.strategies`), so a strategy registered at run time appears in every
figure.
"""

from tlcourse.plots.comparison import plot_comparison
from tlcourse.plots.confusion import plot_confusion
from tlcourse.plots.crossover import crossover_table, measured_crossover, plot_crossover
from tlcourse.plots.data_efficiency import plot_data_efficiency
from tlcourse.plots.deployment import plot_deployment
from tlcourse.plots.gallery import plot_gallery
from tlcourse.plots.grad_cam import plot_grad_cam
from tlcourse.plots.learning_curves import plot_learning_curves
from tlcourse.plots.learning_rates import plot_learning_rates
from tlcourse.plots.lecture import (
    LECTURE_FIGURES,
    LectureFigure,
    LectureSetup,
    lecture_figures,
    write_figures,
)
from tlcourse.plots.lr_find import plot_lr_find
from tlcourse.plots.network_sizes import plot_parameter_counts
from tlcourse.plots.style import STRATEGY_COLORS, STRATEGY_LABELS, save_figure
from tlcourse.plots.trainable_map import plot_trainable_map

__all__ = [
    "LECTURE_FIGURES",
    "STRATEGY_COLORS",
    "STRATEGY_LABELS",
    "LectureFigure",
    "LectureSetup",
    "crossover_table",
    "lecture_figures",
    "measured_crossover",
    "plot_comparison",
    "plot_confusion",
    "plot_crossover",
    "plot_data_efficiency",
    "plot_deployment",
    "plot_gallery",
    "plot_grad_cam",
    "plot_learning_curves",
    "plot_learning_rates",
    "plot_lr_find",
    "plot_parameter_counts",
    "plot_trainable_map",
    "save_figure",
    "write_figures",
]
