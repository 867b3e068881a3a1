"""The boundary cache: where models are cut, the same training on activations, memory, reasons."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tlcourse.transfer.boundary.cache as cache_module
from tlcourse.errors import InvalidParameterError
from tlcourse.models.backbones import backbone_blocks, list_backbones, load_backbone
from tlcourse.models.classifiers import transfer_classifier
from tlcourse.transfer.boundary import (
    ActivationCache,
    BoundaryCacheWarning,
    CacheMemoryError,
    NoBoundaryError,
    depth_boundary,
    find_boundary,
    lower_model,
)
from tlcourse.transfer.fine_tune import fine_tune
from tlcourse.transfer.freezing import set_trainable

SIZE = 32
LITE = "efficientnet_lite0"


def _images(n=12, size=SIZE, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, size, size, 3)).astype("float32"), np.arange(n) % 3


def _classifier(depth, backbone=LITE, weights="imagenet", augment=False, seed=0):
    keras.utils.set_random_seed(seed)
    base = load_backbone(backbone, weights=weights, input_shape=(SIZE, SIZE, 3))
    model = transfer_classifier(base, 3, augment=augment)
    set_trainable(model, depth)
    return model


@pytest.mark.parametrize(
    ("depth", "layer"),
    [(0, None), (1, "block_15_project_BN"), (3, "block_13_add"), (6, "block_10_add")],
)
def test_the_boundary_is_the_input_of_the_first_unfrozen_block(depth, layer):
    model = _classifier(depth)
    boundary = find_boundary(model)
    assert boundary.layer == layer == depth_boundary(model.get_layer(LITE), depth).layer
    # Above the cut: exactly the trainable weights of the model, no more, no fewer.
    assert {id(w) for w in boundary.upper.trainable_weights} == {
        id(w) for w in model.trainable_weights
    }
    x, _ = _images(4)
    np.testing.assert_allclose(
        boundary.upper(lower_model(boundary)(x)), model(x, training=False), rtol=1e-5, atol=1e-6
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(list_backbones().index))
def test_every_registered_backbone_is_cut_or_says_why(name):
    # For any registered backbone: a cut is the same function, or the reason is given.
    base = load_backbone(name, weights=None, input_shape=(SIZE, SIZE, 3))
    blocks = len(backbone_blocks(base))
    for depth in (1, 3, blocks // 2):
        try:
            layer = depth_boundary(base, depth).layer
        except NoBoundaryError as error:
            # Its blocks drop connections at random in training: the whole model trains.
            assert name == "efficientnet_b0" and "(Dropout) is random" in str(error), error
            continue
        model = transfer_classifier(base, 3, augment=False)
        set_trainable(model, depth)
        boundary = find_boundary(model)
        assert boundary.layer == layer
        x, _ = _images(2)
        np.testing.assert_allclose(
            boundary.upper(lower_model(boundary)(x)), model(x, training=False), rtol=1e-4, atol=1e-5
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("augment", r"'augment_flip' \(RandomFlip\) is random during training"),
        ("all", "nothing is frozen below the first layer that trains"),
        ("skip", "not a chain of layers"),
    ],
)
def test_models_that_cannot_be_cut_say_why(change, message):
    if change == "augment":
        model = _classifier(3, augment=True)
    elif change == "all":
        model = _classifier("all")
    else:
        base = load_backbone(LITE, input_shape=(SIZE, SIZE, 3))
        inputs = keras.Input((SIZE, SIZE, 3))
        features = base(inputs)
        pooled = keras.layers.GlobalAveragePooling2D()(inputs)  # around the backbone
        outputs = keras.layers.Dense(3)(keras.layers.Concatenate()([features, pooled]))
        model = keras.Model(inputs, outputs)
        set_trainable(model, 3)
    with pytest.raises(NoBoundaryError, match=message):
        find_boundary(model)


# ---------------------------------------------------------------------------------------------
# fine_tune: the same training on boundary activations


def _fine_tune(cache, train_batchnorm=False, factor=None, pipeline=True):
    model = _classifier(0)
    images, labels = _images(12)
    if pipeline:  # same data order for both: a pipeline without shuffling
        train = tf.data.Dataset.from_tensor_slices((images, labels)).batch(5)
        val = tf.data.Dataset.from_tensor_slices((images[:6], labels[:6])).batch(5)
    else:
        train, val = (images, labels), (images[:6], labels[:6])
    keras.utils.set_random_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoundaryCacheWarning)  # no silent fallback here
        history = fine_tune(
            model, train, val, head_epochs=2, epochs=2, depth=3, base_lr=1e-3, factor=factor,
            loss="sparse_categorical_crossentropy", metrics=["accuracy"],
            train_batchnorm=train_batchnorm, cache=cache, verbose=0,
        )  # fmt: skip
    return model, history, images


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [{}, {"factor": 3.0}, {"train_batchnorm": True}],
    ids=["one rate", "layer-wise rates", "train_batchnorm"],
)
def test_fine_tune_on_boundary_activations_equals_the_whole_model(options):
    # The acceptance test of the cache: same seeds, same batches in the same order; the head
    # stage on the backbone's output, the fine-tuning stage on the block-13 activations.
    cached, cached_history, images = _fine_tune(True, **options)
    looped, looped_history, _ = _fine_tune(False, **options)
    assert cached_history.settings["cached"] and not looped_history.settings["cached"]
    assert cached_history.stage == looped_history.stage == ["head"] * 2 + ["fine_tune"] * 2
    trained = [w for w in looped.weights]
    assert len(cached.weights) == len(trained)
    for a, b in zip(cached.weights, trained, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)
    for key in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(cached_history.history[key], looped_history.history[key],
                                   rtol=1e-4, atol=1e-5)  # fmt: skip
    # So the test accuracy matches: the same predictions (called eagerly: a predict function
    # would be traced for each model).
    same = cached(images, training=False).numpy().argmax(1) == looped(
        images, training=False
    ).numpy().argmax(1)
    assert same.all()
    # And the whole model is left compiled for stage 2, with the optimizer that trained it.
    assert cached.optimizer.iterations.numpy() == looped.optimizer.iterations.numpy() == 6


@pytest.mark.slow
def test_fine_tune_caches_arrays_too_and_says_why_when_it_cannot():
    model, history, _ = _fine_tune("auto", pipeline=False)
    assert history.settings["cached"] and len(history.epoch) == 4
    model = _classifier(0, augment=True)
    images, labels = _images(6)
    with pytest.warns(BoundaryCacheWarning, match="'augment_flip' \\(RandomFlip\\) is random"):
        history = fine_tune(model, (images, labels), head_epochs=1, epochs=1, depth=1,
                            loss="sparse_categorical_crossentropy", verbose=0)  # fmt: skip
    assert not history.settings["cached"]
    with pytest.raises(InvalidParameterError, match="The 'cache' parameter of fine_tune.*flip"):
        fine_tune(model, (images, labels), epochs=1, depth=1, cache=True,
                  loss="sparse_categorical_crossentropy", verbose=0)  # fmt: skip
    with pytest.raises(
        InvalidParameterError, match="'cache' parameter of fine_tune must be 'auto'"
    ):
        fine_tune(model, (images, labels), epochs=1, cache="yes",
                  loss="sparse_categorical_crossentropy", verbose=0)  # fmt: skip


def test_a_pipeline_that_augments_is_not_cached(tmp_path):
    images, labels = _images(6)
    # A generator whose state lives on between passes: other flips at every pass.
    generator = tf.random.Generator.from_seed(0)
    flipped = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .batch(3)
        .map(lambda x, y: (tf.where(generator.uniform([3, 1, 1, 1]) < 0.5, x[:, :, ::-1], x), y))
    )
    reshuffled = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(6).batch(3)
    model = _classifier(0)
    with pytest.warns(BoundaryCacheWarning, match="other images at every pass"):
        history = fine_tune(model, flipped, head_epochs=1, epochs=1, depth=1,
                            loss="sparse_categorical_crossentropy", verbose=0)  # fmt: skip
    assert not history.settings["cached"]
    # Reshuffling is no augmentation: cached, and reshuffled every epoch.
    history = fine_tune(model, reshuffled, head_epochs=1, epochs=1, depth=1,
                        loss="sparse_categorical_crossentropy", verbose=0)  # fmt: skip
    assert history.settings["cached"]
    # Callbacks that may save the model they are given need the whole model.
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "model.keras"))
    with pytest.warns(BoundaryCacheWarning, match="callback ModelCheckpoint"):
        fine_tune(
            model,
            (images, labels),
            head_epochs=1,
            epochs=0,
            depth=1,
            callbacks=[checkpoint],
            loss="sparse_categorical_crossentropy",
            verbose=0,
        )


# ---------------------------------------------------------------------------------------------
# Memory


def _tiny_limit(monkeypatch, limit=1000):
    monkeypatch.setattr(cache_module, "memory_limit", lambda: (limit, 2 * limit))


def test_a_cache_that_would_not_fit_names_what_it_needs_and_what_to_do(monkeypatch):
    _tiny_limit(monkeypatch)
    model = _classifier(0)
    images, labels = _images(12)
    with pytest.warns(BoundaryCacheWarning) as caught:
        history = fine_tune(model, (images, labels), head_epochs=1, epochs=1, depth=3,
                            loss="sparse_categorical_crossentropy", verbose=0)  # fmt: skip
    assert not history.settings["cached"]
    message = str(caught[0].message)
    assert "would need" in message and "the limit is 1.0 KB" in message
    assert "2.0 KB of memory available" in message and "cache=False" in message
    with pytest.raises(CacheMemoryError, match=r"activations of 12 more images would need"):
        fine_tune(model, (images, labels), head_epochs=1, epochs=1, depth=3, cache=True,
                  loss="sparse_categorical_crossentropy", verbose=0)  # fmt: skip


def test_the_cache_computes_each_image_once_per_weights_and_boundary(monkeypatch):
    calls = []
    real = cache_module.lower_model
    monkeypatch.setattr(cache_module, "lower_model", lambda *b: calls.append(len(b)) or real(*b))
    base = load_backbone(LITE, input_shape=(SIZE, SIZE, 3))
    cache = ActivationCache(base)
    images = np.round(_images(6)[0])
    features, block = cache.activations([cache.boundary(0), cache.boundary(3)], images)
    assert features.shape == (6, 1280) and block.shape == (6, 1, 1, 192) and calls == [2]
    # The same images, as uint8 or float32, in another order: nothing computed again.
    again = cache.activations([cache.boundary(0)], images[::-1].astype("uint8"))[0]
    np.testing.assert_array_equal(again, features[::-1])
    assert calls == [2]
    # A boundary of a classifier around another copy with the same weights: the same key.
    model = _classifier(3)
    assert cache.key(find_boundary(model), images.shape[1:]) == cache.key(
        cache.boundary(3), images.shape[1:]
    )
    # Other weights: computed again, and different.
    base.set_weights([w * 0.5 for w in base.get_weights()])
    changed = cache.activations([cache.boundary(0)], images)[0]
    assert calls == [2, 1] and not np.allclose(changed, features)
