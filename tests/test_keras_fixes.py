"""tlcourse.keras_fixes: Keras's saving finds the attribute sets it made, and still works."""

import threading

import keras
import numpy as np
from keras.src.saving import saving_lib

from tlcourse.keras_fixes import prime_saving_skipsets
from tlcourse.weights import load_weights_file


def test_primed_sets_are_found_again():
    prime_saving_skipsets()
    for kind in ("Layer", "Functional", "Optimizer"):
        assert saving_lib.get_attr_skipset(kind) is saving_lib.get_attr_skipset(kind)
    prime_saving_skipsets()  # twice: nothing changes


def test_after_clear_session_and_in_another_thread(tmp_path):
    keras.utils.clear_session()  # Keras empties its global state: priming again refills it
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.save_weights(tmp_path / "m.weights.h5")
    fresh = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    errors = []

    def load():
        try:
            load_weights_file(fresh, tmp_path / "m.weights.h5")  # primes this thread's state
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    thread = threading.Thread(target=load)
    thread.start()
    thread.join()
    assert errors == []
    for a, b in zip(model.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert saving_lib.get_attr_skipset("Layer") is not None


def test_a_saved_model_loads_back_the_same(tmp_path):
    prime_saving_skipsets()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    assert [layer.name for layer in loaded.layers] == ["d"]
