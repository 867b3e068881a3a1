"""Saved models load with plain Keras, in a process that never imports tlcourse."""

import keras
import numpy as np
import pytest
from plain_keras_loads import load_each_without_tlcourse

from tlcourse.models.backbones import list_backbones
from tlcourse.models.classifiers import small_cnn, transfer_classifier

BACKBONES = sorted(list_backbones().index)


@pytest.fixture(scope="module")
def models():
    built = {"small_cnn": small_cnn(3, image_size=64)}
    for backbone in BACKBONES:
        keras.utils.set_random_seed(0)
        built[backbone] = transfer_classifier(backbone, 3, image_size=64, weights=None)
    return built


@pytest.fixture(scope="module")
def loaded(models, tmp_path_factory):
    """Every model saved, then loaded by one plain-Keras process."""
    return load_each_without_tlcourse(models, tmp_path_factory.mktemp("saved_models"))


def _difference(result):
    assert result.ok, result.line[-3000:]
    return float(np.abs(result.got - result.expected).max())


@pytest.mark.slow
def test_a_saved_small_cnn_loads_with_plain_keras(models, loaded):
    model = models["small_cnn"]
    assert all(type(layer).__module__.startswith("keras") for layer in model.layers)
    difference = _difference(loaded["small_cnn"])
    assert loaded["small_cnn"].name == "small_cnn" and difference < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_saved_transfer_model_loads_with_plain_keras(backbone, loaded):
    assert _difference(loaded[backbone]) < 1e-4
