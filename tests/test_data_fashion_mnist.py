"""Fashion-MNIST: the IDX format, the shipped subset, the full set (offline, through file://),
and the build script."""

import csv
import gzip
import importlib.util
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tlcourse.data import (
    FASHION_MNIST_CLASSES,
    list_datasets,
    load_dataset,
    read_idx,
    write_idx,
)
from tlcourse.errors import DatasetError, InvalidParameterError
from tlcourse.paths import data_dir

ROOT = Path(__file__).resolve().parent.parent
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


# --- the IDX format ---------------------------------------------------------------------------


def test_idx_round_trip_is_byte_for_byte_deterministic(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28).astype(np.uint8)
    write_idx(tmp_path / "a.gz", images)
    write_idx(tmp_path / "b.gz", images)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    back = read_idx(tmp_path / "a.gz")
    assert back.dtype == np.uint8 and np.array_equal(back, images)
    write_idx(tmp_path / "plain-idx1-ubyte", np.array([7, 8], dtype=np.uint8))
    raw = (tmp_path / "plain-idx1-ubyte").read_bytes()
    assert raw == bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 8])  # magic, one size, the values
    assert read_idx(tmp_path / "plain-idx1-ubyte").tolist() == [7, 8]


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", "not an IDX file"),
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd", "not an IDX file of unsigned bytes"),
        (b"\x00\x00\x08\x02\x00\x00", "header is incomplete"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "holds 2 bytes of values where its header"),
    ],
    ids=["empty", "float-type", "short-header", "truncated"],
)
def test_read_idx_refuses_damaged_files_with_a_message(tmp_path, content, pattern):
    path = tmp_path / "bad-idx1-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(content)
    with pytest.raises(DatasetError, match=pattern):
        read_idx(path)


def test_read_idx_truncated_gzip_and_missing_file(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((50, 28, 28), np.uint8) + 3)
    data = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "x.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="truncated or damaged download.*Delete the file"):
        read_idx(tmp_path / "x.gz")
    with pytest.raises(DatasetError, match="does not exist"):
        read_idx(tmp_path / "missing.gz")


def test_write_idx_refuses_other_types(tmp_path):
    with pytest.raises(InvalidParameterError, match="'array' parameter of write_idx.*float64"):
        write_idx(tmp_path / "x.gz", np.zeros(3))
    with pytest.raises(InvalidParameterError, match=r"'array'.*Got \[1, 2\] instead"):
        write_idx(tmp_path / "x.gz", [1, 2])


# --- the shipped subset -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return load_dataset("fashion_mnist", image_size=32)


def test_shipped_subset_loads_offline_with_700_images_per_class(shipped, monkeypatch):
    # Acceptance: offline, >= 500 images in every class.
    totals = shipped.counts()["total"].drop("total")
    assert totals.index.tolist() == list(FASHION_MNIST_CLASSES)
    assert (totals == 700).all()
    assert shipped.counts().loc["total"].tolist() == [3850, 1400, 1750, 7000]

    def no_download(*args, **kwargs):
        raise AssertionError("the shipped subset must not download anything")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    assert load_dataset("fashion_mnist", image_size=32, train_per_class=2).num_classes == 10


def test_shipped_images_are_greyscale_repeated_into_rgb_at_the_asked_size(shipped):
    images, labels = shipped.as_arrays("test")
    assert images.shape == (1750, 32, 32, 3) and images.dtype == np.float32
    assert np.array_equal(images[..., 0], images[..., 1])
    assert np.array_equal(images[..., 0], images[..., 2])
    # Clothes on black, as in the original: dark corners, a bright centre on average.
    assert images[:, :2, :2].mean() < 10 and images[:, 12:20, 12:20].mean() > 80
    wide = load_dataset("fashion_mnist", image_size=(32, 48), train_per_class=1)
    assert wide.as_arrays("train")[0].shape == (10, 32, 48, 3)


def test_shipped_labels_keep_zalando_order_and_match_the_manifest(shipped):
    assert shipped.class_names[0] == "t-shirt/top" and shipped.class_names[9] == "ankle boot"
    with open(data_dir() / "fashion_mnist" / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_name = {Path(r["set"], f"{int(r['original_index']):05d}"): r for r in rows}
    for split in ("train", "val", "test"):
        for name, label in zip(shipped.files[split], shipped.labels[split], strict=True):
            assert int(by_name[name]["label"]) == label
            assert by_name[name]["class"] == shipped.class_names[label]
    # 600 per class from the official training set, 100 from the official test set.
    counts = {}
    for row in rows:
        counts[(row["set"], row["label"])] = counts.get((row["set"], row["label"]), 0) + 1
    assert {v for (s, _), v in counts.items() if s == "train"} == {600}
    assert {v for (s, _), v in counts.items() if s == "test"} == {100}
    originals = [int(r["original_index"]) for r in rows if r["set"] == "train"]
    assert originals == sorted(originals) and max(originals) < 60000


def test_shipped_subset_splits_like_the_photos(shipped):
    again = load_dataset("fashion_mnist", image_size=32)
    other = load_dataset("fashion_mnist", image_size=32, seed=1, train_per_class=10)
    assert again.files == shipped.files
    assert other.files["test"] != shipped.files["test"]
    # Official test images are pooled: they appear in every split.
    for split in ("train", "val", "test"):
        sets = {p.parts[0] for p in shipped.files[split]}
        assert sets == {"train", "test"}, split
    assert other.counts()["train"].drop("total").tolist() == [10] * 10


def test_fashion_mnist_is_listed_and_unknown_names_suggest_it():
    table = list_datasets()
    assert table.loc["fashion_mnist", "offline"]
    assert not table.loc["fashion_mnist_full", "offline"]
    assert "MIT" in table.loc["fashion_mnist", "licence"]
    with pytest.raises(InvalidParameterError, match="Did you mean 'fashion_mnist'"):
        load_dataset("fashion_mnst")


def test_missing_shipped_subset_says_how_to_rebuild(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="scripts/build_fashion_mnist.py"):
        load_dataset("fashion_mnist")
    with pytest.raises(DatasetError, match="scripts/build_photos.py"):
        load_dataset("photos")


def test_origin_is_refused_for_the_shipped_subset():
    with pytest.raises(InvalidParameterError, match="'origin'.*ships with tlcourse"):
        load_dataset("fashion_mnist", origin="file:///x")


# --- the full set, offline: a local folder of idx files ---------------------------------------


def _official_files(folder: Path, train_per_class=3, test_per_class=2) -> Path:
    """A tiny stand-in for the official files: class k's images are all k * 20 + 10."""
    folder.mkdir(parents=True)
    for prefix, per_class in (("train", train_per_class), ("t10k", test_per_class)):
        labels = np.tile(np.arange(10, dtype=np.uint8), per_class)
        images = np.repeat(labels[:, None, None] * 20 + 10, 28 * 28).reshape(-1, 28, 28)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images.astype(np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


def test_full_set_from_a_file_origin_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    source = _official_files(tmp_path / "official")
    ds = load_dataset("fashion_mnist_full", image_size=32, origin=source.as_uri(),
                      test_fraction=0.2, val_fraction=0.2)  # fmt: skip
    assert ds.name == "fashion_mnist_full" and ds.class_names == FASHION_MNIST_CLASSES
    assert ds.counts()["total"].drop("total").tolist() == [5] * 10
    images, labels = ds.as_arrays("train")
    np.testing.assert_array_equal(images[:, 0, 0, 0], labels * 20 + 10)
    # The official indices name the images: test image 3 of the official files is "test/00003".
    every = {p for split in ("train", "val", "test") for p in ds.files[split]}
    assert Path("test/00003") in every and Path("train/00029") in every and len(every) == 50
    cached = tmp_path / "cache" / "datasets" / "fashion_mnist_full"
    assert sorted(p.name for p in cached.iterdir() if p.suffix == ".gz") == sorted(FILES)
    for name in FILES:
        (source / name).unlink()  # a second call must not fetch again

    def no_download(*args, **kwargs):
        raise AssertionError("get_file called although the files are cached")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    again = load_dataset("fashion_mnist_full", image_size=32, test_fraction=0.2,
                         val_fraction=0.2)  # fmt: skip
    assert again.files == ds.files


def test_full_set_from_a_mirror_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TLCOURSE_DATASET_MIRROR", str(_official_files(tmp_path / "mirror")))
    ds = load_dataset("fashion_mnist_full", image_size=32, test_fraction=0.2, val_fraction=0.2)
    assert ds.counts().loc["total", "total"] == 50


def test_full_set_download_failure_names_the_file_and_the_offline_sets(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    source = _official_files(tmp_path / "official")
    (source / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion_mnist_full", origin=str(source))
    message = str(info.value)
    assert "'fashion_mnist_full'" in message and "t10k-images-idx3-ubyte.gz" in message
    assert "load_dataset('fashion_mnist')" in message and "load_dataset('photos')" in message
    # Nothing is marked complete: the next call fetches every file again.
    assert not (
        tmp_path / "cache" / "datasets" / "fashion_mnist_full" / ".tlcourse_complete"
    ).exists()
    fixed = _official_files(tmp_path / "fixed")
    ds = load_dataset("fashion_mnist_full", image_size=32, origin=str(fixed),
                      test_fraction=0.2, val_fraction=0.2)  # fmt: skip
    assert ds.counts().loc["total", "total"] == 50


# --- the build script -------------------------------------------------------------------------


def _build_module():
    spec = importlib.util.spec_from_file_location(
        "build_fashion_mnist", ROOT / "scripts" / "build_fashion_mnist.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_build_script_writes_a_deterministic_stratified_subset(tmp_path, monkeypatch):
    build = _build_module()
    root = tmp_path / "deb"
    source = _official_files(root / build.FILES, train_per_class=5, test_per_class=4)
    # Distinguishable images: pixel (0, 0) holds the official index.
    for prefix, n in (("train", 50), ("t10k", 40)):
        images = read_idx(source / f"{prefix}-images-idx3-ubyte.gz").copy()
        images[:, 0, 0] = np.arange(n)
        write_idx(source / f"{prefix}-images-idx3-ubyte.gz", images)
    monkeypatch.setattr(build, "PARTS", (("train", "train", 3), ("test", "t10k", 2)))
    first, second = tmp_path / "a" / "fashion_mnist", tmp_path / "b" / "fashion_mnist"
    assert build.build(root, first) == {"train": 30, "test": 20}
    build.build(root, second)
    for name in (*FILES, "manifest.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    with open(first / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for official, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(first / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(first / f"{prefix}-labels-idx1-ubyte.gz")
        part = [r for r in rows if r["set"] == official]
        assert [int(r["index"]) for r in part] == list(range(len(part)))
        assert images[:, 0, 0].tolist() == [int(r["original_index"]) for r in part]
        assert labels.tolist() == [int(r["label"]) for r in part]
        assert np.bincount(labels).tolist() == [3 if official == "train" else 2] * 10
    # The output loads as the dataset it builds.
    monkeypatch.setenv("TLCOURSE_DATA_DIR", str(first.parent))
    ds = load_dataset("fashion_mnist", image_size=32, test_fraction=0.2, val_fraction=0.2)
    assert ds.counts().loc["total", "total"] == 50


def test_build_script_refuses_to_replace_a_foreign_folder(tmp_path):
    build = _build_module()
    root = tmp_path / "deb"
    _official_files(root / build.FILES)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    with pytest.raises(SystemExit, match="refusing to replace it"):
        build.build(root, foreign)
    assert (foreign / "thesis.tex").is_file()
    with pytest.raises(SystemExit, match="an extracted dataset-fashion-mnist"):
        build.build(tmp_path / "nothing", tmp_path / "out")
