"""ImageNet class names, decode_predictions, and classifying image files."""

from __future__ import annotations

import matplotlib.cbook as cbook
import numpy as np
import pytest
from PIL import Image

from tlcourse.errors import DatasetError, InvalidParameterError, TLCourseError
from tlcourse.models.imagenet import (
    decode_predictions,
    imagenet_class_names,
    load_image_for_imagenet,
    predict_image_files,
)

GRACE_HOPPER = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


pytestmark = pytest.mark.usefixtures("use_converted_cache")  # see conftest.py


# --- class names ---


def test_class_names():
    names = imagenet_class_names()
    # ImageNet's own quirk: "crane" is both a bird (134) and a machine (517); the index tells.
    assert len(names) == 1000 and len(set(names)) == 999 and names[134] == names[517] == "crane"
    assert names[0] == "tench, Tinca tinca" and names[999].startswith("toilet tissue")
    names.clear()  # a fresh list each call: the caller may change it
    assert len(imagenet_class_names()) == 1000


def test_class_names_file_with_wrong_length(monkeypatch, tmp_path):
    (tmp_path / "imagenet_classes.txt").write_text("cat\ndog\n")
    monkeypatch.setenv("TLCOURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(TLCourseError, match="1000 non-empty lines"):
        imagenet_class_names()


# --- decode_predictions ---


def test_decode_orders_by_probability():
    probs = np.full((2, 1000), 1e-4, dtype="float32")
    probs[0, [3, 1, 7]] = [0.5, 0.3, 0.1]
    probs[1, 999] = 0.9
    decoded = decode_predictions(probs, top=3)
    assert [i for i, _, _ in decoded[0]] == [3, 1, 7]
    index, name, prob = decoded[0][0]
    assert (type(index), type(name), type(prob)) == (int, str, float)
    assert name.startswith("tiger shark") and prob == pytest.approx(0.5)
    assert decoded[1][0][0] == 999 and len(decoded[1]) == 3
    assert len(decode_predictions(probs.tolist(), top=1000)[0]) == 1000
    assert decode_predictions(probs, top=np.int64(2))[0][1][0] == 1


def test_decode_ties_keep_class_order():
    assert [i for i, _, _ in decode_predictions(np.zeros((1, 1000)), top=4)[0]] == [0, 1, 2, 3]


@pytest.mark.parametrize("top", [0, 1001, -1, 2.5, "5", True, None])
def test_decode_refuses_bad_top(top):
    with pytest.raises(
        InvalidParameterError,
        match=r"'top' parameter of decode_predictions "
        r"must be an int in the range \[1, 1000\]\. Got",
    ):
        decode_predictions(np.zeros((1, 1000)), top=top)


@pytest.mark.parametrize(
    ("probs", "shape"),
    [
        (np.zeros(1000), r"\(1000,\)"),
        (np.zeros((2, 10)), r"\(2, 10\)"),
        (np.zeros((1, 1000, 1)), r"\(1, 1000, 1\)"),
        ([["a"] * 1000], r"\[\['a'"),
    ],
)
def test_decode_refuses_bad_shapes(probs, shape):
    with pytest.raises(InvalidParameterError, match=r"shape \(N, 1000\).*Got .*" + shape):
        decode_predictions(probs)


# --- loading image files ---


def test_load_image_resizes_and_crops(tmp_path):
    # A wide image: left third red, middle green, right third blue; the crop keeps the middle.
    array = np.zeros((100, 300, 3), dtype="uint8")
    array[:, :100, 0] = array[:, 100:200, 1] = array[:, 200:, 2] = 255
    path = tmp_path / "wide.png"
    Image.fromarray(array).save(path)
    image = load_image_for_imagenet(path)
    assert image.shape == (224, 224, 3) and image.dtype == np.float32
    assert image[112, 112].tolist() == [0.0, 255.0, 0.0]
    assert load_image_for_imagenet(path, size=96).shape == (96, 96, 3)


def test_load_image_greyscale_and_transparent(tmp_path):
    Image.new("L", (50, 40), 80).save(tmp_path / "grey.png")
    assert np.all(load_image_for_imagenet(tmp_path / "grey.png") == 80)
    Image.new("RGBA", (30, 30), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    # Fully transparent pixels become white, not the hidden red nor black.
    assert np.all(load_image_for_imagenet(tmp_path / "clear.png") == 255)


@pytest.mark.parametrize("content", [b"", b"this is not an image", "truncated"])
def test_unreadable_image_names_the_file(tmp_path, content):
    path = tmp_path / "broken photo.jpg"
    if content == "truncated":
        content = open(GRACE_HOPPER, "rb").read()[:5000]
    path.write_bytes(content)
    with pytest.raises(DatasetError, match="broken photo.jpg"):
        load_image_for_imagenet(path)


def test_missing_image(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_image_for_imagenet(tmp_path / "nope.jpg")


# --- predict_image_files ---


def test_predict_image_files(tmp_path):
    copy = tmp_path / "grace.png"
    Image.open(GRACE_HOPPER).save(copy)
    results = predict_image_files([GRACE_HOPPER, copy], top=5)
    assert len(results) == 2 and all(len(r) == 5 for r in results)
    assert "military uniform" in [name for _, name, _ in results[0]]
    assert [i for i, _, _ in results[0]] == [i for i, _, _ in results[1]]
    assert sum(p for _, _, p in results[0]) <= 1.0
    assert len(predict_image_files(GRACE_HOPPER, top=1)) == 1


def test_predict_image_files_errors(tmp_path):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DatasetError, match="corrupt.jpg"):
        predict_image_files([GRACE_HOPPER, bad])
    with pytest.raises(InvalidParameterError, match="'top' parameter"):
        predict_image_files([GRACE_HOPPER], top=0)
    with pytest.raises(InvalidParameterError, match="at least one image"):
        predict_image_files([])
