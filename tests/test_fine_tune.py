"""fine_tune: head first with the backbone frozen, then the last blocks at a lower rate."""

import doctest

import keras
import numpy as np
import pytest
import tensorflow as tf

import tlcourse.transfer.fine_tune as finetune_module
from tlcourse.errors import InvalidParameterError
from tlcourse.models.backbones import load_backbone
from tlcourse.transfer.diagnostics import check_transfer_setup
from tlcourse.transfer.fine_tune import FineTuneHistory, fine_tune
from tlcourse.transfer.freezing import set_trainable, trainable_summary
from tlcourse.transfer.optimizers import learning_rates

SIZE = 32
LOGITS_LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _model(compiled=True):
    keras.utils.set_random_seed(0)
    base = load_backbone("vgg16", weights=None, input_shape=(SIZE, SIZE, 3))
    model = keras.Sequential(
        [keras.Input((SIZE, SIZE, 3)), base, keras.layers.Dense(3, name="classifier")]
    )
    if compiled:
        model.compile(optimizer="sgd", loss=LOGITS_LOSS, metrics=["accuracy"])
    return model, base


def _data(n=4):
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (n, SIZE, SIZE, 3)).astype("float32"), np.arange(n) % 3


class _Recorder(keras.callbacks.Callback):
    """Per epoch: its index, the learning rate, and whether block5_conv3 has moved."""

    def __init__(self, base):
        super().__init__()
        self.kernel = base.get_layer("block5_conv3").kernel
        self.start = np.array(self.kernel.numpy(), copy=True)
        self.epochs, self.rates, self.moved = [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)
        self.rates.append(float(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        self.moved.append(not np.array_equal(self.start, self.kernel.numpy()))


def test_head_then_fine_tuning_with_one_joined_history():
    model, base = _model()
    recorder = _Recorder(base)
    data = _data()
    history = fine_tune(
        model, data, data, head_epochs=2, epochs=1, depth=1, base_lr=1e-3,
        callbacks=[recorder], verbose=0,
    )  # fmt: skip
    assert isinstance(history, FineTuneHistory)
    assert history.epoch == [0, 1, 2] and recorder.epochs == [0, 1, 2]
    assert history.stage == ["head", "head", "fine_tune"]
    assert history.fine_tune_start == 2
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.history)
    assert all(len(values) == 3 for values in history.history.values())
    # Head stage at 10 x base_lr with the backbone frozen; then base_lr and block5 trains.
    np.testing.assert_allclose(recorder.rates, [1e-2, 1e-2, 1e-3], rtol=1e-6)
    assert recorder.moved == [False, False, True]
    # The model is left as stage 2 trained it: block5 and the head, compiled.
    summary = trainable_summary(model)
    assert summary.loc[summary.trainable_params > 0].index.tolist() == ["block5", "head"]
    assert model.get_compile_config()["metrics"] == ["accuracy"]
    assert check_transfer_setup(model, num_classes=3) == []

    frame = history.to_frame()
    assert frame.columns[:2].tolist() == ["epoch", "stage"]
    assert frame.attrs["fine_tune_start"] == 2 and len(frame) == 3
    assert "fine_tune_start=2" in repr(history)


def test_layerwise_rates_with_factor_and_an_optimizer_template():
    model, base = _model(compiled=False)
    images, labels = _data()
    train = tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)
    history = fine_tune(
        model, train, head_epochs=1, epochs=1, depth=2, base_lr=1e-3, factor=10,
        loss=LOGITS_LOSS, optimizer=keras.optimizers.SGD(momentum=0.8), verbose=0,
    )  # fmt: skip
    assert history.fine_tune_start == 1
    assert "val_loss" not in history.history
    rates = learning_rates(model, by="block")
    assert rates.block.tolist() == ["block4", "block5", "head"]
    np.testing.assert_allclose(rates.learning_rate, [1e-5, 1e-4, 1e-3], rtol=1e-5)
    assert model.optimizer.get_config()["momentum"] == pytest.approx(0.8)
    assert history.settings["factor"] == 10 and history.settings["head_lr"] == pytest.approx(1e-2)
    # A later set_trainable rebuilds the same layer-wise optimizer for the new blocks.
    set_trainable(model, 3)
    rates = learning_rates(model, by="block")
    np.testing.assert_allclose(rates.learning_rate, [1e-6, 1e-5, 1e-4, 1e-3], rtol=1e-5)
    assert model.optimizer.get_config()["momentum"] == pytest.approx(0.8)


def test_skipping_a_stage():
    model, _ = _model()
    history = fine_tune(model, _data(), head_epochs=0, epochs=1, depth=1, verbose=0)
    assert history.stage == ["fine_tune"] and history.fine_tune_start == 0

    history = fine_tune(model, _data(), head_epochs=1, epochs=0, depth=1, verbose=0)
    assert history.stage == ["head"] and history.fine_tune_start is None
    # Ready for stage 2 anyway: compiled with the last blocks unfrozen.
    assert trainable_summary(model).loc["block5", "trainable_params"] > 0


def test_epochs_continue_after_early_stopping_and_head_lr_can_be_given():
    model, base = _model()
    recorder = _Recorder(base)
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=1e9, patience=1)
    history = fine_tune(
        model, _data(), head_epochs=5, epochs=2, depth=1, base_lr=1e-4, head_lr=5e-3,
        callbacks=[stop, recorder], verbose=0,
    )  # fmt: skip
    assert history.stage == ["head", "head", "fine_tune", "fine_tune"]
    assert history.epoch == [0, 1, 2, 3] and history.fine_tune_start == 2
    np.testing.assert_allclose(recorder.rates, [5e-3, 5e-3, 1e-4, 1e-4], rtol=1e-6)


def test_an_uncompiled_model_needs_a_loss():
    model, _ = _model(compiled=False)
    with pytest.raises(InvalidParameterError, match=r"fine_tune needs a loss.*loss=\.\.\."):
        fine_tune(model, _data(), epochs=1, verbose=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"head_epochs": -1}, "The 'head_epochs' parameter of fine_tune must be an int >= 0"),
        ({"epochs": 1.5}, "The 'epochs' parameter of fine_tune must be an int >= 0. Got 1.5"),
        ({"base_lr": 0}, "The 'base_lr' parameter of fine_tune must be a float > 0. Got 0"),
        ({"base_lr": "1e-3"}, "'base_lr'.*Got '1e-3' instead"),
        ({"head_lr": -1.0}, "The 'head_lr' parameter of fine_tune must be a float > 0 or None"),
        ({"batch_size": 0}, "The 'batch_size' parameter of fine_tune must be None or an int >= 1"),
        ({"factor": 1}, "The 'factor' parameter of fine_tune must be None or a float > 1"),
        ({"factor": 0.5}, "'factor'.*Got 0.5 instead"),
        (
            {"depth": 9},
            r"The 'depth' parameter of fine_tune must be an int in the range \[0, 5\] or 'all'",
        ),
        ({"unit": "blocks"}, "The 'unit' parameter of fine_tune.*Did you mean 'block'"),
        ({"train_batchnorm": 1}, "The 'train_batchnorm' parameter of fine_tune must be a bool"),
        ({"optimizer": "adamm"}, "The 'optimizer' parameter of fine_tune must be an optimizer"),
        ({"train": None}, "The 'train' parameter of fine_tune must be a tf.data.Dataset"),
        ({"callbacks": "early"}, "The 'callbacks' parameter of fine_tune must be None or a list"),
        ({"verbose": 3}, r"The 'verbose' parameter of fine_tune must be 'auto' or an int in"),
        (
            {"cache": "yes"},
            r"The 'cache' parameter of fine_tune must be 'auto', a bool .* or a tlcourse\.Activ",
        ),
        (
            {"optimizer": keras.optimizers.Ftrl, "factor": 3},
            r"The 'optimizer' parameter of fine_tune must be .* when factor is given\. Got "
            r"<class '.*Ftrl'> instead\.",
        ),
        ({"train": (np.zeros(2),)}, r"'train' parameter of fine_tune must be .*tuple \(images"),
    ],
)
def test_bad_arguments_are_refused_before_any_training(kwargs, message):
    model, _ = _model()
    optimizer = model.optimizer
    arguments = {"train": _data(), "epochs": 1, "verbose": 0, **kwargs}
    with pytest.raises(InvalidParameterError, match=message):
        fine_tune(model, **arguments)
    assert model.optimizer is optimizer and not model.optimizer.built


def test_a_model_without_backbone_is_refused():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(InvalidParameterError, match="None of the layers of .* is a registered"):
        fine_tune(model, (np.zeros((2, 4)), np.zeros(2)), verbose=0)
    with pytest.raises(InvalidParameterError, match="The 'model' parameter of fine_tune must be"):
        fine_tune("vgg16", (np.zeros((2, 4)), np.zeros(2)), verbose=0)


def test_numpy_scalars_and_the_layerwise_recipe_kept_by_the_optimizer():
    model, _ = _model()
    history = fine_tune(
        model, _data(), head_epochs=np.int64(0), epochs=np.int32(1), depth=np.int64(1),
        base_lr=np.float32(1e-3), factor=np.float64(4), verbose=0,
    )  # fmt: skip
    assert history.stage == ["fine_tune"]
    assert (model.optimizer.factor, model.optimizer.unit) == (4.0, "block")
    assert not hasattr(model.optimizer, "_tlcourse_layerwise_settings")


def test_docstring_examples():
    result = doctest.testmod(finetune_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
