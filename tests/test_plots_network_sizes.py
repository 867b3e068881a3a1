"""The parameter-count figure (the counting itself is tested in test_models.py)."""

import pandas as pd
import pytest
from plots_data import refused_without

from tlcourse.errors import InvalidParameterError
from tlcourse.models.classifiers import parameter_counts
from tlcourse.plots import plot_parameter_counts


def test_parameter_counts_figure_from_a_table():
    counts = parameter_counts(["mobilenet_v2", "efficientnet_lite0"], with_head_classes=None)
    fig = plot_parameter_counts(counts=counts)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "parameters (millions)" and ax.get_title()
    assert len(ax.patches) == 2
    assert [t.get_text() for t in ax.get_yticklabels()] == ["mobilenet_v2", "efficientnet_lite0"]
    assert any(t.get_text().endswith(" M") for t in ax.texts)
    assert plot_parameter_counts(counts=counts, log_x=True).axes[0].get_xscale() == "log"


def test_parameter_counts_figure_checks_its_own_arguments():
    with pytest.raises(InvalidParameterError, match="'names' parameter of plot_parameter_counts"):
        plot_parameter_counts(["vgg"])
    with pytest.raises(InvalidParameterError, match="'with_head_classes' parameter of plot_param"):
        plot_parameter_counts(["vgg16"], with_head_classes=0)
    refused_without(
        lambda counts: plot_parameter_counts(counts=counts),
        pd.DataFrame({"name": ["vgg16"], "parameters": [1]}),
        "parameters",
    )
