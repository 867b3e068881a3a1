"""Answers leave the student's kernel as data only: the export side.

After a question's ``grader.check`` cell, the worker runs :func:`export_answers` in the student's
kernel on the names that question's tests read. Each value is written as data, never pickled:
``None``, ``bool``, ``int``, ``float``, ``str``, lists, tuples, dicts (and ``MappingProxyType``
views) and sets of them as tagged JSON (a subclass of a builtin: the builtin's plain value, read
through the builtin's methods); numpy arrays (``.npy``, no object dtype) and scalars; pandas
frames, series and indexes; paths; Keras models as ``.keras``, with which layers were trainable
at the last compile. Any other object leaves only as the attributes the tests read on it
(``history.history``), under these same rules; the rest is refused by name, with the reason.
What this writes is only a claim of the submission (its code may have replaced anything here):
:mod:`.restore` reads it back as untrusted data. Only the standard library is imported at module
level: the worker runs this source in a kernel that never imported tlcourse.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import sys
import types

__all__ = ["ANSWERS_FILE", "export_answers"]

ANSWERS_FILE = "answers.json"
_MAX_DEPTH = 32
_MAX_ITEMS = 1_000_000


class _Refused(Exception):
    """A value that cannot leave the sandbox as data."""


class _Encoder:
    def __init__(self, folder: str) -> None:
        self.folder, self.files, self.items = folder, 0, 0

    def _file(self, suffix: str) -> tuple[str, str]:
        self.files += 1
        name = f"v{self.files}{suffix}"
        return name, os.path.join(self.folder, name)

    def _count(self, n: int = 1) -> None:
        self.items += n
        if self.items > _MAX_ITEMS:
            raise _Refused(f"more than {_MAX_ITEMS:,} values")

    def encode(self, value, depth: int = 0):  # noqa: C901 - one branch per type
        if depth > _MAX_DEPTH:
            raise _Refused(f"nested more than {_MAX_DEPTH} levels deep")
        self._count()
        kind = type(value)
        if value is None or kind is bool or kind is str:
            return value
        if kind is int:
            return value if abs(value) < 2**53 else {"$": "int", "v": str(value)}
        if kind is float:
            return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
        if kind in (list, tuple, set, frozenset):
            items = [self.encode(v, depth + 1) for v in kind.__iter__(value)]
            return items if kind is list else {"$": kind.__name__, "v": items}
        if kind is dict:
            pairs = dict.items(value)
            return {"$": "dict", "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                                       for k, v in pairs]}  # fmt: skip
        encoded = self._library_value(value, depth)  # numpy first: np.float64 is a float
        if encoded is not None:
            return encoded
        # Subclasses of builtins: the builtin's own value, read through the builtin's methods
        # (a subclass may override __eq__, __str__, __iter__...: those are never called).
        for base in (str, int, float):
            if isinstance(value, base):
                return self.encode(getattr(base, f"__{base.__name__}__")(value), depth)
        for base in (list, tuple, set, frozenset):
            if isinstance(value, base):
                return self.encode(base(base.__iter__(value)), depth)
        if isinstance(value, dict):
            return self.encode(dict(dict.items(value)), depth)
        if isinstance(value, pathlib.PurePath):
            return {"$": "path", "v": pathlib.PurePath.as_posix(value)}
        if isinstance(value, types.MappingProxyType):  # a read-only dict (Dataset.files)
            return self.encode(dict(value), depth)
        raise _Refused(f"a {kind.__module__}.{kind.__qualname__} cannot leave as data")

    def _library_value(self, value, depth: int):
        np, pd, keras = (sys.modules.get(name) for name in ("numpy", "pandas", "keras"))
        if np is not None and isinstance(value, np.ndarray | np.generic):
            return self._numpy(np, value)
        if pd is not None and isinstance(value, pd.DataFrame):
            data = [self._column(np, value.iloc[:, i], depth) for i in range(value.shape[1])]
            return {"$": "dataframe", "columns": self._index(pd, value.columns, depth),
                    "index": self._index(pd, value.index, depth), "data": data}  # fmt: skip
        if pd is not None and isinstance(value, pd.Series):
            return {"$": "series", "name": self.encode(value.name, depth + 1),
                    "index": self._index(pd, value.index, depth),
                    "data": self._column(np, value, depth)}  # fmt: skip
        if pd is not None and isinstance(value, pd.Index):
            return {"$": "index", "v": self._index(pd, value, depth)}
        if keras is not None and isinstance(value, keras.Model):
            return self._keras_model(value)
        return None

    def _numpy(self, np, value):
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise _Refused("a numpy array of Python objects cannot leave as data")
        if isinstance(value, np.generic) and array.dtype.kind in "biuf":
            return {"$": "npscalar", "dtype": array.dtype.str, "v": self.encode(array.item())}
        # One .npy file: its bytes count against the answers' size limit on the way out
        # (Limits.answers), not against the values here. Notebook 03's test images and their
        # preprocessed copy are half a million values each.
        name, path = self._file(".npy")
        np.save(path, array, allow_pickle=False)
        return {"$": "npscalar" if isinstance(value, np.generic) else "ndarray", "file": name}

    def _column(self, np, series, depth: int):
        dtype = series.dtype
        if getattr(dtype, "kind", "O") in "biufmM" and type(dtype).__module__.startswith("numpy"):
            return {"dtype": str(dtype), "array": self._numpy(np, series.to_numpy())}
        self._count(len(series))
        return {"dtype": str(dtype), "v": [self.encode(v, depth + 1) for v in series.tolist()]}

    def _index(self, pd, index, depth: int):
        name = self.encode(index.name, depth + 1)
        if isinstance(index, pd.RangeIndex):
            return {"range": [index.start, index.stop, index.step], "name": name}
        if isinstance(index, pd.MultiIndex):
            names = [self.encode(n, depth + 1) for n in index.names]
            return {"tuples": [self.encode(tuple(t), depth + 1) for t in index], "names": names}
        self._count(len(index))
        values = [self.encode(v, depth + 1) for v in index.tolist()]
        return {"dtype": str(index.dtype), "v": values, "name": name}

    def _keras_model(self, model):
        name, path = self._file(".keras")
        try:
            model.save(path)
        except Exception as error:
            raise _Refused(f"this Keras model cannot be saved: {type(error).__name__}") from error
        # Keras remembers which layers were trainable at compile time; a model whose flags
        # changed since must still look stale once reloaded (reloading compiles it afresh).
        from tlcourse.keras_private import all_layers, compiled_flags

        state = compiled_flags(model)
        flags = None if state is None else [state.get(layer) for layer in all_layers(model)]
        return {"$": "keras_model", "file": name, "compiled_trainable": flags}

    def attributes(self, value, attributes, depth: int = 0):
        """An object that cannot leave whole leaves as the attributes the tests read on it."""
        found, refused = {}, {}
        for attribute in attributes:
            try:
                found[attribute] = self.encode(getattr(value, attribute), depth + 1)
            except _Refused as error:
                refused[attribute] = str(error)
            except Exception as error:
                refused[attribute] = f"reading it raised {type(error).__name__}"
        kind = type(value)
        return {"$": "object", "type": f"{kind.__module__}.{kind.__qualname__}",
                "attrs": found, "refused": refused}  # fmt: skip


def export_answers(namespace: dict, names: dict, folder: str) -> dict:
    """Write the values of ``names`` from ``namespace`` into ``folder`` as data.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> class Sneaky(str):
        ...     def __eq__(self, other):
        ...         return True
        >>> export_answers({"a": Sneaky("b"), "f": open}, {"a": [], "f": [], "g": []}, folder)
        {'f': 'a builtins.builtin_function_or_method cannot leave as data', 'g': 'not defined'}
        >>> json.load(open(os.path.join(folder, ANSWERS_FILE)))["values"]
        {'a': 'b'}
    """
    encoder = _Encoder(folder)
    values, refused = {}, {}
    for name, attributes in names.items():
        if name not in namespace:
            refused[name] = "not defined"
            continue
        value = namespace[name]
        try:
            values[name] = encoder.encode(value)
        except _Refused as error:
            if attributes:
                values[name] = encoder.attributes(value, attributes)
            else:
                refused[name] = str(error)
        except Exception as error:  # a value whose own methods raise
            refused[name] = f"exporting it raised {type(error).__name__}: {error}"[:300]
    with open(os.path.join(folder, ANSWERS_FILE), "w", encoding="utf-8") as file:
        json.dump({"format": 1, "values": values, "refused": refused}, file, allow_nan=False)
    return refused
