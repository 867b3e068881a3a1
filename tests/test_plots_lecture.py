"""The one list of the lecture's figures, written by `tlcourse figures` and `tlcourse compare`."""

import dataclasses

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from plots_data import linear_probe, make_predictions, make_results, with_strategy

from tlcourse.errors import InvalidParameterError
from tlcourse.plots import (
    LECTURE_FIGURES,
    LectureFigure,
    lecture,
    lecture_figures,
    plot_deployment,
    plot_parameter_counts,
    write_figures,
)

RESULTS_FIGURES = ["comparison.png", "learning_curves.png", "data_efficiency.png"]
DEPLOYMENT_FIGURE = "deployment.png"  # from results with deployment columns
PREDICTION_FIGURES = ["confusion.png", "gallery.png"]  # from the predictions table


def test_one_record_per_figure_file():
    names = [f.file_name for f in LECTURE_FIGURES]
    assert names == [
        "parameter_counts.png",
        "trainable_map.png",
        "learning_rates.png",
        "deployment_networks.png",
        *RESULTS_FIGURES,
        DEPLOYMENT_FIGURE,
        *PREDICTION_FIGURES,
        "crossover.png",
    ]
    assert [f.file_name for f in LECTURE_FIGURES if f.needs_results] == [
        *RESULTS_FIGURES,
        DEPLOYMENT_FIGURE,
        *PREDICTION_FIGURES,
    ]
    assert [f.file_name for f in LECTURE_FIGURES if f.needs_predictions] == PREDICTION_FIGURES
    assert all(f.description for f in LECTURE_FIGURES)


def with_deployment(results: pd.DataFrame) -> pd.DataFrame:
    scratch = results["strategy"] == "scratch"
    return results.assign(
        model_mb=np.where(scratch, 0.4, 13.7),
        latency_ms=np.where(scratch, 1.5, 9.0),
        co2_per_1000_predictions_kg=np.where(scratch, 2e-6, 1e-5),
    )


def test_write_figures_from_predictions_and_deployment_columns(tmp_path):
    results = with_deployment(make_results(seeds=2, sizes=(None,)))
    predictions = make_predictions(folder=tmp_path / "photos")
    paths = write_figures(results, tmp_path / "out", predictions=predictions)
    assert [p.name for p in paths] == [*RESULTS_FIGURES[:2], DEPLOYMENT_FIGURE, *PREDICTION_FIGURES]
    csv = tmp_path / "predictions.csv"
    predictions.drop(columns="file").to_csv(csv, index=False)  # no files: no gallery
    paths = write_figures(make_results(seeds=1, sizes=(None,)), tmp_path / "csv", predictions=csv)
    assert [p.name for p in paths] == [*RESULTS_FIGURES[:2], "confusion.png"]
    with pytest.raises(InvalidParameterError, match="'predictions' parameter of write_figures"):
        write_figures(results, tmp_path, predictions=tmp_path / "nope.csv")
    with pytest.raises(InvalidParameterError, match="'predictions' parameter of write_figures"):
        write_figures(results, tmp_path, predictions=results)


def test_write_figures_adds_data_efficiency_only_for_several_sizes(tmp_path):
    paths = write_figures(make_results(), tmp_path / "sweep")
    assert [p.name for p in paths] == RESULTS_FIGURES
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    single = write_figures(make_results(seeds=2, sizes=(None,)), tmp_path / "single")
    assert [p.name for p in single] == RESULTS_FIGURES[:2]


@pytest.mark.parametrize("stored", [[None, np.nan], ["all", np.nan], ["all", None]])
def test_full_data_stored_two_ways_is_not_a_size_sweep(tmp_path, stored):
    # Regression (issue 8, bug 6): rows read back from results.csv and rows computed now stored
    # "all data" differently; write_figures took it for a sweep, and plot_data_efficiency
    # refused the table ("needs rows with 'train_per_class' set"), so no figure was written.
    results = make_results(seeds=2, sizes=(None,)).astype({"train_per_class": object})
    results["train_per_class"] = [stored[i % 2] for i in range(len(results))]
    paths = write_figures(results, tmp_path)
    assert [p.name for p in paths] == RESULTS_FIGURES[:2]


def test_write_figures_chooses_no_backend(tmp_path, monkeypatch):
    # Regression: write_figures called matplotlib.use("Agg"), switching a notebook's backend.
    def refuse(*args, **kwargs):
        raise AssertionError("library code must not choose a matplotlib backend")

    monkeypatch.setattr(matplotlib, "use", refuse)
    assert len(write_figures(make_results(seeds=1), tmp_path)) == 3


def test_a_registered_strategy_is_written_in_every_results_figure(tmp_path):
    with linear_probe():
        paths = write_figures(with_strategy(make_results(seeds=1), "linear_probe"), tmp_path)
    assert [p.name for p in paths] == RESULTS_FIGURES


def test_adding_a_figure_is_adding_a_record(tmp_path, monkeypatch):
    def build(results, setup):
        fig = Figure()
        fig.subplots().bar(range(results["strategy"].nunique()), 1)
        return fig

    extra = LectureFigure("strategies.png", build, needs_results=True, description="a test")
    monkeypatch.setattr(lecture, "LECTURE_FIGURES", (*LECTURE_FIGURES, extra))
    paths = write_figures(make_results(seeds=1, sizes=(None,)), tmp_path)
    assert [p.name for p in paths] == [*RESULTS_FIGURES[:2], "strategies.png"]
    assert dataclasses.is_dataclass(extra)


@pytest.mark.slow
def test_lecture_figures_writes_every_record_with_results(tmp_path, monkeypatch):
    # The real parameter counts build VGG16 and four others (tests/test_cli.py draws them);
    # here a table stands in, so the test is about the list, not about those networks.
    # So do the deployment measurements of VGG16, Lite0 and the small CNN (tests/test_deployment).
    counts = pd.DataFrame({"name": ["vgg16", "efficientnet_lite0"], "parameters": [134e6, 3.4e6]})
    costs = pd.DataFrame(
        {
            "name": ["vgg16", "small_cnn"],
            "model_mb": [59.0, 0.4],
            "latency_ms": [60.0, 1.5],
            "co2_per_1000_predictions_kg": [1e-4, 2e-6],
        }
    )
    quick = {
        "parameter_counts.png": lambda results, setup: plot_parameter_counts(counts=counts),
        "deployment_networks.png": lambda results, setup: plot_deployment(costs),
    }
    monkeypatch.setattr(
        lecture,
        "LECTURE_FIGURES",
        tuple(
            dataclasses.replace(f, build=quick[f.file_name]) if f.file_name in quick else f
            for f in LECTURE_FIGURES
        ),
    )
    csv = tmp_path / "results.csv"
    with_deployment(make_results(seeds=1)).to_csv(csv, index=False)
    paths = lecture_figures(
        tmp_path / "figures",
        results=csv,
        backbone="vgg16",
        depth=2,
        predictions=make_predictions(folder=tmp_path / "photos"),
    )
    assert [p.name for p in paths] == [f.file_name for f in LECTURE_FIGURES]
    assert {p.name for p in (tmp_path / "figures").iterdir()} == {p.name for p in paths}


def test_lecture_figures_checks_its_arguments_before_drawing(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(InvalidParameterError, match="'results' parameter of lecture_figures.*"):
        lecture_figures(out, results=tmp_path / "nope.csv")
    with pytest.raises(InvalidParameterError, match="does not exist"):
        lecture_figures(out, results="nope.csv")
    with pytest.raises(InvalidParameterError) as error:
        lecture_figures(out, backbone="vgg16", depth=6)
    assert "'depth' parameter of lecture_figures must be an int in the range [0, 5]" in str(
        error.value
    )
    with pytest.raises(InvalidParameterError, match="Did you mean 'resnet50'"):
        lecture_figures(out, backbone="resnet")
    with pytest.raises(InvalidParameterError, match="'factor' parameter of lecture_figures"):
        lecture_figures(out, factor=0)
    assert not out.exists()


def test_lecture_figures_only_some(tmp_path):
    paths = lecture_figures(tmp_path, results=make_results(seeds=1), only=["comparison.png"])
    assert [p.name for p in paths] == ["comparison.png"]
    with pytest.raises(InvalidParameterError, match="Did you mean 'comparison.png'"):
        lecture_figures(tmp_path, only=["comparison.pnj"])
