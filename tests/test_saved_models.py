"""Saved models load with plain Keras, in a process that never imports tlcourse."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from tlcourse.models.backbones import list_backbones
from tlcourse.models.classifiers import small_cnn, transfer_classifier

_LOAD = """
import sys
import keras, numpy as np
model = keras.models.load_model(sys.argv[1])
expected = np.load(sys.argv[2])
got = model.predict(np.load(sys.argv[3]), verbose=0)
assert "tlcourse" not in sys.modules
print("LOADED", model.name, float(np.abs(got - expected).max()))
"""


def _saved_and_loaded_alone(model, folder) -> str:
    images = np.random.default_rng(0).uniform(0, 255, (2, *model.input_shape[1:]))
    images = images.astype("float32")
    np.save(folder / "images.npy", images)
    np.save(folder / "expected.npy", model.predict(images, verbose=0))
    model.save(folder / "model.keras")
    result = subprocess.run(
        [sys.executable, "-c", _LOAD, str(folder / "model.keras"),
         str(folder / "expected.npy"), str(folder / "images.npy")],
        capture_output=True, text=True, cwd=folder, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_a_saved_small_cnn_loads_with_plain_keras(tmp_path):
    model = small_cnn(3, image_size=64)
    assert all(type(layer).__module__.startswith("keras") for layer in model.layers)
    out = _saved_and_loaded_alone(model, tmp_path)
    name, difference = out.split()[-2:]
    assert name == "small_cnn" and float(difference) < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("backbone", sorted(list_backbones().index))
def test_every_saved_transfer_model_loads_with_plain_keras(backbone, tmp_path):
    keras.utils.set_random_seed(0)
    model = transfer_classifier(backbone, 3, image_size=64, weights=None)
    out = _saved_and_loaded_alone(model, tmp_path)
    assert float(out.split()[-1]) < 1e-4
