"""The backbone registry, keras.applications rows, preprocessing inside the model, blocks."""

import subprocess
import sys

import keras
import numpy as np
import pytest
from plain_keras_loads import load_each_without_tlcourse

from tlcourse.errors import InvalidParameterError, WeightsUnavailableError
from tlcourse.models.backbones import (
    backbone_blocks,
    find_backbone,
    get_spec,
    list_backbones,
    load_backbone,
    register_backbone,
    registered_names,
)
from tlcourse.models.backbones.registry import preprocessing

KERAS_APPS = ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "resnet50", "vgg16"]
EXPECTED_BLOCKS = {
    "mobilenet_v2": 19,  # stem, block_0..block_16, top
    "mobilenet_v3_small": 13,  # stem, block_0..block_10, top
    "efficientnet_b0": 18,  # stem, block1a..block7a (16), top
    "resnet50": 17,  # stem, 16 bottleneck blocks
    "vgg16": 5,
}


@pytest.fixture(scope="module")
def backbone():
    """load_backbone(name, weights=None) at 32 px, built once per module for tests that read it."""
    built = {}

    def get(name):
        if name not in built:
            built[name] = load_backbone(name, weights=None, input_shape=(32, 32, 3))
        return built[name]

    return get


def test_list_backbones_has_every_row_with_its_record():
    table = list_backbones()
    for name in KERAS_APPS:
        assert name in table.index
    assert {"input_size", "preprocessing", "weights_source", "licence", "offline"} <= set(
        table.columns
    )
    assert table.loc[KERAS_APPS, "blocks"].tolist() == [EXPECTED_BLOCKS[n] for n in KERAS_APPS]


@pytest.mark.parametrize("name", KERAS_APPS)
def test_blocks_cover_every_weighted_layer_in_order(name, backbone):
    base = backbone(name)
    assert base.name == name and base.output_shape == (None, base.output_shape[1])
    blocks = backbone_blocks(base)
    assert len(blocks) == EXPECTED_BLOCKS[name] == get_spec(name).num_blocks
    covered = {id(layer) for block in blocks for layer in block.layers}
    preprocessing = {"preprocessing", "normalization", "rescaling"}
    uncovered = [
        layer.name
        for layer in base.layers
        if layer.weights
        and id(layer) not in covered
        and not any(layer.name.startswith(p) for p in preprocessing)
    ]
    assert uncovered == []
    order = [base.layers.index(block.layers[0]) for block in blocks]
    assert order == sorted(order)


def test_backbone_is_found_inside_a_classifier_and_after_save_load(tmp_path):
    base = load_backbone("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(3)(base(inputs))
    model = keras.Model(inputs, outputs, name="classifier")
    assert find_backbone(model)[0] is base
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    backbone, spec = find_backbone(loaded)
    assert spec.name == "mobilenet_v2"
    assert len(backbone_blocks(loaded)) == 19


def test_a_model_without_backbone_gets_a_clear_error():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)], name="plain")
    with pytest.raises(InvalidParameterError, match="No tlcourse backbone found in model 'plain'"):
        find_backbone(model)


@pytest.mark.parametrize(
    ("mode", "pixel", "expected"),
    [
        ("tf", [255.0, 0.0, 127.5], [1.0, -1.0, 0.0]),
        ("lite", [255.0, 127.0, 0.0], [1.0, 0.0, -127 / 128]),
        ("caffe", [10.0, 20.0, 30.0], [30 - 103.939, 20 - 116.779, 10 - 123.68]),
    ],
)
def test_preprocessing_modes_match_their_conventions(mode, pixel, expected):
    out = preprocessing(np.array([[[pixel]]], dtype="float32"), mode)
    np.testing.assert_allclose(np.asarray(out)[0, 0, 0], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["resnet50", "vgg16"])
def test_caffe_backbones_apply_their_own_preprocessing_once(name, backbone):
    base = backbone(name)
    kinds = [layer.name for layer in base.layers if isinstance(layer, keras.layers.Normalization)]
    assert kinds == ["preprocessing"]
    pixel = np.array([[10.0, 20.0, 30.0]], dtype="float32")  # RGB in, BGR minus means out
    out = base.get_layer("preprocessing")(pixel[..., ::-1])
    expected = [30 - 103.939, 20 - 116.779, 10 - 123.68]
    np.testing.assert_allclose(np.asarray(out).reshape(-1), expected, rtol=1e-5)


PLAIN_LOADS = ["efficientnet_lite0", "vgg16", "mobilenet_v2"]


@pytest.fixture(scope="module")
def plain_loads(tmp_path_factory, backbone):
    """Each of PLAIN_LOADS in a small transfer model, saved, then loaded by one plain process."""
    models = {}
    for name in PLAIN_LOADS:
        base = backbone(name)
        models[name] = keras.Sequential([keras.Input((32, 32, 3)), base, keras.layers.Dense(2)])
    return load_each_without_tlcourse(models, tmp_path_factory.mktemp("plain_loads"), 300)


@pytest.mark.parametrize("name", PLAIN_LOADS)
def test_a_saved_transfer_model_loads_with_plain_keras(plain_loads, name):
    # Stock layers only: a process that never imports tlcourse loads it and gets the same output.
    result = plain_loads[name]
    assert result.ok, result.line[-2000:]
    np.testing.assert_allclose(result.got, result.expected, rtol=1e-4, atol=1e-4)


def test_local_weights_path_is_loaded(tmp_path):
    source = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "vgg16.weights.h5"
    source.save_weights(path)
    copy = load_backbone("vgg16", weights=str(path), input_shape=(32, 32, 3))
    for a, b in zip(source.weights, copy.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "mobilenetv2"}, r"must be one of .*Did you mean 'mobilenet_v2'"),
        ({"name": "vgg16", "input_shape": (64, 64)}, r"\(height, width, 3\).*Got \(64, 64\)"),
        ({"name": "vgg16", "input_shape": (16, 16, 3)}, r">= 32"),
        ({"name": "vgg16", "input_shape": (64, 64, 1)}, r"RGB"),
        ({"name": "vgg16", "pooling": "mean"}, r"'pooling'.*Got 'mean'"),
        ({"name": "vgg16", "weights": "/no/such/file.h5"}, r"an existing weights file"),
        ({"name": "vgg16", "weights": 3}, r"'weights'.*Got 3"),
        ({"name": "vgg16", "include_top": "yes"}, r"'include_top'.*bool"),
        ({"name": "vgg16", "input_shape": (64.0, 64, 3)}, r"'input_shape'.*ints >= 32"),
        ({"name": "vgg16", "input_shape": "64"}, r"'input_shape'.*Got '64'"),
        ({"name": "vgg16", "pooling": ["avg"]}, r"'pooling'.*\['avg', 'max'\] or None"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message) as info:
        load_backbone(**kwargs)
    assert "parameter of load_backbone" in str(info.value)


def test_numpy_ints_are_ints():
    base = load_backbone("vgg16", weights=None, input_shape=(np.int64(32), np.int32(48), 3))
    assert base.input_shape == (None, 32, 48, 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: get_spec("resnet"), r"'name' parameter of get_spec .*Did you mean 'resnet50'"),
        (lambda: find_backbone("vgg16"), r"'model' parameter of find_backbone must be a keras"),
        (lambda: backbone_blocks(None), r"'model' parameter of backbone_blocks must be a keras"),
        (lambda: register_backbone("vgg16"), r"'spec' parameter of register_backbone"),
    ],
)
def test_every_function_names_itself(call, message):
    with pytest.raises(InvalidParameterError, match=message):
        call()


def test_registered_names_keep_registration_order():
    assert registered_names() == list(list_backbones().index)
    assert registered_names()[0] == "efficientnet_lite0"


def test_offline_keras_weights_error_names_file_place_and_alternative(tmp_path):
    # Keras reads KERAS_HOME at import, so run in a fresh interpreter with an empty cache; this
    # machine (and CI) has no route to the download host, which is exactly the offline case.
    code = (
        "from tlcourse.models.backbones import load_backbone\n"
        "from tlcourse.errors import WeightsUnavailableError\n"
        "try:\n"
        "    load_backbone('mobilenet_v2', input_shape=(96, 96, 3))\n"
        "except WeightsUnavailableError as e:\n"
        "    print('OFFLINE-ERROR', e)\n"
        "else:\n"
        "    print('LOADED')\n"
    )
    env = {
        "KERAS_HOME": str(tmp_path),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "https_proxy": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert "OFFLINE-ERROR" in result.stdout, result.stderr[-2000:]
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5" in result.stdout
    assert str(tmp_path / "models") in result.stdout
    assert "efficientnet_lite0" in result.stdout
    assert "Traceback" not in result.stderr


def test_weights_unavailable_is_a_runtime_error():
    assert issubclass(WeightsUnavailableError, RuntimeError)


def test_spec_block_rules_with_groups():
    assert get_spec("resnet50").block_of("conv3_block2_1_conv") == "conv3_block2"
    assert get_spec("efficientnet_b0").block_of("block2b_expand_conv") == "block2b"
    assert get_spec("vgg16").block_of("fc1") is None
