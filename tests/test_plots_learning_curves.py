"""Learning curves: per strategy, bands over seeds, the fine-tuning line, the inputs taken."""

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from plots_data import (
    EPOCHS,
    FINE_TUNE_START,
    STRATEGIES,
    labelled,
    linear_probe,
    make_results,
    vertical_dashed_lines,
    with_strategy,
)

from tlcourse.errors import InvalidParameterError
from tlcourse.plots import plot_learning_curves


@pytest.fixture(scope="module")
def results():
    return make_results()


def test_learning_curves_per_strategy_with_fine_tuning_line_at_its_epoch(results):
    fig = plot_learning_curves(results)
    accuracy, loss = fig.axes
    for ax in (accuracy, loss):
        assert labelled(ax)
        assert vertical_dashed_lines(ax) == [FINE_TUNE_START]
        assert any(t.get_text() == "fine-tuning starts" for t in ax.texts)
        curves = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]
        assert len(curves) == 2 * len(STRATEGIES)  # training and validation per strategy
        assert len(ax.collections) == 2 * len(STRATEGIES)  # one band each: 3 seeds
    assert accuracy.get_ylabel() == "accuracy (%)"
    val = [line for line in accuracy.get_lines() if line.get_linestyle() == "-"][0]
    np.testing.assert_array_equal(val.get_xdata(), np.arange(1, EPOCHS + 1))
    assert max(val.get_ydata()) > 1  # percent


def test_learning_curves_of_one_history_dict_json_or_keras_history():
    history = json.loads(make_results(seeds=1, sizes=(None,))["history"].iloc[0])

    class History:  # what model.fit returns, reduced to what is used
        def __init__(self, history):
            self.history = history

    for given in (history, json.dumps(history), History(history)):
        fig = plot_learning_curves(given, fine_tune_start=2, label="fine_tuning")
        assert vertical_dashed_lines(fig.axes[0]) == [2]
        assert len(fig.axes[0].get_lines()) == 3  # training, validation, the line
        assert len(fig.axes[0].collections) == 0  # one run: no band
    without = plot_learning_curves(history)
    assert vertical_dashed_lines(without.axes[0]) == []
    # numpy numbers are numbers (an epoch index read from a table, say)
    assert vertical_dashed_lines(plot_learning_curves(history, fine_tune_start=np.int64(2)).axes[0])


def test_a_registered_strategy_has_its_label_and_colour_in_the_legend(results):
    with linear_probe() as probe:
        fig = plot_learning_curves(with_strategy(results, "linear_probe"))
    legend = {t.get_text(): h for t, h in zip(*_legend(fig), strict=True)}
    assert list(legend)[:5] == [
        "From scratch",
        "Feature extraction",
        "Linear probe",
        "Fine-tuning",
        "Fine-tuning (differential LRs)",
    ]
    assert to_hex(legend["Linear probe"].get_color()) == probe.color.lower()


def _legend(fig):
    legend = fig.legends[0]
    return legend.get_texts(), legend.legend_handles


def test_learning_curves_bad_history_metric_and_arguments_are_explained():
    with pytest.raises(InvalidParameterError, match="not valid JSON"):
        plot_learning_curves(pd.DataFrame({"strategy": ["scratch"], "history": ["{oops"]}))
    with pytest.raises(InvalidParameterError, match=r"\['loss', 'val_loss'\]"):
        plot_learning_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    with pytest.raises(InvalidParameterError, match="dict of per-epoch lists"):
        plot_learning_curves([0.1, 0.2])
    history = {"accuracy": [0.5, 0.6], "loss": [1.0, 0.8]}
    with pytest.raises(InvalidParameterError, match="'fine_tune_start' parameter"):
        plot_learning_curves(history, fine_tune_start="2")
    with pytest.raises(InvalidParameterError, match="'label' parameter"):
        plot_learning_curves(history, label=3)
