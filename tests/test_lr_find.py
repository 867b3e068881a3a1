"""lr_find: measures, stops on divergence, suggests, and leaves the model as it was."""

import doctest

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import tlcourse.transfer.lr_find as lr_finder_module
from tlcourse.errors import InvalidParameterError
from tlcourse.transfer.freezing import set_trainable
from tlcourse.transfer.lr_find import LRFindResult, _suggest, lr_find
from tlcourse.transfer.optimizers import layerwise_optimizer, learning_rates


def _regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32")).reshape(-1, 1)


def _linear(optimizer="sgd"):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _small_cnn():
    """Conv + trainable BatchNorm + Dropout: every kind of state lr_find could disturb."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(3),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _images(n=16):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 8, 8, 3)).astype("float32"), np.arange(n) % 3


def _state(model):
    return [np.array(v.numpy(), copy=True) for v in model.variables + model.optimizer.variables]


def _same(before, model):
    after = model.variables + model.optimizer.variables
    return len(before) == len(after) and all(
        np.array_equal(b, v.numpy()) for b, v in zip(before, after, strict=True)
    )


def test_the_model_is_unchanged_after_the_test():
    model = _small_cnn()
    images, labels = _images()
    model.fit(images, labels, epochs=1, batch_size=8, verbose=0)  # optimizer with state
    optimizer, before = model.optimizer, _state(model)

    result = lr_find(model, (images, labels), num_steps=20, end_lr=10.0, batch_size=8)

    assert isinstance(result, LRFindResult) and len(result.history) > 3
    assert model.optimizer is optimizer and int(optimizer.iterations) == 2
    assert _same(before, model)  # weights, BatchNorm statistics, seeds, optimizer slots
    model.fit(images, labels, epochs=1, batch_size=8, verbose=0)  # still trains
    assert int(optimizer.iterations) == 4


def test_the_model_is_restored_when_the_test_is_interrupted():
    class Failing(keras.utils.PyDataset):
        def __len__(self):
            return 10

        def __getitem__(self, index):
            if index == 3:
                raise KeyboardInterrupt
            return _images(8)

    model = _small_cnn()
    optimizer, before = model.optimizer, _state(model)
    with pytest.raises(KeyboardInterrupt):
        lr_find(model, Failing(), num_steps=10)
    assert model.optimizer is optimizer and not optimizer.built
    assert _same(before, model)


def test_learning_rates_grow_exponentially_and_the_loss_is_recorded():
    model = _linear()
    result = lr_find(model, _regression(), start_lr=1e-4, end_lr=1e-1, num_steps=13)
    table = result.history
    assert list(table.columns) == ["lr", "loss", "smoothed_loss"]
    assert len(table) == 13 and not result.diverged
    np.testing.assert_allclose(table.lr, np.geomspace(1e-4, 1e-1, 13))
    assert table.smoothed_loss.iloc[0] == pytest.approx(table.loss.iloc[0])
    assert table.loss.iloc[-2:].mean() < table.loss.iloc[:2].mean()  # it learned


def test_divergence_stops_the_test_and_the_suggestion_is_below_it():
    model = _linear()
    result = lr_find(model, _regression(), start_lr=1e-4, end_lr=100.0, num_steps=60)
    table = result.history
    assert result.diverged and len(table) < 60
    last = table.smoothed_loss.iloc[-1]
    assert not np.isfinite(last) or last > 4 * table.smoothed_loss.iloc[:-1].min()
    # SGD on this problem diverges above lr ~ 2 / largest curvature (about 0.15 here).
    assert result.method == "steepest"
    assert 1e-3 <= result.suggested_lr == result.steepest_lr <= 0.3
    assert 1e-3 <= result.minimum_lr <= 1.0
    minimum = lr_find(model, _regression(), 1e-4, 100.0, 60, suggestion="minimum")
    assert minimum.method == "minimum" and minimum.suggested_lr == minimum.minimum_lr
    assert "suggested_lr=" in repr(result)


def test_suggestions_on_known_curves():
    lrs = np.geomspace(1e-5, 1, 11)
    falling = pd.DataFrame({"lr": lrs, "smoothed_loss": [5, 5, 5, 5, 4, 2, 1.5, 1.2, 1, 3, 9]})
    steepest, minimum = _suggest(falling)
    assert steepest == pytest.approx(lrs[4]) and minimum == pytest.approx(lrs[8] / 10)

    rising = pd.DataFrame({"lr": lrs, "smoothed_loss": np.linspace(1, 3, 11)})
    steepest, minimum = _suggest(rising)
    assert steepest is None and minimum == pytest.approx(1e-5)  # never below the first rate tried


def test_rising_loss_falls_back_to_minimum():
    model = _linear()
    x, y = _regression()
    result = lr_find(model, (x, y), start_lr=10.0, end_lr=1e4, num_steps=10)
    assert result.diverged and result.method == "minimum" and result.steepest_lr is None


def test_arrays_are_cut_into_whole_batches_only(monkeypatch):
    # Regression (issue 11): 98 images in batches of 32 gave every fourth step a batch of 2,
    # whose loss had nothing to do with the learning rate (notebook 04's range test).
    sizes = []
    real = keras.Model.train_on_batch

    def record(self, x, *args, **kwargs):
        sizes.append(len(x))
        return real(self, x, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "train_on_batch", record)
    images, labels = _images(10)
    lr_find(_small_cnn(), (images, labels), num_steps=6, end_lr=1e-2, batch_size=4)
    assert sizes == [4] * 6  # 10 images: two batches of 4, again and again; 2 unused
    sizes.clear()
    lr_find(_small_cnn(), (images, labels), num_steps=3, end_lr=1e-2, batch_size=32)
    assert sizes == [10] * 3  # fewer images than one batch: all of them, every step


def test_arrays_sorted_by_class_give_mixed_batches(monkeypatch):
    # Regression (issue 11): Dataset.as_arrays sorts by class, and batches cut in that order
    # held one class each; their losses zigzagged far more than the learning rate moved them.
    seen = []
    real = keras.Model.train_on_batch

    def record(self, x, y, *args, **kwargs):
        seen.append(np.asarray(y).tolist())
        return real(self, x, y, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "train_on_batch", record)
    images = _images(24)[0]
    labels = np.repeat(np.arange(3), 8)  # sorted: 8 of class 0, then 8 of 1, then 8 of 2
    lr_find(_small_cnn(), (images, labels), num_steps=6, end_lr=1e-2, batch_size=8)
    assert all(len(set(batch)) > 1 for batch in seen), seen
    assert seen[:3] == seen[3:]  # the same three batches, cycled
    assert sorted(sum(seen[:3], [])) == sorted(labels.tolist())  # every image once per pass


def test_tf_data_and_pydataset_inputs():
    images, labels = _images()
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    result = lr_find(_small_cnn(), dataset, num_steps=10, end_lr=1e-2)
    assert len(result.history) == 10  # cycles through 4 batches

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return images[index * 4 : index * 4 + 4], labels[index * 4 : index * 4 + 4]

    assert len(lr_find(_small_cnn(), Batches(), num_steps=5, end_lr=1e-2).history) == 5


def test_a_layerwise_optimizer_keeps_its_ratios():
    from tlcourse.models.backbones import load_backbone

    base = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
    model = keras.Sequential([keras.Input((32, 32, 3)), base, keras.layers.Dense(3)])
    set_trainable(model, 1)
    optimizer = layerwise_optimizer(model, 1e-3, factor=10)
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = _state(model)
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    result = lr_find(model, (images, np.arange(4) % 3), num_steps=4, batch_size=2)
    assert len(result.history) == 4
    assert model.optimizer is optimizer and _same(before, model)
    assert learning_rates(model).multiplier.nunique() == 2


@pytest.mark.parametrize("wrap", [False, True], ids=["plain", "loss_scale"])
def test_an_optimizer_with_a_schedule_is_tested_and_keeps_its_schedule(wrap):
    # Regression (issue 8, bug 3): the test set optimizer.learning_rate on a copy that still
    # had the schedule, and Keras raised a raw TypeError ("its learning rate is not settable").
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=1, decay_rate=0.5)
    optimizer = keras.optimizers.SGD(schedule)
    if wrap:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model = _linear(optimizer)
    before = _state(model)
    result = lr_find(model, _regression(), start_lr=1e-4, end_lr=1e-1, num_steps=6)
    np.testing.assert_allclose(result.history.lr, np.geomspace(1e-4, 1e-1, 6))
    assert model.optimizer is optimizer and _same(before, model)
    inner = optimizer.inner_optimizer if wrap else optimizer
    assert inner._learning_rate is schedule
    model.fit(*_regression(), batch_size=64, epochs=2, verbose=0)
    assert float(inner.learning_rate) == pytest.approx(0.05 * 0.5**2)  # the schedule goes on


def test_a_loss_not_finite_at_the_first_step_gives_no_suggestion_and_says_why():
    # Regression (issue 8, bug 4): numpy's "attempt to get argmin of an empty sequence".
    model = _linear()
    x, y = _regression()
    x[:, 0] = np.nan  # in every image, so in the first batch whatever the shuffling
    before = _state(model)
    with pytest.warns(UserWarning, match=r"loss was not finite \(nan\) at the first step") as w:
        result = lr_find(model, (x, y), num_steps=10, batch_size=16)
    assert w[0].filename == __file__
    assert result.suggested_lr is None and result.steepest_lr is None
    assert result.minimum_lr is None and result.method == "none"
    assert result.diverged and len(result.history) == 1
    assert "NaN or inf in the images and labels" in result.message
    assert "suggested_lr=None" in repr(result)
    assert _same(before, model)  # the NaN step is undone too


def test_a_normal_result_has_no_message_and_numpy_arguments_work():
    result = lr_find(
        _linear(), _regression(), start_lr=np.float32(1e-4), end_lr=np.float64(0.1),
        num_steps=np.int64(5), batch_size=np.int32(16), beta=np.float32(0.9),
    )  # fmt: skip
    assert len(result.history) == 5 and result.message == ""


def test_data_without_a_batch_is_refused():
    empty = (np.zeros((0, 4), "float32"), np.zeros((0, 1), "float32"))
    with pytest.raises(InvalidParameterError, match="'train' parameter of lr_find must hold"):
        lr_find(_linear(), empty, num_steps=3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_lr": 0}, "The 'start_lr' parameter of lr_find must be a float > 0. Got 0"),
        ({"end_lr": float("inf")}, "The 'end_lr' parameter of lr_find must be a float > 1e-07"),
        ({"start_lr": 1.0, "end_lr": 0.1}, r"'end_lr' .* must be a float > 1\.0\. Got 0\.1"),
        ({"num_steps": 1}, "The 'num_steps' parameter of lr_find must be an int >= 2. Got 1"),
        ({"num_steps": 10.0}, "'num_steps'.*Got 10.0 instead"),
        ({"beta": 1.0}, r"The 'beta' parameter of lr_find must be a float in the range \[0, 1\)"),
        ({"diverge": 1}, "The 'diverge' parameter of lr_find must be a float > 1"),
        ({"batch_size": 0}, "The 'batch_size' parameter of lr_find must be an int >= 1"),
        ({"suggestion": "steep"}, "The 'suggestion' parameter of lr_find.*Did you mean"),
        ({"train": [1, 2, 3]}, "The 'train' parameter of lr_find must be a tf.data.Dataset"),
        ({"train": (np.zeros(3),)}, "The 'train' parameter of lr_find must be a tf.data.Dataset"),
    ],
)
def test_bad_arguments(kwargs, message):
    arguments = {"train": _regression(), **kwargs}
    with pytest.raises(InvalidParameterError, match=message):
        lr_find(_linear(), **arguments)


def test_an_uncompiled_model_is_refused():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(
        InvalidParameterError,
        match="The 'model' parameter of lr_find must be a keras.Model compiled with a loss",
    ):
        lr_find(model, _regression())
    with pytest.raises(InvalidParameterError, match="compiled with a loss. Got 'model'"):
        lr_find("model", _regression())


def test_docstring_examples():
    result = doctest.testmod(lr_finder_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
