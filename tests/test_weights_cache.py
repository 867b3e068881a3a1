"""The checksummed, atomically written cache of weights files (tlcourse.models.weights.cache)."""

from __future__ import annotations

import hashlib
import warnings

import pytest

from tlcourse.errors import InvalidParameterError, WeightsUnavailableError
from tlcourse.models.weights import cache_problem, cached_weights_file, weights_dir


class Builder:
    """A build(tmp_path) that records its calls and writes a known content."""

    def __init__(self, content=b"weights v1"):
        self.content, self.calls = content, []

    def __call__(self, tmp_path):
        self.calls.append(tmp_path)
        tmp_path.write_bytes(self.content)


def _sidecar(path):
    return path.with_name(path.name + ".sha256")


def test_builds_once_then_returns_the_cached_file(tmp_path):
    build = Builder()
    path = cached_weights_file("net.weights.h5", build, directory=tmp_path)
    assert path == tmp_path / "net.weights.h5" and path.read_bytes() == b"weights v1"
    digest = hashlib.sha256(b"weights v1").hexdigest()
    assert _sidecar(path).read_text() == f"{digest}  net.weights.h5\n"
    # Written under a temporary name with the same suffixes (Keras picks the format from them).
    assert build.calls[0].parent == tmp_path and build.calls[0].name.endswith(".weights.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cached_weights_file("net.weights.h5", build, directory=tmp_path) == path
    assert len(build.calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.weights.h5", "net.weights.h5.sha256"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_sidecar", "no_file"])
def test_a_damaged_file_is_rebuilt_with_a_warning(tmp_path, damage):
    path = cached_weights_file("net.bin", Builder(), directory=tmp_path)
    if damage == "truncate":
        path.write_bytes(b"weig")
    elif damage == "flip":
        path.write_bytes(b"weights v2")
    elif damage == "no_sidecar":
        _sidecar(path).unlink()
    else:
        path.unlink()
    assert cache_problem(path) is not None
    build = Builder(b"rebuilt")
    with pytest.warns(RuntimeWarning, match=r"net\.bin cannot be used: .*Rebuilding it"):
        cached_weights_file("net.bin", build, directory=tmp_path)
    assert path.read_bytes() == b"rebuilt" and cache_problem(path) is None


def test_rebuild_replaces_a_file_that_passes_its_checksum(tmp_path):
    cached_weights_file("net.bin", Builder(), directory=tmp_path)
    path = cached_weights_file("net.bin", Builder(b"v2"), directory=tmp_path, rebuild=True)
    assert path.read_bytes() == b"v2" and cache_problem(path) is None


def test_an_interrupted_build_leaves_nothing(tmp_path):
    def dies_half_way(tmp):
        tmp.write_bytes(b"half a file")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_weights_file("net.bin", dies_half_way, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_default_folder_is_under_the_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TLCOURSE_CACHE_DIR", str(tmp_path))
    assert weights_dir() == tmp_path / "weights"
    assert cached_weights_file("x.bin", Builder()).parent == tmp_path / "weights"


def test_an_unwritable_folder_says_to_set_the_cache_dir(tmp_path):
    blocker = tmp_path / "a file, not a folder"
    blocker.write_text("")
    with pytest.raises(WeightsUnavailableError, match="TLCOURSE_CACHE_DIR"):
        cached_weights_file("x.bin", Builder(), directory=blocker / "weights")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "../x.bin"}, "'name' parameter of cached_weights_file must be a plain file"),
        ({"name": ".hidden"}, "'name' parameter"),
        ({"name": ""}, "'name' parameter"),
        ({"build": "not callable"}, "'build' parameter of cached_weights_file"),
        ({"directory": 3}, "'directory' parameter"),
        ({"rebuild": "yes"}, "'rebuild' parameter of cached_weights_file must be a bool"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    arguments = {"name": "x.bin", "build": Builder(), "directory": tmp_path, **kwargs}
    name, build = arguments.pop("name"), arguments.pop("build")
    with pytest.raises(InvalidParameterError, match=message):
        cached_weights_file(name, build, **arguments)
