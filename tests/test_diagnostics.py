"""check_transfer_setup: each classic mistake is found, and a correct setup gives no problem."""

import doctest

import keras
import numpy as np
import pytest

import tlcourse.transfer.diagnostics as diagnostics_module
from tlcourse.errors import InvalidParameterError, TLCourseError
from tlcourse.models.backbones import load_backbone
from tlcourse.transfer.diagnostics import SetupProblem, TransferSetupError, check_transfer_setup
from tlcourse.transfer.freezing import set_trainable
from tlcourse.transfer.optimizers import layerwise_optimizer

LOGITS_LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _model(name="vgg16", head=None, before=(), size=32, **backbone_kwargs):
    base = load_backbone(name, weights=None, input_shape=(size, size, 3), **backbone_kwargs)
    inputs = keras.Input((size, size, 3))
    x = inputs
    for layer in before:
        x = layer(x)
    outputs = (head or keras.layers.Dense(3, name="classifier"))(base(x))
    return keras.Model(inputs, outputs), base


def _checks(model, **kwargs):
    problems = check_transfer_setup(model, **kwargs)
    assert all(isinstance(p, SetupProblem) and p.problem and p.fix for p in problems)
    return [p.check for p in problems]


def test_a_correct_setup_has_no_problem():
    model, _ = _model("mobilenet_v2")
    model.compile("adam", LOGITS_LOSS, metrics=["accuracy"])
    set_trainable(model, 2)
    assert check_transfer_setup(model, num_classes=3) == []
    assert check_transfer_setup(model, num_classes=3, raise_on_error=True) == []


def test_trainable_batchnorm_in_a_partly_frozen_base():
    model, base = _model("mobilenet_v2")
    for layer in base.layers[:-10]:  # the tutorial way: BatchNorm of the top stays trainable
        layer.trainable = False
    model.compile("adam", LOGITS_LOSS)
    problems = check_transfer_setup(model)
    assert [p.check for p in problems] == ["batchnorm_trainable"]
    assert "'Conv_1_bn'" in problems[0].problem and "set_trainable" in problems[0].fix


def test_trainable_changed_after_compile_before_and_after_training():
    model, base = _model()
    model.compile("adam", LOGITS_LOSS)
    base.trainable = False
    assert _checks(model) == ["trainable_changed_after_compile"]

    set_trainable(model, 0)  # recompiles
    assert _checks(model) == []
    model.fit(np.zeros((2, 32, 32, 3)), np.zeros(2), verbose=0)  # builds the optimizer
    base.get_layer("block5_conv3").trainable = True
    problems = check_transfer_setup(model)
    assert [p.check for p in problems] == ["trainable_changed_after_compile"]
    assert "'block5_conv3'" in problems[0].problem


def test_layers_unfrozen_inside_a_frozen_base():
    model, base = _model()
    base.trainable = False
    base.get_layer("block5_conv3").trainable = True
    assert _checks(model) == ["trainable_inside_frozen_base"]


@pytest.mark.parametrize(
    "layer",
    [keras.layers.Rescaling(1 / 127.5, offset=-1), keras.layers.Normalization(mean=0, variance=1)],
    ids=["rescaling", "normalization"],
)
def test_preprocessing_applied_twice(layer):
    model, _ = _model("mobilenet_v2", before=[keras.layers.RandomFlip(), layer])
    set_trainable(model, 0)
    problems = check_transfer_setup(model)
    assert [p.check for p in problems] == ["preprocessing_twice"]
    assert "[-1, 1]" in problems[0].problem  # says what the backbone already does


def test_imagenet_head_left_on_and_wrong_number_of_outputs():
    model, _ = _model(include_top=True, head=keras.layers.Dense(4, activation="softmax"))
    assert _checks(model, num_classes=3) == ["imagenet_head_kept", "wrong_number_of_outputs"]


@pytest.mark.parametrize(
    ("units", "activation", "num_classes", "expected"),
    [
        (3, None, 3, []),
        (5, None, 3, ["wrong_number_of_outputs"]),
        (1, "sigmoid", 2, []),
        (2, None, 2, []),
        (1000, None, 10, ["wrong_number_of_outputs"]),
    ],
)
def test_number_of_outputs(units, activation, num_classes, expected):
    model, _ = _model(head=keras.layers.Dense(units, activation=activation))
    assert _checks(model, num_classes=num_classes) == expected


def test_feature_map_output():
    model, _ = _model(pooling=None, head=keras.layers.Dense(3))
    problems = check_transfer_setup(model, num_classes=3)
    assert [p.check for p in problems] == ["wrong_number_of_outputs"]
    assert "pooling" in problems[0].fix


@pytest.mark.parametrize(
    ("activation", "loss", "expected"),
    [
        ("softmax", LOGITS_LOSS, "activation_loss_mismatch"),
        ("softmax", "sparse_categorical_crossentropy", None),
        (None, "sparse_categorical_crossentropy", "activation_loss_mismatch"),
        (None, keras.losses.CategoricalCrossentropy(), "activation_loss_mismatch"),
        (None, LOGITS_LOSS, None),
        ("sigmoid", keras.losses.BinaryCrossentropy(from_logits=True), "activation_loss_mismatch"),
        (None, "mse", None),
    ],
)
def test_final_activation_against_loss(activation, loss, expected):
    model, _ = _model(head=keras.layers.Dense(3, activation=activation))
    model.compile("adam", loss)
    assert _checks(model) == ([expected] if expected else [])


def test_softmax_on_a_single_output():
    model, _ = _model(head=keras.layers.Dense(1, activation="softmax"))
    assert _checks(model, num_classes=2) == ["softmax_single_output"]


def test_nothing_trainable():
    model, _ = _model()
    model.trainable = False
    assert _checks(model) == ["nothing_trainable"]


def test_layerwise_optimizer_with_equal_rates():
    model, _ = _model()
    set_trainable(model, 2)
    model.compile(layerwise_optimizer(model, 1e-3, factor=1.0), LOGITS_LOSS)
    assert _checks(model) == ["layerwise_rates_equal"]
    model.compile(layerwise_optimizer(model, 1e-3, factor=3.0), LOGITS_LOSS)
    assert _checks(model) == []


def test_plain_models_get_the_generic_checks():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", LOGITS_LOSS)
    assert _checks(model, num_classes=3) == ["activation_loss_mismatch"]


def test_raise_on_error_lists_every_problem():
    model, _ = _model(before=[keras.layers.Rescaling(1 / 255)])
    with pytest.raises(TransferSetupError) as error:
        check_transfer_setup(model, num_classes=5, raise_on_error=True)
    message = str(error.value)
    assert "found 2 problem(s)" in message and "\n1. " in message and "\n2. " in message
    assert message.count("Fix: ") == 2
    assert isinstance(error.value, TLCourseError) and isinstance(error.value, ValueError)


def test_problem_prints_with_its_fix():
    text = str(SetupProblem("x", "Something is wrong.", "Do this."))
    assert text == "Something is wrong.\n  Fix: Do this."


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": 1}, "The 'num_classes' parameter of check_transfer_setup must be an int"),
        ({"num_classes": True}, "'num_classes'.*Got True instead"),
        ({"num_classes": "3"}, "'num_classes'.*Got '3' instead"),
        ({"raise_on_error": "yes"}, "The 'raise_on_error' parameter .* must be a bool"),
    ],
)
def test_bad_arguments(kwargs, message):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(InvalidParameterError, match=message):
        check_transfer_setup(model, **kwargs)


def test_numpy_arguments_are_accepted():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert check_transfer_setup(model, num_classes=np.int64(3), raise_on_error=True) == []


def test_not_a_model():
    with pytest.raises(InvalidParameterError, match="must be a keras.Model. Got 'mobilenet_v2'"):
        check_transfer_setup("mobilenet_v2")


def test_docstring_examples():
    result = doctest.testmod(diagnostics_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_trainable_batchnorm_in_a_fully_trainable_base_the_keras_io_way():
    model, base = _model("mobilenet_v2")
    base.trainable = True  # the guide's last step, relying on base(x, training=False)
    model.compile("adam", LOGITS_LOSS)
    problems = check_transfer_setup(model)
    assert [p.check for p in problems] == ["batchnorm_trainable"]
    assert "whole backbone trainable" in problems[0].problem
    set_trainable(model, "all")
    assert check_transfer_setup(model) == []
