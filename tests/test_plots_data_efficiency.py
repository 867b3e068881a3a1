"""Data efficiency: one line per strategy over training sizes, the gain of transfer marked."""

import pytest
from matplotlib import pyplot as plt
from matplotlib.colors import to_hex
from plots_data import STRATEGIES, labelled, linear_probe, make_results, with_strategy

from tlcourse.comparison.strategies import strategy_color
from tlcourse.errors import InvalidParameterError
from tlcourse.plots import plot_data_efficiency


@pytest.fixture(scope="module")
def results():
    return make_results()


def test_data_efficiency_one_line_per_strategy_on_log_sizes(results):
    fig = plot_data_efficiency(results)
    (ax,) = fig.axes
    assert labelled(ax) and "log" in ax.get_xlabel()
    assert ax.get_xscale() == "log"
    lines = ax.get_lines()
    assert len(lines) == len(STRATEGIES)
    for line, strategy in zip(lines, STRATEGIES, strict=True):
        assert to_hex(line.get_color()) == strategy_color(strategy).lower()
        assert list(line.get_xdata()) == [5, 20, 30]  # full data: 90 / 3 classes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5", "20", "30\n(full)"]
    assert any("points" in t.get_text() for t in ax.texts)  # the transfer-vs-scratch gap
    assert "From scratch (n=3)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert plot_data_efficiency(results, log_x=False).axes[0].get_xscale() == "linear"


def test_full_data_stored_as_all_is_the_full_training_set(results):
    runs = results.astype({"train_per_class": object})
    runs.loc[runs["train_per_class"].isna(), "train_per_class"] = "all"
    ax = plot_data_efficiency(runs).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5", "20", "30\n(full)"]


def test_a_registered_strategy_is_a_line_with_its_label_and_colour(results):
    with linear_probe() as probe:
        ax = plot_data_efficiency(with_strategy(results, "linear_probe")).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[2] == "Linear probe (n=3)"
    assert to_hex(ax.get_lines()[2].get_color()) == probe.color.lower()
    # It trains the backbone: a transfer strategy, the gain is still measured from scratch.
    assert any(t.get_text().startswith("+") for t in ax.texts)


def test_data_efficiency_needs_sizes_and_takes_an_axes(results):
    with pytest.raises(InvalidParameterError, match="train_per_class"):
        plot_data_efficiency(make_results(seeds=1, sizes=(None,)))
    with pytest.raises(InvalidParameterError, match="'log_x' parameter of plot_data_efficiency"):
        plot_data_efficiency(results, log_x="yes")
    fig, ax = plt.subplots()
    assert plot_data_efficiency(results, ax=ax) is fig
    assert ax.get_xlabel()
    plt.close(fig)
    with pytest.raises(InvalidParameterError, match="'ax'"):
        plot_data_efficiency(results, ax="left")
