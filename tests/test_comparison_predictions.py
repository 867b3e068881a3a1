"""predictions.csv: one row per test image per run, consistent with results.csv, resumed safely."""

import pandas as pd
import pytest
from strategy_toys import LINEAR_PROBE, MAJORITY, make_photo_folder, registered

from tlcourse.comparison import (
    FAST_BUDGET,
    PREDICTION_COLUMNS,
    compare,
    prediction_accuracy,
    read_predictions,
    read_results,
)
from tlcourse.comparison.results import run_key
from tlcourse.errors import InvalidParameterError

TINY = {"budget": FAST_BUDGET, "image_size": 32, "progress": None, "deployment": False}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("own_photos"))


@pytest.fixture
def toys():
    with registered(MAJORITY, LINEAR_PROBE):
        yield


def _keys(table):
    return [run_key(row) for row in table.to_dict("records")]


def test_every_run_writes_its_predictions_and_they_give_its_accuracy(folder, tmp_path):
    table = compare(str(folder), strategies="feature_extraction", seeds="0,1", out=tmp_path,
                    **TINY)  # fmt: skip
    predictions = read_predictions(tmp_path)
    assert list(predictions.columns) == list(PREDICTION_COLUMNS)
    assert list(table["test_predictions"]) == [6, 6]  # 3 classes x 2 test images each
    assert len(predictions) == 12
    assert set(predictions["true"]) <= {"class_0", "class_1", "class_2"}
    assert predictions["confidence"].between(0, 1).all()
    assert predictions["file"].str.endswith(".png").all()
    # test_accuracy IS the mean of true == predicted over the run's predictions, exactly.
    by_run = prediction_accuracy(predictions)
    for key, accuracy in zip(_keys(table), table["test_accuracy"], strict=True):
        assert by_run[key] == accuracy
    assert read_results(tmp_path / "results.csv")["test_accuracy"].tolist() == (
        table["test_accuracy"].tolist()
    )


def test_compare_returns_them_on_request(folder, toys):
    table, predictions = compare(str(folder), strategies="majority,linear_probe", seeds=0,
                                 out=None, return_predictions=True, **TINY)  # fmt: skip
    # The probe gives no probabilities: no predictions, and its own accuracy is kept.
    assert list(table["test_predictions"]) == [6, 0]
    assert set(predictions["strategy"]) == {"majority"}
    assert (predictions["true"] == predictions["predicted"]).mean() == table["test_accuracy"][0]


def test_a_resumed_comparison_never_duplicates_or_loses_predictions(folder, toys, tmp_path):
    lines = []

    def kill_after_two(line):
        lines.append(line)
        if len(lines) == 2:
            raise KeyboardInterrupt

    args = {"strategies": "majority,linear_probe", "seeds": "0,1,2", "out": tmp_path, **TINY}
    with pytest.raises(KeyboardInterrupt):
        compare(str(folder), **{**args, "progress": kill_after_two})
    assert len(read_results(tmp_path / "results.csv")) == 2
    assert len(read_predictions(tmp_path)) == 6  # the majority run of seed 0
    lines.clear()
    table = compare(str(folder), resume=True, **{**args, "progress": lines.append})
    assert sum("skipped" in line for line in lines) == 2 and len(table) == 6
    predictions = read_predictions(tmp_path)
    assert len(predictions) == 18 and not predictions.duplicated().any()
    assert len(read_results(tmp_path / "results.csv")) == 6


def test_a_run_whose_predictions_are_missing_is_computed_again(folder, toys, tmp_path):
    args = {"strategies": "majority", "seeds": "0,1", "out": tmp_path, **TINY}
    compare(str(folder), **args)
    predictions = read_predictions(tmp_path)
    # Lose the predictions of seed 1 (a kill between the two writes, a hand-edited file...).
    predictions[predictions["seed"] == 0].to_csv(tmp_path / "predictions.csv", index=False)
    lines = []
    table = compare(str(folder), resume=True, **{**args, "progress": lines.append})
    assert ["skipped" in line for line in lines] == [True, False]
    assert len(table) == 2 and len(read_results(tmp_path / "results.csv")) == 2  # replaced
    again = read_predictions(tmp_path)
    assert len(again) == 12 and sorted(again["seed"].unique()) == [0, 1]
    # Predictions of a run without its row (a kill between the writes) are dropped.
    extra = again.assign(seed=7)
    pd.concat([again, extra]).to_csv(tmp_path / "predictions.csv", index=False)
    compare(str(folder), resume=True, **args)
    assert sorted(read_predictions(tmp_path)["seed"].unique()) == [0, 1]


def test_class_names_stay_text_and_bad_paths_are_named(tmp_path):
    table = pd.DataFrame({"strategy": ["x"], "file": ["0/a.png"], "true": ["0"],
                          "predicted": ["1"], "confidence": [0.7]})  # fmt: skip
    table.to_csv(tmp_path / "predictions.csv", index=False)
    read = read_predictions(tmp_path / "predictions.csv")
    assert read["true"].tolist() == ["0"] and read["predicted"].tolist() == ["1"]
    with pytest.raises(InvalidParameterError, match="'path' parameter of read_predictions"):
        read_predictions(tmp_path / "nowhere")
