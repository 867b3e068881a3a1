"""The predictions table: made from a model's predictions, confusion counts, photos rescued."""

import numpy as np
import pandas as pd
import pytest
from plots_data import make_predictions

from tlcourse.comparison.error_analysis import (
    PREDICTION_COLUMNS,
    confusion_matrix,
    fixed_by_transfer,
    prediction_table,
)
from tlcourse.errors import InvalidParameterError


def test_prediction_table_from_labels_probabilities_or_names():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]])
    table = prediction_table(np.array([0, 1, 1]), probabilities, ("a", "b", "c"),
                             files=["x.jpg", "y.jpg", "z.jpg"], strategy="fine_tuning")  # fmt: skip
    assert table["predicted"].tolist() == ["a", "c", "b"]
    np.testing.assert_allclose(table["confidence"], [0.7, 0.6, 0.5])
    assert table["file"].tolist() == ["x.jpg", "y.jpg", "z.jpg"]
    assert set(table.columns) <= set(PREDICTION_COLUMNS)
    labels = prediction_table([0, 1], np.array([1, 1]), ["a", "b"])
    assert labels["predicted"].tolist() == ["b", "b"] and labels["confidence"].isna().all()
    names = prediction_table(["cat", "dog"], ["dog", "dog"])
    assert names["true"].tolist() == ["cat", "dog"]


def test_prediction_table_refuses_what_does_not_line_up():
    with pytest.raises(InvalidParameterError, match=r"'y_pred' .*one per label \(3\)"):
        prediction_table([0, 1, 1], [0, 1], ["a", "b"])
    with pytest.raises(InvalidParameterError, match=r"'y_true' .*labels in \[0, 1\].*Got \[0, 2\]"):
        prediction_table([0, 2], [0, 1], ["a", "b"])
    with pytest.raises(InvalidParameterError, match="'class_names'"):
        prediction_table([0], [0], "ab")


def test_confusion_matrix_pools_the_seeds_of_one_strategy():
    predictions = make_predictions(seeds=3)
    scratch = confusion_matrix(predictions, "scratch")
    assert list(scratch.index) == list(scratch.columns) == ["birds", "fish", "fruit"]
    # 3 seeds x 4 photos per class; photos 0 and 1 predicted as the next class.
    assert scratch.loc["birds"].tolist() == [6, 6, 0]
    assert scratch.to_numpy().sum() == 3 * 12
    assert np.trace(confusion_matrix(predictions, "fine_tuning").to_numpy()) == 36
    with pytest.raises(InvalidParameterError, match="'strategy' parameter of confusion_matrix"):
        confusion_matrix(predictions, "nope")
    with pytest.raises(
        InvalidParameterError,
        match=r"columns \['strategy', 'true', 'predicted'\]\. Got a DataFrame",
    ):
        confusion_matrix(predictions.drop(columns="predicted"))


def test_confusion_matrix_keeps_classes_nobody_predicted():
    table = pd.DataFrame({"strategy": "m", "true": ["a", "a"], "predicted": ["a", "a"]})
    counts = confusion_matrix(table, classes=["a", "b"])
    assert counts.values.tolist() == [[2, 0], [0, 0]]


def test_fixed_by_transfer_takes_the_majority_of_seeds():
    predictions = make_predictions(seeds=3)
    fixed = fixed_by_transfer(predictions)
    # Photo 1 of each class: scratch wrong, both transfer strategies right; photo 0: only
    # fine-tuning right, still rescued.
    assert sorted(fixed["file"]) == sorted(
        f"{c}/{c}_{k}.png" for c in ("birds", "fish", "fruit") for k in (0, 1)
    )
    row = fixed.set_index("file").loc["fish/fish_0.png"]
    assert row["baseline_wrong"] == 1 and row["baseline_predicted"] == "fruit"
    assert row["feature_extraction_right"] == 0 and row["fine_tuning_right"] == 1
    only_fe = fixed_by_transfer(predictions, transfer=["feature_extraction"])
    assert sorted(only_fe["file"]) == ["birds/birds_1.png", "fish/fish_1.png", "fruit/fruit_1.png"]
    # Wrong in one seed of three only: not a scratch mistake.
    once = predictions.copy()
    once.loc[(once["strategy"] == "scratch") & (once["seed"] > 0), "predicted"] = once["true"]
    assert fixed_by_transfer(once).empty


def test_fixed_by_transfer_needs_files_and_known_strategies():
    predictions = make_predictions()
    with pytest.raises(InvalidParameterError, match="'file'"):
        fixed_by_transfer(predictions.drop(columns="file"))
    with pytest.raises(InvalidParameterError, match="'baseline' parameter"):
        fixed_by_transfer(predictions, baseline="from_scratch")
    with pytest.raises(InvalidParameterError, match="'transfer' parameter"):
        fixed_by_transfer(predictions, transfer=["scratch"])
    with pytest.raises(InvalidParameterError, match="must be a non-empty pandas DataFrame"):
        fixed_by_transfer([1, 2])
