"""The restricted reader of legacy PyTorch files: exact on good files, refuses everything else."""

from __future__ import annotations

import collections
import contextlib
import os
import pickle
import sys
import types
import zipfile

import numpy as np
import pytest

from tlcourse.errors import TLCourseError, UnsafeWeightsFileError
from tlcourse.models.backbones.efficientnet_lite import efficientnet_lite0_source_file
from tlcourse.models.weights.torch_legacy import (
    ALLOWED_GLOBALS,
    LEGACY_MAGIC_NUMBER,
    LEGACY_PROTOCOL_VERSION,
    CorruptWeightsFileError,
    load_legacy_state_dict,
)

SYS_INFO = {
    "protocol_version": 1001,
    "little_endian": True,
    "type_sizes": {"short": 2, "int": 4, "long": 4},
}


# --- a writer for legacy files, so tests can build exact (and damaged) inputs without torch ---


class _FakeStorageType:
    pass


class _FakeStorage:
    def __init__(self, key, storage_type, data):
        self.key, self.storage_type, self.data = key, storage_type, data


class _FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride))

    def __reduce__(self):
        return _FAKE_REBUILD, (*self.args, False, collections.OrderedDict())


def _fake_rebuild(*args):
    raise AssertionError("never called: the test only pickles")


_FAKE_TORCH = types.ModuleType("torch")
_FAKE_UTILS = types.ModuleType("torch._utils")
_FAKE_TORCH._utils = _FAKE_UTILS
for _name in ("FloatStorage", "LongStorage"):
    _cls = type(_name, (_FakeStorageType,), {"__module__": "torch"})
    setattr(_FAKE_TORCH, _name, _cls)
_FAKE_REBUILD = _fake_rebuild
_FAKE_REBUILD.__module__, _FAKE_REBUILD.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
_FAKE_REBUILD.__name__ = "_rebuild_tensor_v2"
_FAKE_UTILS._rebuild_tensor_v2 = _FAKE_REBUILD


@contextlib.contextmanager
def _fake_torch_modules():
    # pickle writes a global only if it can import it back; torch is not installed here.
    assert "torch" not in sys.modules, "this helper must not shadow a real torch"
    sys.modules["torch"], sys.modules["torch._utils"] = _FAKE_TORCH, _FAKE_UTILS
    try:
        yield
    finally:
        del sys.modules["torch"], sys.modules["torch._utils"]


class _LegacyPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _FakeStorage):
            return ("storage", obj.storage_type, obj.key, "cpu", obj.data.size, None)
        return None


def legacy_bytes(tensors: dict, storages: list[_FakeStorage], obj=None) -> bytes:
    """Serialise ``tensors`` ({name: _FakeTensor}) the way torch.save did before 1.6."""
    import io

    out = io.BytesIO()
    for header in (LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION, SYS_INFO):
        pickle.dump(header, out, protocol=2)
    with _fake_torch_modules():
        _LegacyPickler(out, protocol=2).dump(
            collections.OrderedDict(tensors) if obj is None else obj
        )
    pickle.dump([s.key for s in storages], out, protocol=2)
    for storage in storages:
        out.write(np.int64(storage.data.size).tobytes())
        out.write(storage.data.astype(storage.data.dtype.newbyteorder("<")).tobytes())
    return out.getvalue()


def float_storage(key, data):
    return _FakeStorage(key, _FAKE_TORCH.FloatStorage, np.asarray(data, dtype="<f4").ravel())


@pytest.fixture(scope="module")
def real_state():
    return load_legacy_state_dict(efficientnet_lite0_source_file())


# --- the real file ---


def test_real_file_has_every_tensor(real_state):
    assert len(real_state) == 296
    floats = {k: v for k, v in real_state.items() if not k.endswith("num_batches_tracked")}
    assert sum(v.size for v in floats.values()) == 4_694_024
    assert all(v.dtype == np.float32 and v.flags.c_contiguous for v in floats.values())
    counters = [v for k, v in real_state.items() if k.endswith("num_batches_tracked")]
    assert len(counters) == 296 - len(floats) and all(
        v.dtype == np.int64 and v.shape == () for v in counters
    )
    assert real_state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert real_state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert real_state["_fc.weight"].shape == (1000, 1280)
    assert "_blocks.0._expand_conv.weight" not in real_state
    # Variances are never negative (some are 0: dead channels); a wrong offset would break it.
    assert all(v.min() >= 0 for k, v in real_state.items() if k.endswith("running_var"))
    np.testing.assert_allclose(real_state["_bn0.running_var"][:2], [1.6314286, 70.371574])


def test_rewritten_real_file_reads_back_identically(real_state, tmp_path):
    storages, tensors = [], {}
    for i, (name, array) in enumerate(real_state.items()):
        if array.dtype == np.int64:
            storage = _FakeStorage(str(i), _FAKE_TORCH.LongStorage, array.reshape(1))
            tensors[name] = _FakeTensor(storage, 0, (), ())
        else:
            storage = float_storage(str(i), array)
            strides = tuple(int(s) // 4 for s in array.strides)
            tensors[name] = _FakeTensor(storage, 0, array.shape, strides)
        storages.append(storage)
    path = tmp_path / "copy.pth"
    path.write_bytes(legacy_bytes(tensors, storages))
    again = load_legacy_state_dict(path)
    assert list(again) == list(real_state)
    for name, array in real_state.items():
        np.testing.assert_array_equal(again[name], array)


# --- layouts a state dict can use ---


def test_strided_shared_storage_and_offsets(tmp_path):
    base = np.arange(24, dtype="float32")
    storage = float_storage("s0", base)
    tensors = {
        # A transposed view (column-major strides), as in the real file's conv kernels.
        "t": _FakeTensor(storage, 0, (4, 6), (1, 4)),
        # Another tensor in the same storage at an offset.
        "tail": _FakeTensor(storage, 20, (4,), (1,)),
        "scalar": _FakeTensor(storage, 7, (), ()),
    }
    path = tmp_path / "views.pth"
    path.write_bytes(legacy_bytes(tensors, [storage]))
    state = load_legacy_state_dict(path)
    np.testing.assert_array_equal(state["t"], base.reshape(6, 4).T)
    assert state["t"].flags.c_contiguous
    np.testing.assert_array_equal(state["tail"], [20, 21, 22, 23])
    assert state["scalar"] == 7.0 and state["scalar"].shape == ()


def test_view_past_its_storage_is_refused(tmp_path):
    storage = float_storage("s0", np.zeros(10))
    path = tmp_path / "oob.pth"
    # 4 x 4 elements from offset 0 needs 16 elements; reading them would read past the buffer.
    path.write_bytes(legacy_bytes({"w": _FakeTensor(storage, 0, (4, 4), (4, 1))}, [storage]))
    with pytest.raises(CorruptWeightsFileError, match="does not fit in its storage of 10"):
        load_legacy_state_dict(path)


def test_storage_viewed_too_many_times_is_refused(tmp_path):
    storage = float_storage("s0", np.ones(100))
    tensors = {f"t{i}": _FakeTensor(storage, 0, (100,), (1,)) for i in range(5)}
    path = tmp_path / "many.pth"
    path.write_bytes(legacy_bytes(tensors, [storage]))
    with pytest.raises(CorruptWeightsFileError, match="500 elements"):
        load_legacy_state_dict(path)


# --- malicious files: refused before anything runs ---


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _RunsEval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return eval, (f"__import__('pathlib').Path({str(self.marker)!r}).touch()",)


@pytest.mark.parametrize(
    ("payload", "global_name"),
    [(_RunsShell, f"{os.system.__module__}.system"), (_RunsEval, "builtins.eval")],
)
def test_code_in_the_state_dict_is_refused_and_never_run(tmp_path, payload, global_name):
    marker = tmp_path / "pwned"
    storage = float_storage("s0", np.ones(3))
    state = {"w": _FakeTensor(storage, 0, (3,), (1,)), "evil": payload(marker)}
    path = tmp_path / "evil.pth"
    path.write_bytes(legacy_bytes({}, [storage], obj=collections.OrderedDict(state)))
    with pytest.raises(UnsafeWeightsFileError, match=global_name.replace(".", r"\.")):
        load_legacy_state_dict(path)
    assert not marker.exists()


def test_plain_malicious_pickle_is_refused(tmp_path):
    # The usual attack on torch.load: a single pickle, no legacy header at all.
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pth"
    path.write_bytes(pickle.dumps(_RunsShell(marker), protocol=2))
    with pytest.raises(UnsafeWeightsFileError, match="system") as info:
        load_legacy_state_dict(path)
    assert "allow-list" in str(info.value)
    assert isinstance(info.value, TLCourseError)
    assert not marker.exists()


def test_other_torch_globals_are_refused(tmp_path):
    # Even a harmless-looking torch name is outside the allow-list: only what a state dict needs.
    path = tmp_path / "m.pth"
    path.write_bytes(b"\x80\x02ctorch.nn.modules.linear\nLinear\nq\x00.")
    with pytest.raises(UnsafeWeightsFileError, match=r"torch\.nn\.modules\.linear\.Linear"):
        load_legacy_state_dict(path)


def test_a_file_cannot_alter_the_allowed_stand_ins(tmp_path):
    # BUILD on an allowed global would, if it worked, change how *later* files are read.
    path = tmp_path / "tamper.pth"
    for opcodes in (
        b"\x80\x02ctorch\nFloatStorage\n}X\x05\x00\x00\x00dtypeX\x03\x00\x00\x00<f8sb.",
        b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n}X\x01\x00\x00\x00aK\x01sb.",
        b"\x80\x02ccollections\nOrderedDict\n}X\x01\x00\x00\x00aK\x01sb.",
    ):
        path.write_bytes(opcodes)
        with pytest.raises(CorruptWeightsFileError, match="tamper.pth"):
            load_legacy_state_dict(path)
    float_type = ALLOWED_GLOBALS[("torch", "FloatStorage")]
    assert (float_type.name, float_type.dtype) == ("FloatStorage", "<f4")
    assert not hasattr(collections.OrderedDict, "a")
    state = load_legacy_state_dict(efficientnet_lite0_source_file())
    assert state["_fc.bias"].dtype == np.float32 and state["_fc.bias"].shape == (1000,)


# --- damaged files: one clear error type ---


@pytest.mark.parametrize("keep", [0, 10, 200, 30_000, 60_000, 18_000_000])
def test_truncated_real_file(tmp_path, keep):
    data = efficientnet_lite0_source_file().read_bytes()[:keep]
    path = tmp_path / "cut.pth"
    path.write_bytes(data)
    with pytest.raises(CorruptWeightsFileError, match="truncated") as info:
        load_legacy_state_dict(path)
    assert isinstance(info.value, ValueError) and str(path) in str(info.value)


def test_wrong_magic_number(tmp_path):
    path = tmp_path / "x.pth"
    path.write_bytes(pickle.dumps(12345, protocol=2))
    with pytest.raises(CorruptWeightsFileError, match="magic number"):
        load_legacy_state_dict(path)


def test_garbage_bytes(tmp_path):
    path = tmp_path / "x.pth"
    path.write_bytes(os.urandom(64).replace(b"\x80", b"\x00"))
    with pytest.raises(CorruptWeightsFileError):
        load_legacy_state_dict(path)


def test_new_zip_format_is_named(tmp_path):
    path = tmp_path / "new.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"")
    with pytest.raises(CorruptWeightsFileError, match="zip-format"):
        load_legacy_state_dict(path)


def test_element_count_that_disagrees_with_header(tmp_path):
    storage = float_storage("s0", np.ones(4))
    data = bytearray(legacy_bytes({"w": _FakeTensor(storage, 0, (4,), (1,))}, [storage]))
    count_at = len(data) - 16 - 8
    data[count_at : count_at + 8] = np.int64(1 << 40).tobytes()
    path = tmp_path / "x.pth"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptWeightsFileError, match="elements"):
        load_legacy_state_dict(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_legacy_state_dict(tmp_path / "nope.pth")
