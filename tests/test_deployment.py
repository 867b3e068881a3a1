"""Deployment cost: model size, CPU latency, CO2 per 1,000 predictions."""

import contextlib

import numpy as np
import pytest

from tlcourse.errors import InvalidParameterError
from tlcourse.measure import EmissionsRecord, deployment
from tlcourse.measure.deployment import (
    DEPLOYMENT_COLUMNS,
    deployment_columns,
    deployment_table,
    model_size_mb,
)
from tlcourse.models.classifiers import classification_head, small_cnn, transfer_classifier


def test_size_is_the_saved_file_or_the_bytes_of_every_weight(tmp_path):
    model = transfer_classifier("mobilenet_v2", 6, image_size=64, weights=None)
    weights = sum(w.nbytes for w in model.get_weights())  # BatchNorm statistics included
    assert model_size_mb(model, saved=False) == pytest.approx(weights / 1e6)
    model.save(tmp_path / "model.keras")
    saved = (tmp_path / "model.keras").stat().st_size / 1e6
    assert model_size_mb(model) == pytest.approx(saved, rel=1e-3)  # the same file, rebuilt
    assert weights / 1e6 < saved < 1.1 * weights / 1e6


def test_a_model_that_cannot_be_saved_is_measured_by_its_weights(monkeypatch):
    model = small_cnn(3, image_size=32)

    def refuse(*args, **kwargs):
        raise NotImplementedError("no get_config")

    monkeypatch.setattr(type(model), "save", refuse)
    with pytest.warns(UserWarning, match="could not be saved.*no get_config"):
        assert model_size_mb(model) == model_size_mb(model, saved=False)


@pytest.fixture
def fake_track(monkeypatch):
    """track() yielding a record with known CO2 and range."""

    @contextlib.contextmanager
    def track(label, country=None):
        yield EmissionsRecord(label, measured=True, co2_kg=2e-6, co2_kg_low=1e-6,
                              co2_kg_high=4e-6)  # fmt: skip

    monkeypatch.setattr(deployment, "track", track)


def test_columns_divide_the_tracked_co2_by_the_calls(fake_track):
    row = deployment_columns(small_cnn(3, image_size=32), repeats=5, seconds=0)
    assert tuple(row) == DEPLOYMENT_COLUMNS
    # 5 calls, 2e-6 kg: 4e-4 kg per 1,000 predictions, and the range alike.
    assert row["co2_per_1000_predictions_kg"] == pytest.approx(4e-4)
    assert row["co2_per_1000_predictions_kg_low"] == pytest.approx(2e-4)
    assert row["co2_per_1000_predictions_kg_high"] == pytest.approx(8e-4)
    assert 0 < row["latency_ms"] < 10_000
    assert row["model_mb"] == pytest.approx(model_size_mb(small_cnn(3, image_size=32)), rel=0.01)


def test_columns_of_a_real_measurement():
    row = deployment_columns(small_cnn(3, image_size=32), repeats=3, seconds=0.5)
    assert row["latency_ms"] > 0
    if row["co2_per_1000_predictions_kg"] is not None:  # codecarbon measured
        assert (
            row["co2_per_1000_predictions_kg_low"]
            <= row["co2_per_1000_predictions_kg"]
            <= row["co2_per_1000_predictions_kg_high"]
        )


def test_table_of_given_models_and_its_co2_columns(fake_track):
    table = deployment_table({"a": small_cnn(3, 32), "b": small_cnn(3, 48)}, repeats=2, seconds=0)
    assert table["name"].tolist() == ["a", "b"]
    assert table["calls"].tolist() == [2, 2]
    assert {"co2_mode", "co2_range_basis", *DEPLOYMENT_COLUMNS} <= set(table.columns)


@pytest.mark.slow
def test_default_networks_vgg16_lite0_small_cnn(fake_track):
    table = deployment_table(image_size=96, repeats=2, seconds=0)
    assert table["name"].tolist() == ["vgg16", "efficientnet_lite0", "small_cnn"]
    sizes = table.set_index("name")["model_mb"]
    assert sizes["vgg16"] > 10 * sizes["efficientnet_lite0"] / 3 > sizes["small_cnn"]
    assert np.all(table["latency_ms"] > 0)


def test_clear_errors():
    with pytest.raises(InvalidParameterError, match="a model taking images"):
        deployment_columns(classification_head(1280, 3))
    with pytest.raises(InvalidParameterError, match="'image_size' parameter"):
        deployment_columns(small_cnn(3, image_size=32), image_size=64)
    with pytest.raises(InvalidParameterError, match="'repeats' parameter of deployment_columns"):
        deployment_columns(small_cnn(3, image_size=32), repeats=0)
    with pytest.raises(InvalidParameterError, match="'models' parameter of deployment_table"):
        deployment_table({"a": "model.keras"})
    with pytest.raises(InvalidParameterError, match="'model' parameter of model_size_mb"):
        model_size_mb(None)
