"""set_trainable, trainable_summary, recompile: what trains after freezing, and what does not."""

import doctest
import re
import warnings

import keras
import numpy as np
import pytest

import tlcourse.transfer.freezing as freezing_module
from tlcourse.errors import InvalidParameterError
from tlcourse.models.backbones import backbone_blocks, list_backbones, load_backbone
from tlcourse.transfer.freezing import freeze, recompile, set_trainable, trainable_summary
from tlcourse.transfer.optimizers import LayerwiseAdam, layerwise_optimizer, learning_rates

ACCEPTANCE = [
    name
    for name in ("efficientnet_lite0", "mobilenet_v2", "resnet50")
    if name in list_backbones().index
]


@pytest.fixture(scope="module")
def refused_model():
    """A VGG16 classifier shared by tests whose every call is refused before it sets a flag."""
    return _classifier("vgg16")[0]


def _is_bn(layer):
    return isinstance(layer, keras.layers.BatchNormalization)


def _classifier(name, size=32, classes=3, seed=0):
    keras.utils.set_random_seed(seed)
    base = load_backbone(name, weights=None, input_shape=(size, size, 3))
    model = keras.Sequential(
        [keras.Input((size, size, 3)), base, keras.layers.Dense(classes, name="classifier")]
    )
    return model, base


def _data(size, n=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (n, size, size, 3)).astype("float32")
    return images, np.arange(n) % classes


def _compile(model, optimizer=None):
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def _snapshot(model):
    return {id(w): np.array(w.numpy(), copy=True) for w in model.weights}


def _changed(before, weight):
    return not np.array_equal(before[id(weight)], weight.numpy())


# ------------------------------------------------------------------------------------------
# Acceptance: after set_trainable(model, k) and one epoch, exactly the right weights moved.
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ACCEPTANCE)
def test_one_epoch_after_set_trainable_changes_exactly_the_unfrozen_blocks(name):
    size, k = 64, 2
    model, base = _classifier(name, size)
    _compile(model)
    set_trainable(model, k)
    trainable = {id(w) for w in model.trainable_weights}
    before = _snapshot(model)

    model.fit(*_data(size), epochs=1, batch_size=4, verbose=0)

    blocks = backbone_blocks(base)
    unfrozen = blocks[-k:]
    expected = {
        id(w)
        for block in unfrozen
        for layer in block.layers
        if not _is_bn(layer)
        for w in layer.trainable_weights
    } | {id(w) for w in model.get_layer("classifier").weights}
    assert trainable == expected
    # Every BatchNorm statistic (and every frozen weight) is bit-identical.
    for layer in base.layers:
        if _is_bn(layer):
            for weight in layer.weights:
                assert not _changed(before, weight), weight.path
    for weight in model.weights:
        if id(weight) not in trainable:
            assert not _changed(before, weight), weight.path
        else:
            assert _changed(before, weight), weight.path
    changed_blocks = [b.name for b in blocks if any(_changed(before, w) for w in b.weights)]
    assert changed_blocks == [b.name for b in unfrozen]


def test_training_right_after_set_trainable_on_a_compiled_model_works():
    model, base = _classifier("vgg16")
    images, labels = _data(32)
    _compile(model, keras.optimizers.SGD(0.05, momentum=0.9))
    set_trainable(model, 0)
    model.fit(images, labels, epochs=1, verbose=0)  # builds the optimizer for the head only
    last = backbone_blocks(base)[-1].layers[0]

    set_trainable(model, 1)
    kernel = np.array(last.kernel.numpy(), copy=True)
    model.fit(images, labels, epochs=1, batch_size=2, verbose=0)  # a new batch size retraces
    assert not np.array_equal(kernel, last.kernel.numpy())

    # Settings survive the recompile; the optimizer is fresh.
    assert type(model.optimizer) is keras.optimizers.SGD
    assert model.optimizer.get_config()["momentum"] == 0.9
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert int(model.optimizer.iterations) == 2
    assert model.get_compile_config()["metrics"] == ["accuracy"]
    assert model.get_compile_config()["loss"]["config"]["from_logits"] is True

    # Freezing again after training: the newly frozen block must not move.
    set_trainable(model, 0)
    kernel = np.array(last.kernel.numpy(), copy=True)
    model.fit(images, labels, epochs=1, verbose=0)
    assert np.array_equal(kernel, last.kernel.numpy())


def test_depth_zero_and_all():
    model, base = _classifier("vgg16")
    table = set_trainable(model, 0)
    assert table.loc[table.trainable, "block"].unique().tolist() == ["head"]
    assert [w.path.split("/", 1)[1] for w in model.trainable_weights] == [
        "classifier/kernel",
        "classifier/bias",
    ]
    table = set_trainable(model, "all")
    assert table.trainable.all()
    assert len(model.trainable_weights) == len(base.weights) + 2


def test_batchnorm_stays_frozen_unless_asked():
    model, base = _classifier("mobilenet_v2")
    set_trainable(model, "all")
    assert not any(layer.trainable for layer in base.layers if _is_bn(layer))

    set_trainable(model, 2, train_batchnorm=True)
    blocks = backbone_blocks(base)
    for index, block in enumerate(blocks):
        for layer in block.layers:
            if _is_bn(layer):
                assert layer.trainable == (index >= len(blocks) - 2), layer.name


def _training_layers(model, base):
    trainable = {id(w) for w in model.trainable_weights}
    return [layer.name for layer in base.layers if any(id(w) in trainable for w in layer.weights)]


def test_unit_layer_counts_layers_with_weights_to_train():
    model, base = _classifier("mobilenet_v2")
    set_trainable(model, 3, unit="layer")
    assert _training_layers(model, base) == ["block_16_depthwise", "block_16_project", "Conv_1"]

    set_trainable(model, 3, unit="layer", train_batchnorm=True)
    assert _training_layers(model, base) == ["block_16_project_BN", "Conv_1", "Conv_1_bn"]


def test_backbone_alone_keeps_its_head_trainable():
    base = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3), include_top=True)
    table = set_trainable(base, 1)
    head = table[table.block == "head"]
    assert "predictions" in head.layer.tolist() and head.trainable.all()
    assert set(table.loc[table.trainable, "block"]) == {"block5", "head"}


def test_a_frozen_parent_is_switched_back_on():
    model, base = _classifier("vgg16")
    base.trainable = False  # what a student did before calling set_trainable
    set_trainable(model, 1)
    assert base.trainable
    assert trainable_summary(model).loc["block5", "trainable_params"] > 0


def test_set_trainable_returns_one_row_per_weighted_layer():
    model, base = _classifier("vgg16")
    table = set_trainable(model, 2)
    assert list(table.columns) == ["block", "layer", "trainable", "parameters"]
    assert table.parameters.sum() == model.count_params()
    assert table.layer.tolist()[-1] == "classifier"
    assert set(table.loc[table.trainable, "block"]) == {"block4", "block5", "head"}


def test_trainable_summary_counts_per_block_and_head():
    model, base = _classifier("mobilenet_v2")
    set_trainable(model, 1)
    summary = trainable_summary(model)
    assert list(summary.columns) == ["trainable_params", "frozen_params", "total_params"]
    assert summary.index.name == "block"
    assert summary.index[-1] == "head" and summary.index[0] == "stem"
    assert len(summary) == len(backbone_blocks(base)) + 1
    assert summary.total_params.sum() == model.count_params()
    assert summary.trainable_params.sum() == sum(
        int(np.prod(w.shape)) for w in model.trainable_weights
    )
    assert summary.loc["head", "trainable_params"] == 1280 * 3 + 3
    assert (summary.trainable_params.iloc[:-2] == 0).all()
    # The BatchNorm of the last block is frozen: moving statistics plus gamma/beta.
    assert summary.loc["top", "frozen_params"] == 4 * 1280


def test_recompile_leaves_an_uncompiled_model_alone():
    model, _ = _classifier("vgg16")
    assert recompile(model) is False
    assert not model.compiled
    set_trainable(model, 1)
    assert not model.compiled


def test_layerwise_optimizer_is_rebuilt_for_the_new_blocks():
    model, _ = _classifier("vgg16")
    set_trainable(model, 1)
    _compile(model, layerwise_optimizer(model, 1e-2, factor=10, optimizer="sgd", momentum=0.5))
    set_trainable(model, 3)
    rates = learning_rates(model, by="block")
    assert rates.block.tolist() == ["block3", "block4", "block5", "head"]
    np.testing.assert_allclose(rates.multiplier, [1e-3, 1e-2, 1e-1, 1.0])
    assert model.optimizer.get_config()["momentum"] == 0.5
    model.fit(*_data(32), epochs=1, verbose=0)


def test_layerwise_optimizer_keeps_its_factor_even_when_only_the_head_trained():
    model, _ = _classifier("vgg16")
    set_trainable(model, 0)
    _compile(model, layerwise_optimizer(model, 1e-3, factor=10))
    set_trainable(model, 2)
    rates = learning_rates(model, by="block")
    np.testing.assert_allclose(rates.multiplier, [1 / 100, 1 / 10, 1.0])


def test_layerwise_lr_range_is_rebuilt_with_the_same_end_points():
    model, _ = _classifier("vgg16")
    set_trainable(model, 1)
    _compile(model, layerwise_optimizer(model, lr_range=(1e-5, 1e-3)))
    set_trainable(model, 3)
    rates = learning_rates(model, by="block")
    assert rates.learning_rate.iloc[-1] == pytest.approx(1e-3)
    assert rates.learning_rate.iloc[0] == pytest.approx(1e-5, rel=1e-6)
    ratios = rates.learning_rate.to_numpy()[1:] / rates.learning_rate.to_numpy()[:-1]
    np.testing.assert_allclose(ratios, (1e-3 / 1e-5) ** (1 / 3), rtol=1e-6)


def test_a_saved_layerwise_optimizer_is_rebuilt_from_its_own_config_without_warning(tmp_path):
    # Regression (issue 8, bug 7): the recipe lived in an attribute that saving drops, so after
    # load_model set_trainable guessed factor=3.0 when only the head had trained, with a warning
    # whose stacklevel was right through one caller only. The factor is now in get_config.
    model, _ = _classifier("vgg16")
    set_trainable(model, 0)
    _compile(model, layerwise_optimizer(model, 1e-3, factor=10))
    model.optimizer.build(model.trainable_variables)  # saved with its state, as after a fit
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert loaded.optimizer.factor == 10 and loaded.optimizer.unit == "block"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        set_trainable(loaded, 2)
    rates = learning_rates(loaded, by="block")
    np.testing.assert_allclose(rates.multiplier, [1 / 100, 1 / 10, 1.0])


def test_recompile_rebuilds_unit_layer_and_default_multiplier_from_the_config():
    model, base = _classifier("vgg16")
    set_trainable(model, 1)
    optimizer = layerwise_optimizer(model, 1e-2, factor=2, unit="layer", default_multiplier=0.5)
    _compile(model, keras.optimizers.deserialize(keras.optimizers.serialize(optimizer)))
    for layer in base.layers:
        layer.trainable = layer.name.startswith(("block4", "block5"))
    assert recompile(model)
    rates = learning_rates(model, by="layer")
    assert rates.layer.tolist()[:2] == ["block4_conv1", "block4_conv2"]
    np.testing.assert_allclose(rates.multiplier, [2.0**-k for k in range(6, -1, -1)])
    assert model.optimizer.default_multiplier == 0.5 and model.optimizer.unit == "layer"


def test_a_layerwise_optimizer_made_from_explicit_multipliers_is_copied():
    model, _ = _classifier("vgg16")
    set_trainable(model, 1)
    multipliers = {w.path: 0.5 for w in model.trainable_weights}
    _compile(model, LayerwiseAdam(1e-3, multipliers=multipliers, default_multiplier=0.25))
    set_trainable(model, 2)  # no recipe to extend: the same multipliers, the default for others
    assert model.optimizer.multipliers == multipliers
    assert model.optimizer.default_multiplier == 0.25


def test_depth_accepts_numpy_ints_and_freeze_does_not_compile():
    model, _ = _classifier("vgg16")
    table = set_trainable(model, np.int64(2))
    assert set(table.loc[table.trainable, "block"]) == {"block4", "block5", "head"}
    _compile(model)
    optimizer = model.optimizer
    freeze(model, np.int32(1))
    assert model.optimizer is optimizer  # not recompiled: the caller compiles
    assert trainable_summary(model).loc["block4", "trainable_params"] == 0
    with pytest.raises(InvalidParameterError, match="The 'depth' parameter of freeze"):
        freeze(model, 6)


@pytest.mark.parametrize("depth", [20, -1, True, 1.5, "some", None, "ALL"], ids=lambda d: repr(d))
def test_bad_depth_names_the_range_and_the_backbone(depth, refused_model):
    model = refused_model
    expected = (
        "The 'depth' parameter of set_trainable must be an int in the range [0, 5] or 'all'. "
        f"Got {depth!r} instead."
    )
    with pytest.raises(InvalidParameterError, match=re.escape(expected)):
        set_trainable(model, depth)


def test_bad_depth_message_for_efficientnet_lite0():
    if "efficientnet_lite0" not in list_backbones().index:
        pytest.skip("efficientnet_lite0 is not registered")
    base = load_backbone("efficientnet_lite0", weights=None, input_shape=(32, 32, 3))
    with pytest.raises(InvalidParameterError) as error:
        set_trainable(base, 20)
    assert str(error.value) == (
        "The 'depth' parameter of set_trainable must be an int in the range [0, 18] or 'all'. "
        "Got 20 instead."
    )


def test_other_bad_arguments(refused_model):
    model = refused_model
    with pytest.raises(InvalidParameterError, match=r"'unit'.*Did you mean 'block'"):
        set_trainable(model, 1, unit="blocks")
    with pytest.raises(InvalidParameterError, match=r"'train_batchnorm'.*must be a bool"):
        set_trainable(model, 1, train_batchnorm="yes")
    with pytest.raises(InvalidParameterError, match=r"in the range \[0, 13\] or 'all'"):
        set_trainable(model, 1000, unit="layer")  # vgg16's 13 convolutions
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(InvalidParameterError, match="None of the layers of .* registered"):
        set_trainable(plain, 1)
    with pytest.raises(
        InvalidParameterError,
        match=r"The 'model' parameter of set_trainable must be a keras.Model containing a "
        r"tlcourse backbone\. Got 'mobilenet_v2' instead",
    ):
        set_trainable("mobilenet_v2", 1)
    with pytest.raises(
        InvalidParameterError, match=r"'model' parameter of trainable_summary .* Got 'mobilenet_v2'"
    ):
        trainable_summary("mobilenet_v2")


def test_docstring_examples():
    result = doctest.testmod(freezing_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
