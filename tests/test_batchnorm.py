"""The fused BatchNormalization and the scratch CNN built with it: faster, the same function."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from tlcourse.batchnorm import FusedBatchNormalization
from tlcourse.models import small_cnn


def _x(shape=(6, 8, 8, 3), seed=0):
    return np.random.default_rng(seed).normal(1.5, 2.0, shape).astype("float32")


def test_training_step_outputs_gradients_and_statistics_match_keras():
    x = _x()
    fused = FusedBatchNormalization(momentum=0.9)
    plain = layers.BatchNormalization(momentum=0.9)
    fused.build(x.shape), plain.build(x.shape)
    plain.set_weights([np.array([0.5, 2.0, -1.0]), np.array([0.1, -0.2, 0.3]),
                       np.zeros(3), np.ones(3)])  # fmt: skip
    fused.set_weights(plain.get_weights())
    grads = []
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            inputs = tf.constant(x)
            tape.watch(inputs)
            loss = tf.reduce_sum(tf.sin(layer(inputs, training=True)))
        grads.append(tape.gradient(loss, [inputs, layer.gamma, layer.beta]))
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    for a, b in zip(fused.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # Inference and frozen layers are Keras's own code.
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False), atol=1e-5)


def _old_small_cnn(num_classes, size):
    """small_cnn as it was: Keras BatchNormalization, ReLU before the pool."""
    inputs = keras.Input((size, size, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.RandomFlip("horizontal")(x)
    for i, channels in enumerate((16, 32, 64, 128)):
        x = layers.Conv2D(channels, 3, strides=2 if i == 0 else 1, padding="same",
                          use_bias=False)(x)  # fmt: skip
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.ReLU()(x)
        if i < 3:
            x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def _after_flip(model, x, training):
    """The model's output from its layers after the (random) flip, on ``x / 255``."""
    start = next(i for i, layer in enumerate(model.layers) if isinstance(layer, layers.RandomFlip))
    out = tf.constant(x / 255)
    for layer in model.layers[start + 1 :]:
        out = layer(out, training=training)
    return out


@pytest.mark.parametrize("training", [False, True])
def test_small_cnn_is_the_same_function_as_before(training):
    # Faster (fused BatchNorm, pool before ReLU), same parameters, same outputs: in inference,
    # and in training with the batch statistics (dropout off, the flip left out).
    new, old = small_cnn(3, 32, dropout=0.0), _old_small_cnn(3, 32)
    old.layers[-2].rate = 0.0
    assert new.count_params() == old.count_params()
    old.set_weights(new.get_weights())
    x = _x((4, 32, 32, 3)) * 40 + 100
    np.testing.assert_allclose(
        _after_flip(new, x, training), _after_flip(old, x, training), rtol=1e-4, atol=1e-5
    )
    if not training:
        np.testing.assert_allclose(new(x, training=False), old(x, training=False), atol=1e-6)


def test_a_saved_small_cnn_loads_back(tmp_path):
    model = small_cnn(3, 32)
    path = tmp_path / "cnn.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.get_layer("conv_0_BN"), FusedBatchNormalization)
    x = _x((2, 32, 32, 3)) * 40 + 100
    np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), atol=1e-6)
