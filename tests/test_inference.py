"""tlcourse.inference: one traced forward pass per model, the numbers of an eager call."""

import gc
import weakref

import keras
import numpy as np
import pytest

from tlcourse.errors import InvalidParameterError
from tlcourse.inference import inference_function, predict_batches
from tlcourse.models import classification_head, small_cnn


def test_same_numbers_as_an_eager_call_for_every_batch_size():
    model = small_cnn(3, image_size=32)
    images = np.random.default_rng(0).integers(0, 255, (70, 32, 32, 3)).astype("uint8")
    expected = keras.ops.convert_to_numpy(model(images.astype("float32"), training=False))
    np.testing.assert_allclose(predict_batches(model, images, 32), expected, atol=1e-6)
    infer = inference_function(model)
    for n in (1, 5, 36):
        infer(images[:n])
    assert infer.traced.experimental_get_tracing_count() == 1


def test_sees_weights_assigned_after_tracing():
    # Reused models get every run's weights by assignment: the traced graph must read them.
    head = classification_head(4, 2)
    x = np.ones((2, 4), "float32")
    before = predict_batches(head, x)
    for variable in head.trainable_variables:
        variable.assign(np.random.default_rng(1).normal(size=variable.shape))
    after = predict_batches(head, x)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, keras.ops.convert_to_numpy(head(x)), atol=1e-6)


def test_inference_mode_dropout_off():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dropout(0.9)])
    x = np.ones((4, 8), "float32")
    np.testing.assert_array_equal(predict_batches(model, x), x)


def test_the_model_is_not_kept_alive():
    head = classification_head(4, 2)
    inference_function(head)(np.ones((1, 4)))
    ref = weakref.ref(head)
    del head
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("bad", ["model", None, 3])
def test_not_a_model(bad):
    with pytest.raises(InvalidParameterError, match="inference_function.*one input"):
        inference_function(bad)


def test_two_inputs_refused():
    a, b = keras.Input((2,)), keras.Input((2,))
    model = keras.Model([a, b], keras.layers.Add()([a, b]))
    with pytest.raises(InvalidParameterError, match="one input"):
        inference_function(model)
