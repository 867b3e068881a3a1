"""load_dataset: splits, decoding of awkward files, errors, the shipped photos, online sets."""

import io
import tarfile
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from tlcourse.data import SkippedImageWarning, list_datasets, load_dataset
from tlcourse.errors import DatasetError, InvalidParameterError

# Distinct, saturated colours: a decoded image's mean colour tells which class it came from.
COLOURS = {"blue": (0, 0, 255), "green": (0, 255, 0), "red": (255, 0, 0)}
SIZE = 32


def _make_folder(root: Path, per_class=(20, 12, 8), ext=".png") -> Path:
    for (name, colour), n in zip(COLOURS.items(), per_class, strict=False):
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (SIZE, SIZE), colour).save(root / name / f"img{i:02d}{ext}")
    return root


def _load(folder, **kwargs):
    kwargs.setdefault("image_size", SIZE)
    return load_dataset(folder, **kwargs)


def _jpeg_bytes(size=(SIZE, SIZE), colour=(255, 0, 0)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def folder(tmp_path):
    return _make_folder(tmp_path / "shapes")


# --- splits -----------------------------------------------------------------------------------


def test_splits_are_stratified_disjoint_and_cover_every_file(folder):
    ds = _load(folder, val_fraction=0.25, test_fraction=0.25)
    assert ds.class_names == ("blue", "green", "red")
    sets = {s: set(ds.files[s]) for s in ("train", "val", "test")}
    assert not (
        sets["train"] & sets["val"] or sets["train"] & sets["test"] or sets["val"] & sets["test"]
    )
    assert set().union(*sets.values()) == set(folder.rglob("*.png"))
    counts = ds.counts()
    # Per class n=20/12/8: test and val round(n / 4) each (half up), the rest trains.
    assert counts["test"].tolist() == [5, 3, 2, 10]
    assert counts["val"].tolist() == [5, 3, 2, 10]
    assert counts["train"].tolist() == [10, 6, 4, 20]
    for split in ("train", "val", "test"):
        names = [ds.class_names[i] for i in ds.labels[split]]
        assert names == [p.parent.name for p in ds.files[split]]


def test_same_seed_same_split_other_seed_other_split(folder):
    a, b, c = _load(folder, seed=3), _load(folder, seed=3), _load(folder, seed=4)
    assert a.files == b.files
    assert a.files["test"] != c.files["test"]


def test_test_split_does_not_depend_on_val_fraction_or_train_per_class(folder):
    base = _load(folder, val_fraction=0.2)
    other = _load(folder, val_fraction=0.4, train_per_class=2)
    assert base.files["test"] == other.files["test"]


def test_train_per_class_subsamples_nested_subsets(folder):
    small, large = _load(folder, train_per_class=2), _load(folder, train_per_class=4)
    assert small.counts()["train"].tolist() == [2, 2, 2, 6]
    assert set(small.files["train"]) < set(large.files["train"])
    assert small.files["val"] == large.files["val"]


def test_train_per_class_larger_than_a_class_is_refused(folder):
    with pytest.raises(InvalidParameterError, match=r"'train_per_class'.*'red' has 4, of"):
        _load(folder, train_per_class=5)


def test_fractions_that_leave_a_class_nothing_to_train_on(tmp_path):
    folder = _make_folder(tmp_path / "tiny", per_class=(4, 4, 2))
    with pytest.raises(DatasetError, match=r"'red' has 2 usable image.*none is left for training"):
        _load(folder, val_fraction=0.3, test_fraction=0.3)


def test_zero_fraction_gives_no_pipeline(folder):
    ds = _load(folder, val_fraction=0.0)
    assert ds.val is None and ds.files["val"] == ()
    assert ds.as_arrays("val")[0].shape == (0, SIZE, SIZE, 3)


# --- pipelines --------------------------------------------------------------------------------


def test_pipelines_give_float_rgb_batches_aligned_with_labels(folder):
    ds = _load(folder, batch_size=8)
    images, labels = next(iter(ds.train))
    assert images.shape == (8, SIZE, SIZE, 3)
    assert images.dtype.name == "float32" and labels.dtype.name == "int32"
    colours = np.array(list(COLOURS.values()), dtype=np.float32)
    for split, pipeline in (("train", ds.train), ("test", ds.test)):
        for batch_images, batch_labels in pipeline:
            means = batch_images.numpy().mean(axis=(1, 2))
            np.testing.assert_allclose(means, colours[batch_labels.numpy()], atol=2)
        arrays, array_labels = ds.as_arrays(split)
        assert arrays.dtype == np.float32 and array_labels.tolist() == ds.labels[split].tolist()
        np.testing.assert_allclose(arrays.mean(axis=(1, 2)), colours[array_labels], atol=2)


def test_train_reshuffles_every_epoch_and_test_keeps_file_order(folder):
    ds = _load(folder, batch_size=64)
    epochs = [next(iter(ds.train))[1].numpy().tolist() for _ in range(3)]
    assert len({tuple(e) for e in epochs}) > 1
    assert next(iter(ds.test))[1].numpy().tolist() == ds.labels["test"].tolist()


def test_as_arrays_in_uint8_is_the_same_images_and_a_bad_dtype_is_named(folder):
    ds = _load(folder)
    small, labels = ds.as_arrays("test", "uint8")
    assert small.dtype == np.uint8 and labels.tolist() == ds.labels["test"].tolist()
    np.testing.assert_array_equal(small.astype(np.float32), ds.as_arrays("test")[0])
    small[...] = 0  # a copy: the dataset keeps its images
    assert ds.as_arrays("test", "uint8")[0].any()
    with pytest.raises(InvalidParameterError, match=r"'dtype' parameter of Dataset.as_arrays"):
        ds.as_arrays("test", "float64")


def test_a_copy_shares_the_images_and_has_its_own_pipelines(folder):
    ds = _load(folder, batch_size=64)
    copy = ds.copy()
    assert copy.files == ds.files and copy.batch_size == 64 and copy.seed == ds.seed
    assert copy._images is ds._images  # nothing decoded or copied again
    assert copy.train is not ds.train and copy.val is not ds.val and copy.test is not ds.test
    assert sorted(next(iter(copy.train))[1].numpy().tolist()) == sorted(ds.labels["train"])
    assert next(iter(copy.test))[1].numpy().tolist() == ds.labels["test"].tolist()
    empty_val = _load(folder, val_fraction=0.0).copy()
    assert empty_val.val is None


def test_resize_crop_and_pad(tmp_path):
    folder = _make_folder(tmp_path / "wide", per_class=(3, 3))
    wide = Image.new("RGB", (4 * SIZE, 2 * SIZE), (255, 0, 0))
    for path in (folder / "blue").glob("*.png"):
        wide.save(path)
    cropped = _load(folder, val_fraction=0, test_fraction=0, resize="crop").as_arrays()[0]
    padded = _load(folder, val_fraction=0, test_fraction=0, resize="pad").as_arrays()[0]
    assert (cropped[0] == (255, 0, 0)).all()
    # Scaled to SIZE x SIZE/2 and centred: white bands above and below.
    assert (padded[0, 0] == 255).all() and (padded[0, -1] == 255).all()
    assert (padded[0, SIZE // 2] == (255, 0, 0)).all()


def test_image_size_takes_height_width_as_keras_does(tmp_path):
    # Regression: load_dataset(image_size=(96, 96)) was refused ("must be an int").
    folder = _make_folder(tmp_path / "hw", per_class=(4, 4))
    ds = _load(folder, image_size=(SIZE, 2 * SIZE), val_fraction=0, test_fraction=0.25)
    assert ds.image_size == (SIZE, 2 * SIZE)
    assert next(iter(ds.train))[0].shape[1:] == (SIZE, 2 * SIZE, 3)
    assert ds.as_arrays("test")[0].shape[1:] == (SIZE, 2 * SIZE, 3)
    assert ds.as_arrays("val")[0].shape == (0, SIZE, 2 * SIZE, 3)
    assert "image_size=(32, 64)" in repr(ds)
    # One int is a square, stored the same way.
    assert _load(folder, image_size=SIZE).image_size == (SIZE, SIZE)
    assert _load(folder, image_size=[SIZE, SIZE]).image_size == (SIZE, SIZE)


def test_crop_and_pad_to_a_wide_size(tmp_path):
    folder = _make_folder(tmp_path / "sq", per_class=(3, 3))  # square images, one colour each
    kwargs = {"image_size": (SIZE, 2 * SIZE), "val_fraction": 0, "test_fraction": 0}
    cropped = _load(folder, resize="crop", **kwargs).as_arrays()[0]
    padded = _load(folder, resize="pad", **kwargs).as_arrays()[0]
    assert (cropped[0] == (0, 0, 255)).all()
    # Scaled to SIZE x SIZE and centred: white bands left and right.
    assert (padded[0, :, 0] == 255).all() and (padded[0, :, -1] == 255).all()
    assert (padded[0, :, SIZE] == (0, 0, 255)).all()


def test_numpy_scalars_are_accepted_everywhere(folder):
    # Regression of the three integer rules: numpy ints and floats are ints and floats.
    plain = _load(folder, seed=3, batch_size=8, train_per_class=2, val_fraction=0.25)
    numpy = _load(
        folder,
        image_size=np.int64(SIZE),
        seed=np.int64(3),
        batch_size=np.int32(8),
        train_per_class=np.int64(2),
        val_fraction=np.float64(0.25),
        test_fraction=np.float32(0.25),
    )
    assert numpy.files == plain.files and numpy.seed == 3 and type(numpy.seed) is int
    assert numpy.image_size == (SIZE, SIZE) and type(numpy.image_size[0]) is int


# --- awkward files ----------------------------------------------------------------------------


def _write_bad(kind: str, path: Path) -> None:
    if kind == "zero_bytes":
        path.write_bytes(b"")
    elif kind == "truncated_jpeg":
        data = _jpeg_bytes(size=(64, 64))
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text_named_jpg":
        path.write_text("not a picture\n")


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("zero_bytes", "empty file"),
        ("truncated_jpeg", "cannot decode"),
        ("text_named_jpg", "not an image"),
    ],
)
def test_unusable_files_are_skipped_with_a_warning_naming_them(folder, kind, reason):
    bad = folder / "red" / f"bad_{kind}.jpg"
    _write_bad(kind, bad)
    with pytest.warns(SkippedImageWarning, match=rf"{bad.name}: {reason}") as record:
        ds = _load(folder)
    assert len(record) == 1 and str(bad) in str(record[0].message)
    assert ds.skipped == ((bad, ds.skipped[0][1]),)
    assert bad not in set().union(*ds.files.values())
    assert ds.counts().loc["red", "total"] == 8


def _greyscale(path):
    Image.new("L", (SIZE, SIZE), 128).save(path)
    return (128, 128, 128)


def _palette(path):
    Image.new("RGB", (SIZE, SIZE), (0, 0, 255)).convert("P").save(path)
    return (0, 0, 255)


def _cmyk(path):
    Image.new("CMYK", (SIZE, SIZE), (0, 255, 255, 0)).save(path.with_suffix(".jpg"))
    path.with_suffix(".jpg").rename(path)
    return (255, 0, 0)


def _rgba(path):
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))  # transparent black must become white
    image.paste((0, 255, 0, 255), (0, 0, SIZE // 2, SIZE))
    image.save(path)
    return None


def _sixteen_bit(path):
    Image.fromarray(np.full((SIZE, SIZE), 32896, dtype=np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I")
    return (128, 128, 128)


def _large(path):
    Image.new("RGB", (3000, 2000), (255, 0, 0)).save(path, format="JPEG", quality=50)
    return (255, 0, 0)


@pytest.mark.parametrize(
    ("make", "suffix"),
    [
        (_greyscale, ".png"),
        (_palette, ".gif"),
        (_cmyk, ".jpeg"),
        (_rgba, ".png"),
        (_sixteen_bit, ".png"),
        (_large, ".JPG"),
    ],
    ids=["greyscale", "palette", "cmyk", "rgba", "16-bit", "large"],
)
def test_awkward_but_valid_images_are_converted_to_rgb(folder, make, suffix):
    path = folder / "red" / f"odd{suffix}"
    expected = make(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedImageWarning)
        ds = _load(folder, val_fraction=0, test_fraction=0)
    images, _ = ds.as_arrays("train")
    image = images[ds.files["train"].index(path)]
    assert image.shape == (SIZE, SIZE, 3)
    if expected is None:  # the RGBA case: opaque left half green, transparent right half white
        np.testing.assert_allclose(image[:, 2], 0 * image[:, 2] + (0, 255, 0), atol=8)
        np.testing.assert_allclose(image[:, -2], 0 * image[:, -2] + 255, atol=8)
    else:
        np.testing.assert_allclose(image.mean(axis=(0, 1)), expected, atol=4)


def test_exif_rotation_is_applied(folder):
    image = Image.new("RGB", (2 * SIZE, SIZE), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, SIZE, SIZE))  # left half blue, right half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    path = folder / "red" / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    ds = _load(folder, val_fraction=0, test_fraction=0, resize="pad")
    shown = ds.as_arrays()[0][ds.files["train"].index(path)]
    # Displayed upright, the blue half is on top.
    assert shown[SIZE // 4, SIZE // 2, 2] > 200 and shown[3 * SIZE // 4, SIZE // 2, 0] > 200


def test_decompression_bomb_is_skipped_not_fatal(folder, monkeypatch):
    bomb = folder / "red" / "bomb.png"
    Image.new("RGB", (128, 128), (255, 0, 0)).save(bomb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4000)  # 32x32 fine, 128x128 over 2x limit
    with pytest.warns(SkippedImageWarning, match=r"bomb\.png: larger than PIL's decompression"):
        ds = _load(folder)
    assert [p for p, _ in ds.skipped] == [bomb]


def test_hidden_and_non_image_files_are_ignored(folder):
    Image.new("RGB", (SIZE, SIZE)).save(folder / "red" / ".hidden.png")
    (folder / "red" / "notes.txt").write_text("ignored")
    (folder / "red" / "Thumbs.db").write_bytes(b"\0")
    for hidden in (folder / ".ipynb_checkpoints", folder / "__MACOSX", folder / "red" / ".cache"):
        hidden.mkdir()
        Image.new("RGB", (SIZE, SIZE)).save(hidden / "x.png")
    (folder / "red" / "nested").mkdir()
    Image.new("RGB", (SIZE, SIZE), (255, 0, 0)).save(folder / "red" / "nested" / "deep.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedImageWarning)
        ds = _load(folder)
    assert ds.class_names == ("blue", "green", "red")
    assert ds.counts().loc["red", "total"] == 9  # 8 + nested/deep.png


# --- errors -----------------------------------------------------------------------------------


def test_fewer_than_two_classes(tmp_path):
    folder = _make_folder(tmp_path / "one", per_class=(5,))
    with pytest.raises(DatasetError, match=r"at least two class subfolders.*only \['blue'\]"):
        _load(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="found none in"):
        _load(empty)


def test_empty_class_folder_is_named(folder):
    (folder / "yellow").mkdir()
    (folder / "yellow" / "photo.heic").write_bytes(b"\0")
    with pytest.raises(DatasetError, match=r"'yellow'.*no image files \(found only \['\.heic'\]"):
        _load(folder)


def test_class_whose_files_are_all_unusable(folder):
    (folder / "yellow").mkdir()
    (folder / "yellow" / "a.jpg").write_bytes(b"")
    with (
        pytest.warns(SkippedImageWarning),
        pytest.raises(DatasetError, match="'yellow'.*no usable"),
    ):
        _load(folder)


def test_unknown_name_lists_known_names_and_accepts_folders():
    with pytest.raises(InvalidParameterError) as info:
        load_dataset("flower")
    message = str(info.value)
    assert "['photos', 'fashion_mnist', 'flowers', 'cats_vs_dogs', 'fashion_mnist_full']" in message
    assert "Did you mean 'flowers'" in message and "folder" in message


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"val_fraction": 1.5}, r"'val_fraction' parameter of load_dataset must be a float in"),
        ({"test_fraction": -0.1}, r"'test_fraction' .* \[0, 0\.8\), .*Got -0\.1 instead"),
        ({"val_fraction": "0.2"}, r"'val_fraction'"),
        ({"test_fraction": True}, r"'test_fraction'"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, r"\[0, 1 - val_fraction\) = \[0, 0\.5\)"),
        ({"image_size": 31}, r"'image_size' .* an int >= 32 or a pair \(height, width\) .*Got 31"),
        ({"batch_size": 0}, r"'batch_size'"),
        ({"seed": 1.5}, r"'seed'"),
        ({"train_per_class": 0}, r"'train_per_class' .* an int >= 1 or None"),
        ({"resize": "stretch"}, r"'resize' .* \['crop', 'pad'\]"),
        ({"image_size": (32,)}, r"'image_size' .* a pair \(height, width\) of ints >= 32"),
        ({"image_size": (32, 16)}, r"'image_size'.*Got \(32, 16\)"),
        ({"image_size": (32.0, 32)}, r"'image_size'"),
        ({"image_size": "32"}, r"'image_size'"),
        ({"seed": -1}, r"'seed' .* an int >= 0\. Got -1"),
        ({"batch_size": np.float64(8)}, r"'batch_size'"),
        ({"origin": 3}, r"'origin' .* None when loading a folder"),
    ],
)
def test_bad_parameters(folder, kwargs, pattern):
    with pytest.raises(InvalidParameterError, match=pattern) as info:
        load_dataset(folder, **kwargs)
    assert "parameter of load_dataset" in str(info.value)


def test_a_name_that_is_neither_a_string_nor_a_path(tmp_path):
    with pytest.raises(InvalidParameterError, match="'name_or_folder' parameter of load_dataset"):
        load_dataset(3)


# --- the shipped photos -----------------------------------------------------------------------


def test_shipped_photos_have_six_classes_and_the_documented_counts():
    ds = load_dataset("photos", image_size=32)
    totals = ds.counts()["total"]
    assert totals.to_dict() == {
        "birds": 35,
        "fish": 11,
        "flowers": 25,
        "fruit": 26,
        "mammals": 65,
        "vegetables": 18,
        "total": 180,
    }
    assert ds.skipped == ()
    assert ds.counts().loc["total"].tolist() == [98, 36, 46, 180]


def test_list_datasets():
    table = list_datasets()
    assert table.loc["photos", "offline"] and not table.loc["flowers", "offline"]
    assert table.loc["cats_vs_dogs", "url"].startswith("https://")


# --- online datasets, offline: through local archives ------------------------------------------


def _tgz(tmp_path: Path, name="flower_photos.tgz") -> Path:
    source = _make_folder(tmp_path / "src" / "flower_photos", per_class=(4, 4))
    (source / "LICENSE.txt").write_text("licence")  # a file beside the class folders
    archive = tmp_path / name
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="flower_photos")
    return archive


def test_online_dataset_from_a_local_archive_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    archive = _tgz(tmp_path)
    ds = load_dataset("flowers", image_size=SIZE, origin=archive.as_uri())
    assert ds.name == "flowers" and ds.class_names == ("blue", "green")
    assert ds.counts().loc["total", "total"] == 8
    archive.unlink()  # a second call must neither fetch nor extract again

    def no_download(*args, **kwargs):
        raise AssertionError("get_file called although the dataset is cached")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    again = load_dataset("flowers", image_size=SIZE, origin=archive.as_uri())
    assert again.files == ds.files


def test_online_dataset_merges_subfolders_of_a_zip_from_a_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with zipfile.ZipFile(mirror / "cats_and_dogs_filtered.zip", "w") as zf:
        for part, n in (("train", 3), ("validation", 2)):
            for animal, colour in (("cats", (255, 0, 0)), ("dogs", (0, 0, 255))):
                for i in range(n):
                    buffer = io.BytesIO()
                    Image.new("RGB", (SIZE, SIZE), colour).save(buffer, format="PNG")
                    zf.writestr(
                        f"cats_and_dogs_filtered/{part}/{animal}/{i}.png", buffer.getvalue()
                    )
    monkeypatch.setenv("TLCOURSE_DATASET_MIRROR", str(mirror))
    ds = load_dataset("cats_vs_dogs", image_size=SIZE, test_fraction=0.4, val_fraction=0)
    assert ds.class_names == ("cats", "dogs")
    assert ds.counts()["total"].tolist() == [5, 5, 10]


def test_failed_download_says_what_failed_and_what_works_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    url = (tmp_path / "missing" / "flower_photos.tgz").as_uri()
    with pytest.raises(DatasetError) as info:
        load_dataset("flowers", origin=url)
    message = str(info.value)
    assert "'flowers'" in message and url in message and "load_dataset('photos')" in message
    # Nothing half-done is left to be mistaken for a finished download next time.
    assert not list((tmp_path / "cache" / "datasets").glob("flower_photos*/.tlcourse_complete"))


def test_origin_is_refused_for_shipped_data_and_folders(folder):
    with pytest.raises(InvalidParameterError, match="'origin'.*ships with tlcourse"):
        load_dataset("photos", origin="file:///x.tgz")
    with pytest.raises(InvalidParameterError, match="'origin'.*not to a folder"):
        load_dataset(folder, origin="file:///x.tgz")
