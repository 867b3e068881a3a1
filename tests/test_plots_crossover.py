"""The crossover figure: one data-efficiency panel per dataset, and the shipped measurement."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from plots_data import labelled, make_results, refused_without

from tlcourse.comparison.strategies import strategy_color
from tlcourse.errors import DatasetError, InvalidParameterError
from tlcourse.plots import (
    LECTURE_FIGURES,
    crossover_table,
    lecture_figures,
    measured_crossover,
    plot_crossover,
)
from tlcourse.plots.data_efficiency import MEASURED_CROSSOVER

THREE = {"scratch": 0.4, "feature_extraction": 0.8, "fine_tuning": 0.85}


def _two_datasets() -> pd.DataFrame:
    """Near: transfer far ahead everywhere. Far: scratch catches feature extraction at 100."""
    near = make_results(sizes=(2, 4, None), accuracy=THREE)
    far = make_results(sizes=(10, 100), accuracy={**THREE, "scratch": 0.9})
    far = far.assign(dataset="fashion_mnist")
    # make_results: scratch is 0.3 short below the full size: at 10 scratch is behind (0.6 vs
    # 0.75); at 100 too: make it catch up there.
    catch = (far["strategy"] == "scratch") & (far["train_per_class"] == 100)
    far.loc[catch, "test_accuracy"] = 0.8
    return pd.concat([near, far], ignore_index=True)


@pytest.fixture(scope="module")
def results():
    return _two_datasets()


def test_one_panel_per_dataset_on_one_y_axis(results):
    fig = plot_crossover(results)
    near, far = fig.axes
    assert labelled(near) and far.get_xlabel() and fig.get_suptitle()
    assert "near ImageNet" in near.get_title() and "far from ImageNet" in far.get_title()
    assert near.get_shared_y_axes().joined(near, far)
    for ax in (near, far):
        assert ax.get_xscale() == "log"
        colours = [to_hex(line.get_color()) for line in ax.get_lines()[:3]]
        assert colours == [strategy_color(s).lower() for s in THREE]
    assert near.get_legend() is not None and far.get_legend() is None
    assert [t.get_text() for t in far.get_xticklabels()] == ["10", "100"]


def test_the_crossover_is_marked_where_scratch_reaches_feature_extraction(results):
    near, far = plot_crossover(results).axes
    dotted = [line.get_xdata()[0] for line in far.get_lines() if line.get_linestyle() == ":"]
    assert dotted == [100]
    assert any("catches up" in t.get_text() for t in far.texts)
    assert not any(line.get_linestyle() == ":" for line in near.get_lines())
    assert not any("catches up" in t.get_text() for t in near.texts)


def test_the_gain_left_at_the_largest_size_is_written(results):
    near, far = plot_crossover(results).axes
    # Near: at the full size transfer (0.85) is 45 points above scratch (0.4).
    assert any(t.get_text() == "+45 points" for t in near.texts)
    # Far: the best transfer strategy's mean minus scratch's, at 100 images per class.
    at_100 = results[(results["dataset"] == "fashion_mnist") & (results["train_per_class"] == 100)]
    means = at_100.groupby("strategy")["test_accuracy"].mean() * 100
    gain = means.drop("scratch").max() - means["scratch"]
    assert any(t.get_text().startswith(f"+{gain:.0f} point") for t in far.texts)
    # Where scratch is ahead at the largest size, no gain is claimed.
    ahead = results.copy()
    ahead.loc[ahead["strategy"] == "scratch", "test_accuracy"] = 0.99
    near, _ = plot_crossover(ahead).axes
    assert not any(t.get_text().endswith(("point", "points")) for t in near.texts)


def test_datasets_chooses_and_orders_the_panels(results):
    fig = plot_crossover(results, datasets=["fashion_mnist", "photos"], log_x=False)
    assert "Fashion-MNIST" in fig.axes[0].get_title()
    assert fig.axes[0].get_xscale() == "linear"
    assert len(plot_crossover(results, datasets=["photos"]).axes) == 1
    unknown = results.assign(dataset=results["dataset"].replace("photos", "my_photos"))
    assert plot_crossover(unknown).axes[0].get_title() == "my_photos"


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"datasets": ["flowers"]}, r"'datasets' parameter of plot_crossover.*\['flowers'\]"),
        ({"datasets": "photos"}, r"'datasets' parameter of plot_crossover must be None, a list"),
        ({"log_x": 1}, r"'log_x' parameter of plot_crossover"),
        ({"figsize": (0, 3)}, r"'figsize' parameter of plot_crossover"),
    ],
)
def test_bad_arguments_name_plot_crossover(results, kwargs, pattern):
    with pytest.raises(InvalidParameterError, match=pattern):
        plot_crossover(results, **kwargs)


def test_tables_without_sizes_or_columns_are_refused(results):
    with pytest.raises(InvalidParameterError, match="needs several training-set sizes"):
        plot_crossover(make_results(seeds=1, sizes=(None,)))
    refused_without(crossover_table, results, "dataset")


def test_crossover_table_means_and_spread_per_dataset_size_and_strategy(results):
    table = crossover_table(results)
    assert table[("dataset", "")].tolist() == ["fashion_mnist"] * 2 + ["photos"] * 3
    assert table[("train_per_class", "")].tolist() == [10, 100, 2, 4, "all"]
    assert [c[0] for c in table.columns[2:-1:2]] == list(THREE)
    assert (table[("runs", "")] == 3).all()
    far_100 = results[(results["dataset"] == "fashion_mnist") & (results["train_per_class"] == 100)]
    scratch = far_100.loc[far_100["strategy"] == "scratch", "test_accuracy"]
    assert table.loc[1, ("scratch", "mean")] == pytest.approx(scratch.mean())
    assert table.loc[1, ("scratch", "std")] == pytest.approx(scratch.std())


# --- the shipped measurement and the lecture record -------------------------------------------


def test_the_shipped_measurement_covers_both_datasets_and_three_strategies():
    measured = measured_crossover()
    assert set(measured["dataset"]) == {"photos", "fashion_mnist"}
    assert {"scratch", "feature_extraction", "fine_tuning"} <= set(measured["strategy"])
    assert "history" not in measured.columns
    for _, runs in measured.groupby("dataset"):
        assert runs["train_per_class"].nunique(dropna=False) >= 3
        assert (
            runs.groupby(["strategy", "train_per_class"], dropna=False)["seed"].nunique().min() >= 3
        )
    table = crossover_table(measured)
    assert np.isfinite(table[("scratch", "mean")]).all()


def test_the_record_draws_the_shipped_measurement_without_results(tmp_path):
    (record,) = [f for f in LECTURE_FIGURES if f.file_name == "crossover.png"]
    assert not record.needs_results and record.description
    paths = lecture_figures(tmp_path, only=["crossover.png"])
    assert [p.name for p in paths] == ["crossover.png"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"


def test_a_missing_measurement_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match=f"{MEASURED_CROSSOVER}.*commands of the README"):
        plot_crossover()
