"""Answers as data: what leaves the sandbox (answers), how it is read back (restore), which names
a question needs (names), and how the checker scores them (checker), without any kernel."""

from __future__ import annotations

import collections
import json
import os
import pathlib
import zipfile
from types import MappingProxyType, SimpleNamespace

import keras
import numpy as np
import pandas as pd
import pytest

import tlcourse as tl
from tlcourse.grading.answers import ANSWERS_FILE, export_answers
from tlcourse.grading.checker import check_answers
from tlcourse.grading.names import code_names, question_names
from tlcourse.grading.restore import Exported, restore_answers
from tlcourse.grading.runner import unpack_answers


def _round_trip(tmp_path, namespace: dict, names: dict | None = None):
    folder = tmp_path / "answers"
    folder.mkdir(parents=True, exist_ok=True)
    refused = export_answers(namespace, names or {k: [] for k in namespace}, str(folder))
    values, refusals = restore_answers(folder)
    return values, refusals, refused


def test_builtins_numpy_and_pandas_come_back_equal(tmp_path):
    frame = pd.DataFrame(
        {"strategy": ["scratch", "fine_tuning"], "test_accuracy": [0.5, np.nan],
         "seed": np.array([0, 1], dtype=np.int64), "train_per_class": ["all", 2],
         "history": [{"loss": [1.0, 0.5]}, None]}
    )  # fmt: skip
    namespace = {
        "none": None, "flag": True, "big": 2**70, "nan": float("nan"), "text": "b",
        "nested": {1: ["x", (2.5, None)], (1, 2): {3, 4}}, "array": np.arange(6.0).reshape(2, 3),
        "f32": np.float32(0.25), "i64": np.int64(3), "frame": frame, "series": frame["seed"],
        "index": pd.Index(["a", "b"], name="n"), "path": pathlib.Path("/data/photos/x.jpg"),
        "files": MappingProxyType({"train": (pathlib.Path("a.jpg"),)}),  # as Dataset.files
    }  # fmt: skip
    values, refusals, _ = _round_trip(tmp_path, namespace)
    assert refusals == {}
    assert values["frame"].equals(frame) and values["series"].equals(frame["seed"])
    assert values["nested"] == namespace["nested"] and values["big"] == 2**70
    assert np.isnan(values["nan"]) and values["path"] == pathlib.PurePosixPath("/data/photos/x.jpg")
    assert type(values["f32"]) is np.float32 and values["f32"] == 0.25
    assert type(values["i64"]) is np.int64 and np.array_equal(values["array"], namespace["array"])
    assert list(values["index"]) == ["a", "b"] and values["index"].name == "n"
    assert values["files"] == {"train": (pathlib.PurePosixPath("a.jpg"),)}


def test_subclasses_of_builtins_become_their_plain_value(tmp_path):
    class AlwaysEqual(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

        def __str__(self):
            return "b"

    class Zero(float):
        def __sub__(self, other):
            return 0.0

    class Listy(list):
        def __iter__(self):
            return iter(["forged"])

    Point = collections.namedtuple("Point", "x y")
    values, _, _ = _round_trip(
        tmp_path, {"a": AlwaysEqual("z"), "x": Zero(3.5), "l": Listy([1, 2]), "p": Point(1, 2)}
    )
    assert values == {"a": "z", "x": 3.5, "l": [1, 2], "p": (1, 2)}
    assert [type(v) for v in values.values()] == [str, float, list, tuple]


def test_objects_leave_only_as_the_attributes_the_tests_read(tmp_path):
    class AnythingGoes:
        def __eq__(self, other):
            return True

    record = SimpleNamespace(wall_seconds=2.5, secret=lambda: "code", mode="estimated")
    namespace = {"eq": AnythingGoes(), "record": record, "fn": print, "obj": np.array([object()])}
    names = {"eq": [], "record": ["wall_seconds", "secret"], "fn": [], "obj": [], "gone": []}
    values, refusals, refused = _round_trip(tmp_path, namespace, names)
    assert set(refusals) == {"eq", "fn", "obj", "gone"} == set(refused)
    assert "cannot leave as data" in refusals["eq"] and refusals["gone"] == "not defined"
    assert isinstance(values["record"], Exported) and values["record"].wall_seconds == 2.5
    with pytest.raises(AttributeError, match="not exported"):
        _ = values["record"].secret  # a function never leaves
    with pytest.raises(AttributeError, match="read-only"):
        values["record"].wall_seconds = 0


def test_keras_models_come_back_with_their_compile_state(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    fresh = {"model": model}
    values, _, _ = _round_trip(tmp_path, fresh)
    assert tl.check_transfer_setup(values["model"]) == []
    assert np.allclose(values["model"].get_weights()[0], model.get_weights()[0])
    model.layers[0].trainable = False  # changed after compile: must still look stale
    values, _, _ = _round_trip(tmp_path / "stale", {"model": model})
    checks = [p.check for p in tl.check_transfer_setup(values["model"])]
    assert "trainable_changed_after_compile" in checks


def test_restore_refuses_what_the_exporter_would_never_write(tmp_path):
    folder = tmp_path / "answers"
    folder.mkdir()
    (tmp_path / "secret.npy").write_bytes(b"x")
    os.symlink(tmp_path / "secret.npy", folder / "v1.npy")  # a link out of the folder
    np.save(folder / "v2.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)  # pickle
    values = {
        "link": {"$": "ndarray", "file": "v1.npy"},
        "pickled": {"$": "ndarray", "file": "v2.npy"},
        "escape": {"$": "ndarray", "file": "../secret.npy"},
        "tag": {"$": "pickle", "v": "gASV"},
        "ok": [1, {"$": "tuple", "v": [2]}],
    }
    (folder / ANSWERS_FILE).write_text(json.dumps({"values": values, "refused": {}}))
    restored, refusals = restore_answers(folder)
    assert restored == {"ok": [1, (2,)]}
    assert set(refusals) == {"link", "pickled", "escape", "tag"}
    (folder / ANSWERS_FILE).write_text('{"values": {"x": NaN}}')
    assert restore_answers(folder) == ({}, {"*": "unreadable answers: ValueError"})


def test_unpack_answers_takes_only_expected_names_within_the_size_limit(tmp_path):
    sent = tmp_path / "sent.zip"
    with zipfile.ZipFile(sent, "w") as archive:
        archive.writestr("report.json", json.dumps({"errors": [], "failure": None}))
        archive.writestr("q1/answers.json", "{}")
        archive.writestr("../escape.txt", "x")
        archive.writestr("q1/run.py", "print('x')")
    target = tmp_path / "answers"
    report = unpack_answers(sent, target, limit=1 << 20)
    assert report == {"errors": [], "failure": None}
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "q1", "q1/answers.json"
    ]  # fmt: skip
    assert not (tmp_path / "escape.txt").exists()
    with zipfile.ZipFile(sent, "a") as archive:
        archive.writestr("q2/v1.npy", b"0" * 4096)
    assert "over" in unpack_answers(sent, tmp_path / "small", limit=1024)["failure"]
    (tmp_path / "garbage.zip").write_bytes(b"not a zip")
    assert "exported nothing" in unpack_answers(tmp_path / "garbage.zip", target, 1024)["failure"]


def test_names_are_derived_from_the_tests():
    assert code_names(">>> assert abs(x - 42) < 1e-9 and tl.STRATEGIES and np.pi") == {"x": []}
    code = "runs = sweep[sweep['n'] == 1]\nmeans = runs.groupby('s').mean()\nassert gain == means"
    assert code_names(code) == {"gain": [], "sweep": []}
    code = "import numpy\nfrom a import b as c\nassert c(numpy, record.wall_seconds)"
    assert code_names(code) == {"record": ["wall_seconds"]}
    from otter.test_files import ExceptionTestFile

    exception_format = ExceptionTestFile.from_string(
        "from otter.test_files import test_case\nname = 'q1'\n\n"
        "@test_case(points=1)\ndef test_x(x, np):\n    assert np.isclose(x, 1)\n"
    )
    assert question_names(exception_format) == {"x": []}  # np is the grader's


def _autograder(path, tests: dict[str, list[tuple[str, bool]]]):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("otter_config.json", '{"assignment_name": "t"}')
        for name, cases in tests.items():
            spec = {"name": name, "points": None, "suites": [{"cases": [
                {"code": code, "hidden": hidden} for code, hidden in cases]}]}  # fmt: skip
            archive.writestr(f"tests/{name}.py", f"OK_FORMAT = True\ntest = {spec!r}\n")
    return path


def test_checker_uses_the_real_builtins_and_modules_and_the_graders_fast(tmp_path):
    autograder = _autograder(
        tmp_path / "a.zip",
        {
            "q1": [(">>> assert isinstance(x, int)", False), (">>> assert abs(x - 42) < 1", True)],
            "q2": [(">>> assert n == len(tl.imagenet_class_names())", True)],
            "q3": [(">>> assert seen_fast == FAST", True)],
        },
    )
    answers = tmp_path / "answers"
    fake_tl = SimpleNamespace(imagenet_class_names=lambda: [0] * 5)
    forged = {"x": "42", "n": 5, "seen_fast": True, "abs": lambda v: 0, "isinstance": bool,
              "tl": fake_tl, "FAST": True}  # fmt: skip
    for question, names in {"q1": ["x", "abs", "isinstance"], "q2": ["n", "tl"],
                            "q3": ["seen_fast", "FAST"]}.items():  # fmt: skip
        (answers / question).mkdir(parents=True)
        export_answers(forged, {n: [] for n in names}, str(answers / question))
    report = check_answers(autograder, answers, fast=False)
    assert report["scores"] == {"q1": 0.0, "q2": 0.0, "q3": 0.0}
    assert report["possible"] == {"q1": 1.0, "q2": 1.0, "q3": 1.0}
    assert [c["hidden"] for c in report["cases"]["q1"]] == [False, True]
    honest = {"x": 42, "n": 1000, "seen_fast": False}
    for question in ("q1", "q2", "q3"):
        for path in (answers / question).iterdir():
            path.unlink()
        export_answers(honest, {n: [] for n in honest}, str(answers / question))
    assert check_answers(autograder, answers, fast=False)["scores"] == {
        "q1": 1.0, "q2": 1.0, "q3": 1.0
    }  # fmt: skip
