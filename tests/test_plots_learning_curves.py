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

from tlcourse.comparison.strategies import strategy_color
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


def continuing_results() -> pd.DataFrame:
    """As the comparison writes them: fine-tuning's history starts with feature extraction's
    (its head phase is the same run), then goes on for 3 epochs."""
    results = make_results(seeds=2, sizes=(None,))
    head = results[results["strategy"] == "feature_extraction"].set_index("seed")["history"]

    def history(row):
        if not row["strategy"].startswith("fine_tuning"):
            return row["history"]
        shared = json.loads(head[row["seed"]])
        step = 0.02 if row["strategy"] == "fine_tuning" else 0.03
        return json.dumps({k: v + [v[-1] + step * i for i in (1, 2, 3)] for k, v in shared.items()})

    return results.assign(
        history=results.apply(history, axis=1),
        fine_tune_start=results["strategy"].map(
            lambda s: EPOCHS if s.startswith("fine_tuning") else np.nan
        ),
    )


def test_every_strategy_in_the_legend_is_visible_when_fine_tuning_continues_a_run():
    # Regression (issue 12): the fine-tuning curves repeat the feature-extraction curve over
    # their head epochs and were drawn on top of it, so the legend named a strategy that the
    # plot hid entirely.
    fig = plot_learning_curves(continuing_results())
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "Feature extraction" in legend
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 1]
        for i, line in enumerate(lines):
            points = set(zip(line.get_xdata(), np.round(line.get_ydata(), 9), strict=True))
            above = set()
            for later in lines[i + 1 :]:
                above |= set(zip(later.get_xdata(), np.round(later.get_ydata(), 9), strict=True))
            assert points - above, f"line {i} ({to_hex(line.get_color())}) is hidden"
    # Fine-tuning is drawn from the last head epoch on, joined to the shared curve.
    fine_tuning = to_hex(strategy_color("fine_tuning"))
    starts = {
        line.get_xdata()[0]
        for line in fig.axes[0].get_lines()
        if to_hex(line.get_color()) == fine_tuning and len(line.get_xdata()) > 1
    }
    assert starts == {EPOCHS}
    assert "continue the Feature extraction curve" in fig._suptitle.get_text()


def test_two_variants_equal_all_along_still_continue_the_shared_run():
    # Regression: the training accuracy of both fine-tuning variants reaches 100% in the same
    # epochs, so one variant's curve equalled the other's over its whole length; it was then
    # drawn whole, from epoch 1, over the feature-extraction curve.
    results = continuing_results()
    both = results["strategy"].str.startswith("fine_tuning")
    same = results[results["strategy"] == "fine_tuning"].set_index("seed")["history"]
    results.loc[both, "history"] = results.loc[both, "seed"].map(same).to_numpy()
    fig = plot_learning_curves(results)
    for strategy in ("fine_tuning", "fine_tuning_dlr"):
        colour = to_hex(strategy_color(strategy))
        starts = {line.get_xdata()[0] for ax in fig.axes for line in ax.get_lines()
                  if to_hex(line.get_color()) == colour and len(line.get_xdata()) > 1}  # fmt: skip
        assert starts == {EPOCHS}, (strategy, starts)


def test_curves_that_only_look_alike_are_drawn_whole(results):
    fig = plot_learning_curves(results)  # every strategy has its own numbers from epoch 1
    assert all(line.get_xdata()[0] == 1 for line in fig.axes[0].get_lines()
               if len(line.get_xdata()) > 2)  # fmt: skip
    assert "continue" not in fig._suptitle.get_text()
