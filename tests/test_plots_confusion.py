"""Confusion matrices per strategy, seeds pooled, from a predictions table."""

import numpy as np
import pytest
from plots_data import make_predictions

from tlcourse.comparison.error_analysis import prediction_table
from tlcourse.errors import InvalidParameterError
from tlcourse.plots import plot_confusion


def test_one_matrix_per_strategy_in_registry_order_counts_pooled():
    predictions = make_predictions(seeds=3)
    fig = plot_confusion(predictions)
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title().split(":")[0] for ax in panels] == [
        "From scratch", "Feature extraction", "Fine-tuning",
    ]  # fmt: skip
    assert panels[0].get_title() == "From scratch: 50% right\n(3 seeds, 36 predictions)"
    shares = panels[0].images[0].get_array()
    np.testing.assert_allclose(shares[0], [0.5, 0.5, 0])  # row share: the recall per class
    assert {t.get_text() for t in panels[0].texts} == {"6"}  # counts over the 3 seeds
    assert "seeds pooled" in fig._suptitle.get_text()
    fig.draw_without_rendering()
    for ax in panels:  # nothing cut at the bottom: the class names and the label fit
        assert ax.xaxis.label.get_window_extent().y0 >= 0


def test_a_models_own_predictions_and_a_subset_of_strategies():
    table = prediction_table([0, 1, 2], [0, 2, 2], ["cat", "dog", "fox"])
    fig = plot_confusion(table)
    assert fig._suptitle.get_text() == "Confusion matrix"
    assert fig.axes[0].get_title() == "model: 67% right\n(1 seed, 3 predictions)"
    two = plot_confusion(make_predictions(), strategies=["fine_tuning", "scratch"])
    assert [ax.get_title().split(":")[0] for ax in two.axes if ax.images] == [
        "Fine-tuning", "From scratch",
    ]  # fmt: skip
    with pytest.raises(InvalidParameterError, match="'strategies' parameter of plot_confusion"):
        plot_confusion(make_predictions(), strategies=["fine_tune"])
    with pytest.raises(InvalidParameterError, match="'figsize' parameter of plot_confusion"):
        plot_confusion(table, figsize=(0, 1))
