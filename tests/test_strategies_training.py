"""Training steps the strategies share: direct validation gives Keras's own numbers."""

import keras
import numpy as np
import pytest

from tlcourse.boundary.batches import shuffled_batches
from tlcourse.models import classification_head, small_cnn
from tlcourse.strategies.training import compile_classifier, fit


def _data(n, shape, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, *shape)).astype("float32"), rng.integers(0, 3, n)


@pytest.mark.parametrize(
    ("build", "shape"),
    [(lambda: classification_head(16, 3), (16,)), (lambda: small_cnn(3, 32), (32, 32, 3))],
)
def test_direct_validation_gives_the_numbers_of_keras_validation(build, shape):
    train, val = _data(40, shape, 0), _data(21, shape, 1)  # 21: a last, short batch
    histories = []
    for direct in (False, True):
        keras.utils.set_random_seed(0)
        model = compile_classifier(build(), keras.optimizers.Adam(1e-2))
        batches = shuffled_batches(train, 8, seed=0)
        validation = val if direct else shuffled_batches(val, 8, None)
        histories.append(fit(model, batches, validation, epochs=3))
    keras_run, direct_run = histories
    assert keras_run["loss"] == direct_run["loss"]  # validation changes nothing in training
    np.testing.assert_allclose(direct_run["val_loss"], keras_run["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(direct_run["val_accuracy"], keras_run["val_accuracy"], atol=1e-7)


def test_an_empty_validation_split_adds_no_validation_numbers():
    train = _data(16, (16,), 0)
    model = compile_classifier(classification_head(16, 3), "adam")
    empty = (np.zeros((0, 16), "float32"), np.zeros(0, np.int64))
    history = fit(model, shuffled_batches(train, 8, 0), empty, epochs=1)
    assert sorted(history) == ["accuracy", "loss"]
