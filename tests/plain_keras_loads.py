"""Save several models, load them all in one fresh process that never imports tlcourse.

One process for every model: each fresh Python spends seconds importing TensorFlow, and loading
one `.keras` file changes nothing a later load reads (plain Keras registers nothing on load).
"""

import subprocess
import sys
from dataclasses import dataclass

import numpy as np

_LOAD_EACH = """
import sys, traceback
import keras, numpy as np
folder = sys.argv[1]
for key in sys.argv[2:]:
    try:
        model = keras.models.load_model(f"{folder}/{key}.keras")
        got = model.predict(np.load(f"{folder}/{key}.images.npy"), verbose=0)
        np.save(f"{folder}/{key}.got.npy", got)
        assert "tlcourse" not in sys.modules
        print("LOADED", key, model.name, flush=True)
    except Exception:
        print("FAILED", key, traceback.format_exc().replace(chr(10), " | "), flush=True)
"""


@dataclass
class Loaded:
    """What the plain-Keras process made of one saved model."""

    line: str  # "LOADED <key> <model name>", or "FAILED <key> <traceback>"
    expected: np.ndarray  # the model's predictions before saving
    got: np.ndarray | None  # the loaded model's predictions on the same images

    @property
    def ok(self) -> bool:
        return self.line.startswith("LOADED ")

    @property
    def name(self) -> str:
        return self.line.split()[2]


def load_each_without_tlcourse(models, folder, timeout=600):
    """Save each of ``models`` ({key: model}) in ``folder`` and load them all in one process.

    Every model predicts on two random images of its input shape before saving; the fresh
    process loads each file with plain Keras, predicts on the same images and checks, after
    each load, that tlcourse was never imported. Returns {key: Loaded}.
    """
    expected = {}
    for key, model in models.items():
        images = np.random.default_rng(0).uniform(0, 255, (2, *model.input_shape[1:]))
        images = images.astype("float32")
        np.save(folder / f"{key}.images.npy", images)
        expected[key] = model.predict(images, verbose=0)
        model.save(folder / f"{key}.keras")
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_EACH, str(folder), *models],
        capture_output=True, text=True, cwd=folder, timeout=timeout,
    )  # fmt: skip
    lines = {
        line.split()[1]: line
        for line in result.stdout.splitlines()
        if line.startswith(("LOADED ", "FAILED ")) and len(line.split()) > 2
    }
    loaded = {}
    for key in models:
        line = lines.get(key, f"FAILED {key} no answer; stderr: {result.stderr[-3000:]}")
        got = np.load(folder / f"{key}.got.npy") if line.startswith("LOADED ") else None
        loaded[key] = Loaded(line, expected[key], got)
    return loaded
