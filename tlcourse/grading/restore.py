"""Answers exported from the sandbox, read back as untrusted data: the import side.

The reader of what :func:`tlcourse.grading.answers.export_answers` wrote; nothing is unpickled
and no code of the submission runs: strict JSON with a size limit, ``.npy`` without pickles,
``.keras`` through :func:`tlcourse.grading.keras_files.load_model` (``config.json`` inspected,
``safe_mode=True``, a ``keras.Model`` or nothing). Every tag is checked; anything unexpected is
refused by name. An object that left as attributes comes back as a read-only :class:`Exported`.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from pathlib import Path

from tlcourse.grading.answers import ANSWERS_FILE

__all__ = ["Exported", "restore_answers"]

_MAX_JSON_BYTES = 64 << 20
_FILE_RE = re.compile(r"v\d{1,7}\.(npy|keras)")
_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")


class Exported:
    """An object of the submission that left the sandbox as the attributes the tests read.

    Example:
        >>> record = Exported("tlcourse.measure.EmissionsRecord", {"wall_seconds": 2.5})
        >>> record.wall_seconds, record
        (2.5, <exported tlcourse.measure.EmissionsRecord: wall_seconds>)
    """

    __slots__ = ("_type", "_attributes", "_refused")

    def __init__(self, type_name: str, attributes: dict, refused: dict | None = None) -> None:
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_attributes", dict(attributes))
        object.__setattr__(self, "_refused", dict(refused or {}))

    def __getattr__(self, name: str):
        try:
            return self._attributes[name]
        except KeyError:
            why = f": {self._refused[name]}" if name in self._refused else ""
            raise AttributeError(
                f"{name!r} was not exported from the submission's {self._type}{why}"
            ) from None

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError("an exported answer is read-only")

    def __repr__(self) -> str:
        return f"<exported {self._type}: {', '.join(self._attributes)}>"


class _Decoder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, name) -> Path:
        if not isinstance(name, str) or not _FILE_RE.fullmatch(name):
            raise ValueError(f"bad file name {name!r}")
        path = self.folder / name
        if path.is_symlink() or not path.is_file():
            raise ValueError(f"{name} is missing or not a regular file")
        return path

    def decode(self, value, depth: int = 0):  # noqa: C901 - one branch per tag
        if depth > 40:
            raise ValueError("nested too deeply")
        if value is None or type(value) in (bool, int, float, str):
            return value
        if type(value) is list:
            return [self.decode(v, depth + 1) for v in value]
        if type(value) is not dict:
            raise ValueError(f"unexpected {type(value).__name__}")
        tag = value.get("$")
        if tag == "int":
            return int(str(value["v"]))
        if tag == "float":
            if value["v"] not in ("nan", "inf", "-inf"):
                raise ValueError("bad float")
            return float(value["v"])
        if tag in ("tuple", "set", "frozenset"):
            items = [self.decode(v, depth + 1) for v in _list(value["v"])]
            return {"tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
        if tag == "dict":
            pairs = _list(value["v"])
            if any(type(pair) is not list or len(pair) != 2 for pair in pairs):
                raise ValueError("expected a key-value pair")
            return {self.decode(k, depth + 1): self.decode(v, depth + 1) for k, v in pairs}
        if tag == "path":
            return pathlib.PurePosixPath(_str(value["v"]))
        if tag in ("ndarray", "npscalar"):
            return self._numpy(value)
        if tag in ("dataframe", "series", "index"):
            return self._pandas(tag, value, depth)
        if tag == "keras_model":
            return self._keras(value)
        if tag == "object":
            attributes = {_str(k, _IDENTIFIER_RE): self.decode(v, depth + 1)
                          for k, v in _dict(value["attrs"]).items()}  # fmt: skip
            refused = {_str(k, _IDENTIFIER_RE): str(v)[:300]
                       for k, v in _dict(value.get("refused", {})).items()}  # fmt: skip
            return Exported(_str(value["type"])[:200], attributes, refused)
        raise ValueError(f"unknown tag {tag!r}")

    def _numpy(self, value):
        import numpy as np

        if "file" in value:
            array = np.load(self._path(value["file"]), allow_pickle=False)
            return array[()] if value["$"] == "npscalar" else array
        dtype = np.dtype(_str(value["dtype"]))
        if dtype.kind not in "biuf":
            raise ValueError("bad scalar dtype")
        item = self.decode(value["v"])
        if type(item) not in (bool, int, float):
            raise ValueError("bad scalar")
        return dtype.type(item)

    def _column(self, column, index, depth: int):
        import pandas as pd

        column = _dict(column)
        if "array" in column:
            return pd.Series(self._numpy(_dict(column["array"])), index=index)
        values = [self.decode(v, depth + 1) for v in _list(column["v"])]
        series = pd.Series(values, index=index, dtype=object)
        try:  # str, category, nullable ints...: the column's own dtype when pandas knows it
            return series.astype(_str(column["dtype"])[:100])
        except (TypeError, ValueError, ImportError):
            return series

    def _index(self, index, depth: int):
        import pandas as pd

        index = _dict(index)
        name = self.decode(index.get("name"), depth + 1)
        if "range" in index:
            start, stop, step = (int(v) for v in _list(index["range"]))
            return pd.RangeIndex(start, stop, step, name=name)
        if "tuples" in index:
            names = [self.decode(n, depth + 1) for n in _list(index["names"])]
            tuples = [self.decode(t, depth + 1) for t in _list(index["tuples"])]
            return pd.MultiIndex.from_tuples(tuples, names=names)
        values = [self.decode(v, depth + 1) for v in _list(index["v"])]
        try:
            return pd.Index(values, dtype=_str(index["dtype"])[:100], name=name)
        except (TypeError, ValueError, ImportError):
            return pd.Index(values, name=name)

    def _pandas(self, tag: str, value, depth: int):
        import pandas as pd

        if tag == "index":
            return self._index(value["v"], depth)
        index = self._index(value["index"], depth)
        if tag == "series":
            series = self._column(value["data"], index, depth)
            series.name = self.decode(value["name"], depth + 1)
            return series
        columns = self._index(value["columns"], depth)
        data = [self._column(c, index, depth) for c in _list(value["data"])]
        if len(data) != len(columns):
            raise ValueError("columns and data disagree")
        frame = pd.concat(data, axis=1) if data else pd.DataFrame(index=index)
        frame.columns = columns
        return frame

    def _keras(self, value):
        from tlcourse.grading.keras_files import load_model
        from tlcourse.keras_private import all_layers, set_compiled_flags

        model = load_model(self._path(value["file"]))
        flags = value.get("compiled_trainable")
        layers = all_layers(model)
        usable = isinstance(flags, list) and len(flags) == len(layers)
        if getattr(model, "compiled", False) and usable:
            pairs = zip(layers, flags, strict=True)
            set_compiled_flags(model, {lay: f for lay, f in pairs if f is True or f is False})
        return model


def _list(value) -> list:
    if type(value) is not list:
        raise ValueError("expected a list")
    return value


def _dict(value) -> dict:
    if type(value) is not dict:
        raise ValueError("expected an object")
    return value


def _str(value, pattern: re.Pattern | None = None) -> str:
    if type(value) is not str or (pattern is not None and not pattern.fullmatch(value)):
        raise ValueError("expected a name")
    return value


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def restore_answers(folder: str | os.PathLike, names=None) -> tuple[dict, dict]:
    """Read the answers one question exported, as untrusted data.

    Example:
        >>> import tempfile
        >>> from tlcourse.grading.answers import export_answers
        >>> folder = tempfile.mkdtemp()
        >>> _ = export_answers({"x": (1, [2.5, None]), "d": {"a": 1}}, {"x": [], "d": []},
        ...                    folder)
        >>> restore_answers(folder)
        ({'x': (1, [2.5, None]), 'd': {'a': 1}}, {})
    """
    folder = Path(folder)
    path = folder / ANSWERS_FILE
    if path.is_symlink() or not path.is_file():
        return {}, {"*": "no answers were exported"}
    if path.stat().st_size > _MAX_JSON_BYTES:
        return {}, {"*": f"{ANSWERS_FILE} is over {_MAX_JSON_BYTES >> 20} MiB"}
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
        values, refused = _dict(data["values"]), _dict(data.get("refused", {}))
    except (ValueError, KeyError, RecursionError, UnicodeDecodeError) as error:
        return {}, {"*": f"unreadable answers: {type(error).__name__}"}
    refusals = {k: str(v)[:300] for k, v in refused.items()
                if isinstance(k, str) and _IDENTIFIER_RE.fullmatch(k)}  # fmt: skip
    restored, decoder, wanted = {}, _Decoder(folder), None if names is None else set(names)
    for name, value in values.items():
        if not isinstance(name, str) or not _IDENTIFIER_RE.fullmatch(name):
            continue
        if wanted is not None and name not in wanted:
            refusals[name] = "not a name this question's tests read"
            continue
        try:
            restored[name] = decoder.decode(value)
        except Exception as error:  # a hostile or damaged file: refuse this name only
            refusals[name] = f"could not be read back: {type(error).__name__}: {error}"[:300]
    return restored, refusals
