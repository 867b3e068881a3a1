"""The lecture's networks: shapes, numpy and (height, width) arguments, errors, parameter counts."""

import keras
import numpy as np
import pytest

import tlcourse as tl
from tlcourse.errors import InvalidParameterError
from tlcourse.models.classifiers import (
    classification_head,
    parameter_counts,
    small_cnn,
    transfer_classifier,
)


def test_small_cnn_accepts_numpy_ints_and_height_width():
    # Regression: small_cnn(np.int64(3)) was refused ("must be an int >= 2").
    model = small_cnn(np.int64(3), image_size=np.int64(48))
    assert model.output_shape == (None, 3) and model.input_shape == (None, 48, 48, 3)
    # Regression: (height, width), as every Keras image API takes, raised inside keras.Input.
    assert small_cnn(2, image_size=(64, 48), filters=[8, 16]).input_shape == (None, 64, 48, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": 1}, "'num_classes' parameter of small_cnn must be an int >= 2"),
        ({"num_classes": 3.0}, "'num_classes' parameter of small_cnn"),
        ({"image_size": (64,)}, "'image_size' parameter of small_cnn"),
        ({"image_size": 16}, "'image_size' parameter of small_cnn must be an int >= 32"),
        ({"filters": [8, 0]}, "'filters' parameter of small_cnn"),
        ({"dropout": 1.0}, "'dropout' parameter of small_cnn must be a float in the range"),
    ],
)
def test_small_cnn_refuses_bad_arguments_naming_itself(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message.replace("(", r"\(")):
        small_cnn(**{"num_classes": 3, **kwargs})


def test_small_cnn_needs_room_for_its_pools():
    # 6 blocks halve the side 6 times: 32 px would reach 0 inside Keras.
    with pytest.raises(InvalidParameterError, match="must be an int >= 64"):
        small_cnn(3, image_size=32, filters=[4] * 6)


def test_classification_head_checks_its_arguments():
    assert classification_head(np.int64(16), 3).count_params() == 16 * 3 + 3
    with pytest.raises(InvalidParameterError, match="'num_features' parameter"):
        classification_head(0, 3)
    with pytest.raises(InvalidParameterError, match="'name' parameter"):
        classification_head(16, 3, name="")


def test_transfer_classifier_takes_height_width_and_names_itself():
    model = transfer_classifier("mobilenet_v2", np.int64(3), image_size=(64, 96), weights=None)
    assert model.input_shape == (None, 64, 96, 3) and model.output_shape == (None, 3)
    assert not model.get_layer("mobilenet_v2").trainable
    # Regression: the message blamed "the 'name' parameter of load_backbone".
    with pytest.raises(InvalidParameterError) as error:
        transfer_classifier("resnet", 3)
    assert "'backbone' parameter of transfer_classifier" in str(error.value)
    assert "Did you mean 'resnet50'?" in str(error.value)
    with pytest.raises(InvalidParameterError, match="'augment' parameter"):
        transfer_classifier("mobilenet_v2", 3, weights=None, augment="yes")
    with pytest.raises(InvalidParameterError, match="'weights' parameter of transfer_classifier"):
        transfer_classifier("mobilenet_v2", 3, weights="/no/such/file.weights.h5")


def test_transfer_classifier_reuses_a_head_that_fits_the_features():
    base = tl.load_backbone("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    head = classification_head(base.output_shape[-1], 4)
    model = transfer_classifier(base, 4, head=head, augment=False)
    assert model.layers[-1] is head and model.input_shape == (None, 32, 32, 3)
    with pytest.raises(InvalidParameterError, match="'head' parameter.*features"):
        transfer_classifier(base, 4, head=classification_head(7, 4))
    with pytest.raises(InvalidParameterError, match="'head' parameter"):
        transfer_classifier(base, 4, head=keras.layers.Dense(4))


def test_parameter_counts_table_and_errors():
    counts = parameter_counts(["mobilenet_v2", "efficientnet_lite0"], with_head_classes=None)
    assert list(counts.columns) == ["name", "parameters", "millions", "built_with"]
    assert counts.set_index("name").loc["efficientnet_lite0", "parameters"] == 3_413_024
    assert parameter_counts(("efficientnet_lite0",), np.int64(2))["parameters"].item() == 3_415_586
    with pytest.raises(InvalidParameterError, match="with_head_classes"):
        parameter_counts(["vgg16"], with_head_classes=0)
    with pytest.raises(InvalidParameterError, match="Did you mean 'vgg16'"):
        parameter_counts(["vgg"])
    with pytest.raises(InvalidParameterError, match="non-empty list of backbone names"):
        parameter_counts("vgg16")


def test_parameter_counts_moved_to_models_and_keeps_its_public_name():
    assert tl.parameter_counts is parameter_counts


@pytest.mark.slow
def test_vgg16_with_a_small_head_is_about_134_million():
    counts = parameter_counts(["vgg16"])
    vgg = counts.set_index("name").loc["vgg16"]
    assert abs(vgg["parameters"] - 134e6) / 134e6 < 0.01
    reference = keras.applications.VGG16(weights=None, include_top=True, classes=2)
    assert vgg["parameters"] == reference.count_params() == 134_268_738
    assert vgg["millions"] == pytest.approx(134.27, abs=0.01)
    assert "4096" in vgg["built_with"]


@pytest.mark.parametrize(
    ("image_size", "pooled"), [(160, (80, 80)), ((200, 320), (100, 160)), (159, None), (96, None)]
)
def test_small_cnn_pools_a_large_input_towards_its_working_side(image_size, pooled):
    # 2 x 80 px or more is average-pooled by side // 80 (the shorter side); less is kept.
    model = small_cnn(3, image_size=image_size)
    names = [layer.name for layer in model.layers]
    if pooled is None:
        assert "input_pool" not in names
    else:
        assert model.get_layer("input_pool").output.shape[1:3] == pooled
        assert names.index("input_pool") < names.index("augment_flip") < names.index("conv_0")


def test_small_cnn_input_pool_averages_pixels():
    model = small_cnn(3, image_size=160)
    image = np.zeros((1, 160, 160, 3), "float32")
    image[0, 0, 0] = 255.0  # one bright pixel: a quarter of it in the first pooled pixel
    pooled = keras.Model(model.input, model.get_layer("input_pool").output)(image).numpy()
    np.testing.assert_allclose(pooled[0, 0, 0], [0.25, 0.25, 0.25], rtol=1e-6)
    assert pooled[0, 1:, 1:].max() == 0
