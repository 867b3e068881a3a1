"""Tests for tlcourse.transfer.optimizers: per-layer (discriminative) learning rates.

Models are VGG16 at 32 px with random weights: cheap to build, five clean blocks. Freezing is
done by hand (layer.trainable) so these tests do not depend on tlcourse.transfer.freezing.
"""

import doctest
import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import tlcourse.transfer.optimizers.discriminative as discriminative_module
import tlcourse.transfer.optimizers.layerwise as layerwise_module
import tlcourse.transfer.optimizers.rates as rates_module
from tlcourse.errors import InvalidParameterError
from tlcourse.models.backbones import load_backbone
from tlcourse.transfer.optimizers import (
    LayerwiseAdam,
    LayerwiseSGD,
    layerwise_class,
    layerwise_optimizer,
    learning_rates,
)

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
RTOL = 1e-6
# Tests that train use VGG16's small early blocks: cheap optimizer state and comparisons, and
# frozen blocks (4, 5) between them and the head, which must not count as groups.
TRAINED = ("block2", "block3")


def make_model(trainable_blocks=("block4", "block5"), head_trainable=True, sequential=False):
    """VGG16 (32 px, random weights) + Dense(3) head; only `trainable_blocks` train."""
    keras.utils.set_random_seed(0)
    base = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
    for layer in base.layers:
        layer.trainable = layer.name.startswith(tuple(trainable_blocks))
    head = keras.layers.Dense(3, name="head", trainable=head_trainable)
    if sequential:  # the head's variable paths get a "sequential_N/" prefix, lost on loading
        return keras.Sequential([keras.Input((32, 32, 3)), base, head])
    inputs = keras.Input((32, 32, 3))
    return keras.Model(inputs, head(base(inputs)))


@pytest.fixture(scope="module")
def shared_model():
    """make_model(blocks), built once per module: for tests that never train or unfreeze it.

    Such a test may compile it (each compiles before it reads the optimizer) or build an
    optimizer for its variables; none changes a weight or what trains.
    """
    built = {}

    def get(trainable_blocks, head_trainable=True):
        key = (tuple(trainable_blocks), head_trainable)
        if key not in built:
            built[key] = make_model(trainable_blocks, head_trainable)
        return built[key]

    return get


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32"), np.array([0, 1, 2, 0])


def group_rates(model, by="block"):
    table = learning_rates(model, by=by)
    return dict(zip(table[by], table["learning_rate"], strict=True))


def assert_rel(actual, expected, rtol=RTOL):
    assert abs(actual - expected) <= rtol * abs(expected), (actual, expected)


# --- the multipliers -----------------------------------------------------------------------


@pytest.mark.parametrize("factor", [3.0, 10])
def test_consecutive_blocks_differ_by_factor(factor, shared_model):
    model = shared_model(("block3", "block4", "block5"))
    model.compile(layerwise_optimizer(model, 1e-3, factor=factor), LOSS)
    rates = group_rates(model)
    assert list(rates) == ["block3", "block4", "block5", "head"]
    values = list(rates.values())
    base = float(model.optimizer.learning_rate)
    assert_rel(values[-1], base)
    for earlier, later in zip(values, values[1:], strict=False):
        assert_rel(later / earlier, factor)


def test_frozen_blocks_do_not_count(shared_model):
    # block4 frozen between two trainable blocks: block3 is only one group before block5.
    model = shared_model(("block3", "block5"))
    model.compile(layerwise_optimizer(model, 0.9, factor=3), LOSS)
    table = learning_rates(model, by="block")
    assert dict(zip(table["block"], table["multiplier"], strict=True)) == {
        "block3": 1 / 9,
        "block5": 1 / 3,
        "head": 1.0,
    }


def test_unit_layer_one_group_per_weighted_layer(shared_model):
    model = shared_model(("block5",))
    model.compile(layerwise_optimizer(model, 1e-2, factor=2, unit="layer"), LOSS)
    rates = group_rates(model, by="layer")
    assert list(rates) == ["block5_conv1", "block5_conv2", "block5_conv3", "head"]
    values = list(rates.values())
    for earlier, later in zip(values, values[1:], strict=False):
        assert_rel(later / earlier, 2.0)


def test_lr_range_spreads_geometrically(shared_model):
    model = shared_model(("block4", "block5"))
    model.compile(layerwise_optimizer(model, lr_range=(1e-5, 1e-3)), LOSS)
    rates = group_rates(model)
    for block, expected in {"block4": 1e-5, "block5": 1e-4, "head": 1e-3}.items():
        assert_rel(rates[block], expected, rtol=1e-6)


def test_learning_rates_per_variable_and_frozen(shared_model):
    model = shared_model(("block5",))
    model.compile(layerwise_optimizer(model, 1e-3), LOSS)
    table = learning_rates(model)
    assert list(table.columns) == [
        "path",
        "layer",
        "block",
        "parameters",
        "trainable",
        "multiplier",
        "learning_rate",
    ]
    assert table["trainable"].all()
    assert set(table["block"]) == {"block5", "head"}
    assert table.loc[table["path"] == "block5_conv1/kernel", "parameters"].item() == 3 * 3 * 512**2
    everything = learning_rates(model, include_frozen=True)
    frozen = everything[~everything["trainable"]]
    assert len(everything) == len(model.weights)
    assert (frozen["learning_rate"] == 0).all() and "block1" in set(frozen["block"])


def test_learning_rates_plain_optimizer_multiplier_one(shared_model):
    model = shared_model(("block5",))
    model.compile(keras.optimizers.Adam(0.01), LOSS)
    table = learning_rates(model)
    assert (table["multiplier"] == 1.0).all()
    np.testing.assert_allclose(table["learning_rate"], 0.01, rtol=1e-6)


# --- the actual steps -----------------------------------------------------------------------


def snapshot(model):
    return {v.path: np.array(v.numpy(), dtype="float64") for v in model.trainable_variables}


def deltas_of_one_step(model, x, y, optimizer=None):
    """Parameter deltas of one fit step (compiling with `optimizer` when given)."""
    if optimizer is not None:
        model.compile(optimizer, LOSS)
    before = snapshot(model)
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    after = snapshot(model)
    return {path: after[path] - before[path] for path in before}


def assert_steps_scaled(layerwise, plain, optimizer, weights):
    """Every layerwise delta is `multiplier` times the plain delta (least squares and pointwise).

    A delta is the difference of two float32 weights: it is known to about one float32 ulp of
    the weight, whatever its own size, hence the absolute tolerance.
    """
    moved = 0
    for path, delta in plain.items():
        multiplier = optimizer.multiplier(path)
        expected = delta * multiplier
        if not np.abs(expected).max() > 0:
            continue
        moved += 1
        ulp = 2 * np.finfo(np.float32).eps * np.abs(weights[path]).max()
        np.testing.assert_allclose(layerwise[path], expected, rtol=1e-4, atol=ulp)
        fitted = float((layerwise[path] * delta).sum() / (delta**2).sum())
        assert_rel(fitted, multiplier, rtol=1e-4)
    assert moved >= len(plain) - 2  # a dead-ReLU bias may get no gradient; kernels must move


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("sgd", {}),
        ("sgd", {"momentum": 0.9}),
        ("adam", {}),
        ("adamw", {"weight_decay": 0.5}),
        ("rmsprop", {}),
    ],
)
def test_fit_steps_follow_the_multipliers(data, name, kwargs):
    # The first step of each of these is proportional to the learning rate (moments start at
    # zero; AdamW's decoupled decay is lr * wd * w), so the layerwise delta must be the plain
    # delta at the base rate times the multiplier: the "plain optimizer at the scaled LR".
    x, y = data
    model = make_model(TRAINED)
    start = model.get_weights()
    weights = snapshot(model)
    plain = deltas_of_one_step(model, x, y, layerwise_module._SUPPORTED[name](0.01, **kwargs))
    model.set_weights(start)
    optimizer = layerwise_optimizer(model, 0.01, factor=3, optimizer=name, **kwargs)
    layerwise = deltas_of_one_step(model, x, y, optimizer)
    assert optimizer.multipliers["block2_conv1/kernel"] == pytest.approx(1 / 9, rel=RTOL)
    assert_steps_scaled(layerwise, plain, optimizer, weights)


def test_sgd_step_is_lr_times_gradient(data):
    x, y = data
    model = make_model(("block3",))
    optimizer = layerwise_optimizer(model, 0.1, factor=4, optimizer="sgd")
    model.compile(optimizer, LOSS)
    with tf.GradientTape() as tape:
        loss = LOSS(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    expected = {
        v.path: -0.1 * optimizer.multipliers[v.path] * np.asarray(g, dtype="float64")
        for v, g in zip(model.trainable_variables, grads, strict=True)
    }
    deltas = deltas_of_one_step(model, x, y)
    for path, delta in deltas.items():
        scale = np.abs(expected[path]).max()
        np.testing.assert_allclose(delta, expected[path], rtol=1e-3, atol=1e-3 * scale)


@pytest.mark.parametrize("name", sorted(layerwise_module._SUPPORTED))
def test_every_supported_optimizer_scales_its_step(name):
    cls = layerwise_class(layerwise_module._SUPPORTED[name])
    # Start at zero so that the (tiny, for Adadelta) first step is not lost to rounding.
    fast = keras.Variable(np.zeros(4, "float32"), name="fast")
    slow = keras.Variable(np.zeros(4, "float32"), name="slow")
    optimizer = cls(learning_rate=0.01, multipliers={"fast": 1.0, "slow": 0.25})
    grad = keras.ops.convert_to_tensor(np.array([0.5, -1.0, 2.0, 0.1], "float32"))
    optimizer.apply([grad, grad], [fast, slow])
    np.testing.assert_allclose(slow.numpy(), 0.25 * fast.numpy(), rtol=1e-5)
    assert np.all(fast.numpy() != 0)


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_weight_decay_follows_each_variables_rate(name):
    # Zero gradients: only the decoupled decay moves a variable, by multiplier * lr * wd * w,
    # once (Keras's own optimizer-wide decay does not run as well), and Keras's exclusions
    # (a listed variable, a name containing one of var_names) still hold.
    names = ("fast", "slow", "slow_bias", "kept")
    variables = [keras.Variable(np.full(3, 2.0, "float32"), name=n) for n in names]
    cls = layerwise_class(layerwise_module._SUPPORTED[name])
    optimizer = cls(
        0.5, weight_decay=0.1, multipliers={"fast": 1.0, "kept": 1.0}, default_multiplier=0.25
    )
    optimizer.exclude_from_weight_decay(var_list=variables[3:], var_names=["bias"])
    with pytest.warns(UserWarning, match="2 variable"):
        optimizer.apply([keras.ops.zeros(3)] * 4, variables)
    expected = [2 * (1 - 0.5 * 0.1), 2 * (1 - 0.25 * 0.5 * 0.1), 2.0, 2.0]
    for variable, value in zip(variables, expected, strict=True):
        np.testing.assert_allclose(variable.numpy(), value, rtol=1e-6, err_msg=variable.name)


def test_no_weight_decay_without_weight_decay():
    variable = keras.Variable(np.full(3, 2.0, "float32"), name="w")
    LayerwiseSGD(0.5, multipliers={"w": 0.5}).apply([keras.ops.zeros(3)], [variable])
    np.testing.assert_array_equal(variable.numpy(), 2.0)


# --- checkpoints: the variables of the optimizer it extends -----------------------------------


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("sgd", {}),
        ("sgd", {"momentum": 0.9}),
        ("adam", {"amsgrad": True}),
        ("adamw", {}),
        ("rmsprop", {"momentum": 0.5}),
    ],
)
def test_a_plain_optimizer_and_its_layerwise_twin_have_the_same_variables(
    name, kwargs, shared_model
):
    model = shared_model(("block5",))
    plain = layerwise_module._SUPPORTED[name](0.01, **kwargs)
    twin = layerwise_optimizer(model, 0.01, optimizer=name, **kwargs)
    for optimizer in (plain, twin):
        optimizer.build(model.trainable_variables)
    assert [(v.name, v.shape) for v in twin.variables] == [
        (v.name, v.shape) for v in plain.variables
    ]


@pytest.mark.slow
def test_a_plain_checkpoint_resumes_in_the_layerwise_twin(data, tmp_path):
    # Train with plain Adam, save the weights (model and optimizer state), load them into the
    # same model compiled with a layer-wise Adam at factor 1: its next step is plain Adam's.
    x, y = data
    model = make_model(TRAINED)
    model.compile(keras.optimizers.Adam(0.01), LOSS)
    model.fit(x, y, epochs=2, verbose=0)
    model.save_weights(tmp_path / "plain.weights.h5")
    twin = make_model(TRAINED)
    twin.compile(layerwise_optimizer(twin, 0.01, factor=1), LOSS)
    twin.optimizer.build(twin.trainable_variables)
    twin.load_weights(tmp_path / "plain.weights.h5")
    assert int(twin.optimizer.iterations) == 2
    for a, b in zip(twin.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    model.train_on_batch(x, y)
    twin.train_on_batch(x, y)
    for a, b in zip(twin.trainable_variables, model.trainable_variables, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def test_the_optimizers_use_no_private_keras_route_of_their_own():
    # The variable's position goes through tlcourse.keras_private (tested there).
    sources = [
        inspect.getsource(m) for m in (layerwise_module, discriminative_module, rates_module)
    ]
    assert sum(s.count("variable_index(self, variable)") for s in sources) == 1
    for private in (
        "keras.src",
        "tf.__internal__",
        "_getframe",
        "._apply_weight_decay",
        "._var_key",
        "._get_variable_index",
    ):
        assert not any(private in s for s in sources), private


# --- schedules, callbacks, saving --------------------------------------------------------------


def next_step_matches_plain_sgd(model, x, y):
    """One more layerwise SGD step equals plain SGD at the current base rate times multiplier."""
    optimizer = model.optimizer
    base = float(optimizer.learning_rate)  # before the step: a schedule moves with iterations
    start = model.get_weights()
    before = snapshot(model)
    model.train_on_batch(x, y)
    layerwise = {p: w - before[p] for p, w in snapshot(model).items()}
    model.set_weights(start)
    plain = deltas_of_one_step(model, x, y, keras.optimizers.SGD(base))
    assert_steps_scaled(layerwise, plain, optimizer, before)


def assert_ratios(model, factor, base):
    rates = group_rates(model)
    assert_rel(rates["head"], base)
    assert_rel(rates["head"] / rates["block3"], factor)
    assert_rel(rates["block3"] / rates["block2"], factor)


@pytest.mark.slow
@pytest.mark.parametrize("callback", ["plateau", "scheduler"])
def test_callbacks_change_base_rate_and_keep_ratios(data, callback):
    x, y = data
    model = make_model(TRAINED)
    model.compile(layerwise_optimizer(model, 0.02, factor=5, optimizer="sgd"), LOSS)
    if callback == "plateau":
        # min_delta this large never counts as an improvement: one reduction per epoch after
        # the first.
        cb = keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=1e9)
    else:
        cb = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    expected = 0.02 * (0.5 if callback == "plateau" else 0.25)
    assert_rel(float(model.optimizer.learning_rate), expected)
    assert_ratios(model, 5, expected)
    next_step_matches_plain_sgd(model, x, y)


@pytest.mark.slow
def test_schedule_as_base_rate(data):
    x, y = data
    model = make_model(TRAINED)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.04, decay_steps=1, decay_rate=0.5)
    model.compile(layerwise_optimizer(model, schedule, factor=3, optimizer="sgd"), LOSS)
    assert_ratios(model, 3, 0.04)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)  # two steps
    assert_ratios(model, 3, 0.01)
    next_step_matches_plain_sgd(model, x, y)  # plain SGD at schedule(2) = 0.01


@pytest.mark.slow
@pytest.mark.parametrize("sequential", [False, True], ids=["functional", "sequential"])
def test_save_load_restores_multipliers_and_resumes(data, tmp_path, sequential):
    x, y = data
    model = make_model(TRAINED, sequential=sequential)
    model.compile(layerwise_optimizer(model, 1e-3, factor=4, optimizer="adam"), LOSS)
    model.fit(x, y, epochs=1, verbose=0)
    model.optimizer.learning_rate = 5e-4  # as a callback would
    model.save(tmp_path / "model.keras")

    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer) is LayerwiseAdam
    assert loaded.optimizer.multipliers == model.optimizer.multipliers
    assert (loaded.optimizer.factor, loaded.optimizer.unit) == (4.0, "block")
    assert int(loaded.optimizer.iterations) == 1
    assert_ratios(loaded, 4, 5e-4)
    before = snapshot(loaded)
    loaded.fit(x, y, epochs=1, verbose=0)
    assert int(loaded.optimizer.iterations) == 2
    after = snapshot(loaded)
    assert all(np.isfinite(w).all() for w in after.values())
    assert not np.allclose(before["block2_conv1/kernel"], after["block2_conv1/kernel"])


def test_config_round_trip():
    optimizer = LayerwiseSGD(learning_rate=0.1, momentum=0.9, multipliers={"a/kernel": 0.5})
    config = optimizer.get_config()
    assert config["multipliers"] == {"a/kernel": 0.5} and config["momentum"] == 0.9
    clone = LayerwiseSGD.from_config(config)
    assert clone.multipliers == {"a/kernel": 0.5} and clone.default_multiplier is None
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is LayerwiseSGD and restored.multipliers == {"a/kernel": 0.5}


def test_config_keeps_the_recipe():
    optimizer = LayerwiseSGD(0.1, multipliers={"a/kernel": 0.5}, factor=2, unit="layer")
    config = optimizer.get_config()
    assert (config["factor"], config["unit"], config["lr_range"]) == (2.0, "layer", None)
    clone = LayerwiseSGD.from_config(config)
    assert (clone.factor, clone.unit, clone.lr_range) == (2.0, "layer", None)
    spread = LayerwiseAdam(1e-3, multipliers={"a": 0.1}, lr_range=(1e-5, 1e-3))
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(spread))
    assert restored.lr_range == (1e-5, 1e-3) and restored.factor is None
    # A configuration saved before the recipe existed still loads: no recipe, nothing guessed.
    old = {k: v for k, v in config.items() if k not in ("factor", "unit", "lr_range")}
    legacy = LayerwiseSGD.from_config(old)
    assert legacy.factor is None and legacy.layerwise_settings() is None


def test_layerwise_optimizer_records_its_recipe(shared_model):
    model = shared_model(("block5",))
    optimizer = layerwise_optimizer(model, 1e-3, factor=5, unit="layer", optimizer="sgd",
                                    momentum=0.9)  # fmt: skip
    assert type(optimizer) is LayerwiseSGD and optimizer.optimizer_class is keras.optimizers.SGD
    settings = optimizer.layerwise_settings()
    assert settings["base_lr"] == pytest.approx(1e-3) and settings["factor"] == 5.0
    assert settings["unit"] == "layer" and settings["optimizer"] is keras.optimizers.SGD
    assert settings["momentum"] == 0.9 and "multipliers" not in settings
    spread = layerwise_optimizer(model, lr_range=(1e-5, 1e-3))
    assert spread.lr_range == (1e-5, 1e-3) and spread.factor is None
    assert spread.layerwise_settings()["base_lr"] is None
    # Remade from its own settings, it is the same optimizer.
    again = layerwise_optimizer(model, **settings)
    assert again.multipliers == optimizer.multipliers and again.get_config() == {
        **optimizer.get_config(),
        "name": again.name,
    }


def test_the_recipe_survives_a_keras_save_and_load(tmp_path):
    model = make_model(("block5",), sequential=True)
    model.compile(layerwise_optimizer(model, lr_range=(1e-4, 1e-2), unit="layer"), LOSS)
    model.optimizer.build(model.trainable_variables)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert loaded.optimizer.lr_range == (1e-4, 1e-2) and loaded.optimizer.unit == "layer"
    assert loaded.optimizer.factor is None
    assert loaded.optimizer.multipliers == model.optimizer.multipliers


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factor": 0.5}, r"'factor' parameter of LayerwiseOptimizer must be a float >= 1 or None"),
        ({"factor": True}, r"'factor' .* Got True instead"),
        ({"unit": "blocks"}, r"'unit' parameter of LayerwiseOptimizer .*Did you mean 'block'"),
        ({"lr_range": (1, 0.1)}, r"'lr_range' parameter of LayerwiseOptimizer .* 0 < low <= high"),
        ({"factor": 3, "lr_range": (0.1, 1)}, r"'lr_range' .* None when 'factor' is given"),
        ({"default_multiplier": 0}, r"'default_multiplier' .* float > 0 or None. Got 0 inst"),
    ],
)
def test_constructor_arguments_are_checked(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        LayerwiseSGD(0.1, **kwargs)


def test_numpy_scalars_are_accepted(shared_model):
    model = shared_model(("block5",))
    optimizer = layerwise_optimizer(model, np.float32(1e-3), factor=np.int64(10))
    assert optimizer.factor == 10.0 and isinstance(optimizer.factor, float)
    assert LayerwiseSGD(0.1, multipliers={"a": np.float64(0.5)}).multipliers == {"a": 0.5}


# --- variables the optimizer does not know -----------------------------------------------------


def test_variables_unfrozen_after_the_optimizer_are_refused():
    model = make_model(("block5",))
    optimizer = layerwise_optimizer(model, 1e-3)
    for layer in model.layers[1].layers:
        if layer.name.startswith("block4"):
            layer.trainable = True
    with pytest.raises(
        InvalidParameterError, match=r"call layerwise_optimizer\(model, \.\.\.\) again"
    ):
        optimizer.build(model.trainable_variables)


def test_default_multiplier_trains_unknown_variables_with_a_warning():
    model = make_model(("block5",))
    optimizer = layerwise_optimizer(model, 1e-3, default_multiplier=0.5)
    model.layers[1].get_layer("block4_conv3").trainable = True
    with pytest.warns(UserWarning, match="without a multiplier"):
        optimizer.build(model.trainable_variables)
    assert optimizer.multiplier(model.layers[1].get_layer("block4_conv3").kernel) == 0.5


# --- bad arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"base_lr": 0}, r"'base_lr' parameter .* must be a float > 0, .* Got 0 instead"),
        ({"base_lr": -1e-3}, r"'base_lr' .* Got -0.001 instead"),
        ({"base_lr": "1e-3"}, r"'base_lr' .* Got '1e-3' instead"),
        ({"base_lr": True}, r"'base_lr' .* Got True instead"),
        ({"base_lr": None}, r"'base_lr' .* must be given, or else lr_range.* Pass the head's"),
        (
            {"base_lr": 1e-3, "factor": 0.5},
            r"'factor' parameter of layerwise_optimizer must be a float >= 1\. Got 0\.5 "
            r"instead\. The lecture's advice is 3 to 10\.",
        ),
        ({"base_lr": 1e-3, "factor": "3"}, r"'factor' parameter .* Got '3' instead"),
        ({"lr_range": (1e-3, 1e-5)}, r"'lr_range' .* 0 < low <= high.* Got \(0\.001, 1e-05\)"),
        ({"lr_range": (0, 1e-3)}, r"'lr_range' .* Got \(0, 0\.001\)"),
        ({"lr_range": 1e-3}, r"'lr_range' .* Got 0\.001 instead"),
        ({"base_lr": 1e-3, "lr_range": (1e-5, 1e-3)}, r"as base_lr .* or .* lr_range.*not both"),
        ({"base_lr": 1e-3, "unit": "blocks"}, r"'unit' .* \['block', 'layer'\].*'block'\?"),
        ({"base_lr": 1e-3, "optimizer": "adm"}, r"'optimizer' .* 'adamw'.*Did you mean 'adam'"),
        ({"base_lr": 1e-3, "optimizer": "adafactor"}, r"Adafactor cannot .* relative step"),
        ({"base_lr": 1e-3, "optimizer": keras.optimizers.Ftrl}, r"Ftrl cannot .* non-linearly"),
        (
            {"base_lr": 1e-3, "optimizer": 42},
            r"'optimizer' .* or a keras.optimizers.Optimizer subclass\. Got 42",
        ),
        (
            {"base_lr": 1e-3, "optimizer": keras.optimizers.SGD()},
            r"or a keras.optimizers.Optimizer subclass\. Got <.*SGD.*> instead",
        ),
        ({"base_lr": 1e-3, "momentum": 0.9}, r"Adam refused the arguments \['momentum'\]"),
        ({"base_lr": 1e-3, "learning_rate": 0.1}, r"Adam refused .*'learning_rate'"),
    ],
)
def test_bad_arguments(kwargs, message, shared_model):
    model = shared_model(("block5",))
    with pytest.raises(InvalidParameterError, match=message):
        layerwise_optimizer(model, **kwargs)


def test_nothing_trainable(shared_model):
    model = shared_model((), head_trainable=False)
    with pytest.raises(
        InvalidParameterError, match="a model with a trainable variable.* Everything is frozen"
    ):
        layerwise_optimizer(model, 1e-3)


def test_no_backbone_says_how_to_build_the_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(InvalidParameterError, match=r"load_backbone\(...\) and use it as a layer"):
        layerwise_optimizer(model, 1e-3)


def test_learning_rates_bad_arguments():
    model = make_model(("block5",))
    with pytest.raises(InvalidParameterError, match="needs a compiled model"):
        learning_rates(model)
    model.compile(keras.optimizers.SGD(0.1), LOSS)
    with pytest.raises(InvalidParameterError, match=r"'by' .* Did you mean 'block'"):
        learning_rates(model, by="blocks")


def test_layerwise_class_bad_arguments():
    with pytest.raises(
        InvalidParameterError, match="must be a keras.optimizers.Optimizer subclass"
    ):
        layerwise_class(int)
    with pytest.raises(
        InvalidParameterError,
        match=r"'multipliers' parameter of LayerwiseOptimizer .* or None\. Got \{'a': -1\} instead",
    ):
        LayerwiseSGD(multipliers={"a": -1})
    assert layerwise_class(LayerwiseSGD) is LayerwiseSGD


@pytest.mark.parametrize(
    "module",
    [layerwise_module, discriminative_module, rates_module],
    ids=lambda m: m.__name__,
)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 1
