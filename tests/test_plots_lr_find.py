"""The learning-rate finder figure."""

import numpy as np
import pandas as pd
import pytest
from plots_data import labelled, vertical_dashed_lines

from tlcourse.errors import InvalidParameterError
from tlcourse.plots import plot_lr_find


def test_lr_find_log_x_with_suggestion_marked():
    lr = np.logspace(-6, 0, 50)
    loss = 2.3 - np.tanh(np.log10(lr) + 4) + np.where(lr > 0.05, 50.0, 0.0)
    table = pd.DataFrame({"lr": lr, "loss": loss, "smoothed_loss": loss})
    ax = plot_lr_find(table, suggestion=3e-4).axes[0]
    assert labelled(ax) and ax.get_xscale() == "log"
    assert vertical_dashed_lines(ax) == [3e-4]
    assert ax.get_ylim()[1] < 10  # the diverged tail does not flatten the curve
    assert vertical_dashed_lines(plot_lr_find(table, suggestion=np.float32(1e-3)).axes[0])
    with pytest.raises(InvalidParameterError, match="suggestion"):
        plot_lr_find(table, suggestion=-1)


def test_lr_find_needs_a_finite_loss():
    table = pd.DataFrame({"lr": [1e-4, 1e-3], "loss": [np.nan] * 2, "smoothed_loss": [np.inf] * 2})
    with pytest.raises(InvalidParameterError, match="no row with a finite loss"):
        plot_lr_find(table)
