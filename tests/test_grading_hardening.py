"""Grading hardening (issue 17), piece by piece, without a sandbox or a kernel: the escaping of
submission text, the checker's sealed namespace, the inspection of Keras files, the checks of
the worker's zip, the privilege drop, cgroups and the time-limit clock.

The red-team suites (tests/test_redteam*.py) send the same attacks through ``tlcourse grade``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import keras
import pytest

from tlcourse.grading import clock as clock_module
from tlcourse.grading import grade as grade_module
from tlcourse.grading.answers import ANSWERS_FILE, export_answers
from tlcourse.grading.archive import MAX_MEMBERS, zip_problem
from tlcourse.grading.autograder import read_test_files
from tlcourse.grading.cgroups import cgroup_support, sandbox_group
from tlcourse.grading.checker import check_answers, question_namespace
from tlcourse.grading.clock import LONGEST, StageClock
from tlcourse.grading.keras_files import MAX_CONFIG_BYTES, keras_settings, load_model
from tlcourse.grading.names import TRUSTED_MODULES
from tlcourse.grading.runner import unpack_answers
from tlcourse.grading.text import escape_text

ROOT = os.geteuid() == 0

# ---------------------------------------------------------------------------------------------
# Text from a submission


UNSAFE = {
    "escape (ANSI)": "\x1b[2K",
    "carriage return": "\r",
    "backspace": "\x08",
    "bell": "\x07",
    "NUL": "\x00",
    "DEL": "\x7f",
    "8-bit CSI": "\x9b2K",
    "right-to-left override": "\u202e",
    "isolate": "\u2066",
    "line separator": "\u2028",
    "byte-order mark": "\ufeff",
    "lone surrogate": "\ud800",
    "undecodable byte of a file name": os.fsdecode(b"\xff"),
}


@pytest.mark.parametrize("character", UNSAFE.values(), ids=UNSAFE.keys())
def test_escape_text_leaves_nothing_a_terminal_or_an_encoder_trips_on(character):
    forged = f"alice{character}[7/12] mallory: 10/10 ok\nnext"
    for lines in (False, True):
        text = escape_text(forged, lines=lines)
        assert all(line.isprintable() for line in text.split("\n")), repr(text)
        text.encode("utf-8")  # strict: a lone surrogate would raise here
        assert "\\" in text and "[7/12] mallory" in text  # escaped, not dropped
    assert "\n" not in escape_text(forged) and "\n" in escape_text(forged, lines=True)


def _tiny_autograder(path: Path, tests: dict[str, list[tuple[str, bool]]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("otter_config.json", '{"assignment_name": "t"}')
        for name, cases in tests.items():
            spec = {"name": name, "points": None, "suites": [{"cases": [
                {"code": code, "hidden": hidden} for code, hidden in cases]}]}  # fmt: skip
            archive.writestr(f"tests/{name}.py", f"OK_FORMAT = True\ntest = {spec!r}\n")
    return path


def test_a_row_that_raises_is_that_rows_error_and_the_batch_still_writes_its_csv(
    tmp_path, monkeypatch
):
    autograder = _tiny_autograder(tmp_path / "a.zip", {"q1": [(">>> assert x == 1", True)]})
    folder = tmp_path / "submissions"
    folder.mkdir()
    odd = os.fsdecode(b"mallory\x1b[2K\r\xff")  # a file name: control characters, not UTF-8
    for stem in ("alice", odd):
        (folder / f"{stem}.ipynb").write_text("{}")

    def grade_submission(path, *args, **kwargs):
        if path.stem == odd:
            raise RuntimeError("the grader itself failed \ud800\x1b[2K\r[9/9] bob: 10/10 ok")
        return {"student": "alice", "q1": 1.0, "total": 1.0, "possible": 1.0, "status": "ok",
                "reason": "", "seconds": 1.0, "sandbox": "none"}  # fmt: skip

    monkeypatch.setattr(grade_module, "grade_submission", grade_submission)
    printed = []

    def progress(line):
        line.encode("utf-8")  # a strict terminal
        printed.append(line)

    out = tmp_path / "scores.csv"
    table = grade_module.grade_folder(folder, autograder, out, sandbox=False, progress=progress)
    assert len(table) == 2 and set(table["status"]) == {"ok", "error"}
    failed = table[table["status"] == "error"].iloc[0]
    assert failed["total"] == 0 and failed["reason"].startswith("grading failed: RuntimeError")
    assert all(line.isprintable() for line in printed), printed
    assert sum(line.startswith("[") for line in printed) == 2  # no forged progress line
    text = out.read_bytes().decode("utf-8")  # strict
    assert "\x1b" not in text and "\r" not in text.replace("\r\n", "\n")
    assert "mallory\\x1b[2K\\x0d\\udcff" in text


def test_a_terminal_that_cannot_show_a_character_gets_its_escape():
    shown = []

    def ascii_terminal(line):
        shown.append(line.encode("ascii").decode())

    grade_module._show(ascii_terminal, "Zoë: 1/1 ok")
    assert shown == ["Zo\\xeb: 1/1 ok"]


# ---------------------------------------------------------------------------------------------
# The checker's namespace: forged builtins, modules and helpers


def _constant_layer_file(path: Path, value: float) -> Path:
    """A ``.keras`` file holding a bare Rescaling layer that returns ``value`` for any input:
    callable, like the builtin it replaces (a bare layer takes Python numbers and lists)."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Rescaling(0.0, offset=0.0)])
    model.save(path.with_suffix(".tmp.keras"))
    layer = keras.saving.serialize_keras_object(keras.layers.Rescaling(0.0, offset=float(value)))
    _rewrite_config(path.with_suffix(".tmp.keras"), path, layer)
    return path


def _rewrite_config(source: Path, target: Path, config, extra: dict | None = None) -> Path:
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as archive:
        for info in original.infolist():
            data = original.read(info.filename)
            if info.filename == "config.json":  # a str is written as it is
                data = config if isinstance(config, str) else json.dumps(config)
            archive.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return target


# (builtin, hidden test, what the forged builtin returns, the wrong answer)
FORGED_BUILTINS = [
    ("abs", "assert abs(x - 86753091) < 1e-9", 0.0, 7),
    ("len", "assert len(x) == 3", 3.0, [9]),
    ("float", "assert float(x) == 42.0", 42.0, 7),
    ("round", "assert round(x) == 42", 42.0, 7),
    ("sum", "assert sum(x) == 6", 6.0, [9]),
    ("max", "assert max(x) == 3", 3.0, [9]),
]


@pytest.mark.parametrize("builtin, hidden, value, wrong", FORGED_BUILTINS,
                         ids=[f[0] for f in FORGED_BUILTINS])  # fmt: skip
def test_an_answer_named_after_a_builtin_never_replaces_it(tmp_path, builtin, hidden, value, wrong):
    autograder = _tiny_autograder(tmp_path / "a.zip", {"q1": [(f">>> {hidden}", True)]})
    folder = tmp_path / "answers" / "q1"
    folder.mkdir(parents=True)
    _constant_layer_file(folder / "v9.keras", value)
    # What a hostile kernel writes in place of the exporter: its wrong answer, and the builtin.
    values = {"x": wrong if isinstance(wrong, int) else {"$": "tuple", "v": wrong},
              builtin: {"$": "keras_model", "file": "v9.keras"}}  # fmt: skip
    (folder / ANSWERS_FILE).write_text(json.dumps({"format": 1, "values": values}))
    # The attack is real: in a namespace built from every answer (the former checker's), the
    # forged builtin passes the hidden test.
    naive = {"x": wrong, builtin: keras.saving.load_model(folder / "v9.keras", safe_mode=True)}
    test_file = read_test_files(autograder)["q1"]
    test_file.run({**naive, **{a: __import__(m) for a, m in TRUSTED_MODULES.items()}})
    assert test_file.score == 1.0
    report = check_answers(autograder, tmp_path / "answers", fast=True)
    assert report["scores"] == {"q1": 0.0}
    assert "not a name this question's tests read" in report["refused"]["q1"][builtin]


@pytest.mark.parametrize("name", ["np", "tl", "keras", "math", "FAST", "__builtins__", "print"])
def test_modules_fast_and_builtins_always_come_from_the_grader(name):
    trusted = {"np": "numpy-module", "FAST": False}
    namespace, ignored = question_namespace({name: "forged", "x": 1}, ["x", name], trusted)
    assert namespace.get(name) != "forged" and name in ignored
    assert namespace["x"] == 1 and namespace["__builtins__"]["print"] is print


def test_each_question_gets_fresh_builtins(tmp_path):
    # q1's test replaces a builtin in its own namespace; q2 must still see the real one.
    autograder = _tiny_autograder(tmp_path / "a.zip", {
        "q1": [(">>> __builtins__['abs'] = lambda v: 0\n>>> assert abs(x - 42) == 0", True)],
        "q2": [(">>> assert abs(y - 42) < 1e-9", True)],
    })  # fmt: skip
    for question, values in {"q1": {"x": 7}, "q2": {"y": 7}}.items():
        (tmp_path / "answers" / question).mkdir(parents=True)
        export_answers(values, {k: [] for k in values}, str(tmp_path / "answers" / question))
    assert check_answers(autograder, tmp_path / "answers", fast=True)["scores"] == {
        "q1": 1.0, "q2": 0.0
    }  # fmt: skip


def test_arrays_as_large_as_a_notebooks_images_leave_whole(tmp_path):
    # Notebook 03's question 6 reads test_images and prepared: (45, 64, 64, 3) each in fast
    # mode, 1.1 million values together; each leaves as one .npy file.
    import numpy as np

    images = np.zeros((45, 64, 64, 3), dtype="float32")
    names = {"test_images": [], "prepared": []}
    assert export_answers({"test_images": images, "prepared": images + 1}, names,
                          str(tmp_path)) == {}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Keras files


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A small honest model file (softmax Dense, compiled with a loss function) and its
    config."""
    folder = tmp_path_factory.mktemp("keras")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss=keras.losses.sparse_categorical_crossentropy)
    model.save(folder / "honest.keras")
    with zipfile.ZipFile(folder / "honest.keras") as archive:
        return folder / "honest.keras", json.loads(archive.read("config.json"))


def _with_layer(config: dict, layer: dict) -> dict:
    crafted = json.loads(json.dumps(config))
    crafted["config"]["layers"].append(layer)
    return crafted


def _crafted(config: dict) -> dict:
    """Keras class variants a hostile model may name, each with the reason it is refused."""
    lambda_layer = keras.saving.serialize_keras_object(keras.layers.Lambda(keras.ops.zeros_like))
    function = {"module": "builtins", "class_name": "function", "registered_name": "function"}
    return {
        "bare layer": (
            keras.saving.serialize_keras_object(keras.layers.Rescaling(0.0)),
            "is not a keras.Model",
        ),
        "Lambda of a public function": (_with_layer(config, lambda_layer), "Lambda"),
        "TFSMLayer": (
            _with_layer(
                config,
                {
                    "module": "keras.layers",
                    "class_name": "TFSMLayer",
                    "config": {"filepath": "/box/x"},
                },
            ),
            "TFSMLayer",
        ),  # fmt: skip
        "JaxLayer": (
            _with_layer(config, {"module": "keras.layers", "class_name": "JaxLayer", "config": {}}),
            "JaxLayer",
        ),  # fmt: skip
        "activation from keras.config": (
            _with_layer(
                config,
                {
                    "module": "keras.layers",
                    "class_name": "Activation",
                    "config": {
                        "activation": {**function, "module": "keras.config", "config": "set_floatx"}
                    },
                },
            ),
            "keras.config.set_floatx",
        ),  # fmt: skip
        "function of keras.ops": (
            _with_layer(
                config,
                {
                    "module": "keras.layers",
                    "class_name": "Activation",
                    "config": {"activation": {**function, "config": "zeros_like"}},
                },
            ),
            "zeros_like",
        ),
        "keras.losses.get": (
            _with_layer(
                config,
                {
                    "module": "keras.layers",
                    "class_name": "Activation",
                    "config": {"activation": {**function, "config": "get"}},
                },
            ),
            "function builtins.get",
        ),
        "class outside Keras": (
            _with_layer(config, {"module": "subprocess", "class_name": "Popen", "config": {}}),
            "outside Keras",
        ),
        "keras.utils class": (
            _with_layer(config, {"module": "keras.utils", "class_name": "Progbar", "config": {}}),
            "not a part of a model",
        ),  # fmt: skip
        "config.json too large": (
            _with_layer(
                config,
                {
                    "module": "keras.layers",
                    "class_name": "Dense",
                    "config": {"name": "x" * (MAX_CONFIG_BYTES + 1)},
                },
            ),
            "over 16 MiB",
        ),  # fmt: skip
        "config.json nested too deeply": ("[" * 100_000 + "]" * 100_000, "unreadable"),
    }


def test_keras_files_naming_code_or_not_a_model_are_refused_before_loading(saved_model, tmp_path):
    path, config = saved_model
    before = keras_settings()
    for variant, (crafted, why) in _crafted(config).items():
        target = _rewrite_config(path, tmp_path / "crafted.keras", crafted)
        with pytest.raises(ValueError, match=why):
            load_model(target)
        assert keras_settings() == before, variant
        assert keras.config.floatx() == "float32"
    assert isinstance(load_model(path), keras.Model)  # the honest file still loads


def test_a_keras_file_with_many_members_is_refused(saved_model, tmp_path):
    path, config = saved_model
    extra = {f"assets/{i}": b"" for i in range(100)}
    target = _rewrite_config(path, tmp_path / "many.keras", config, extra)
    with pytest.raises(ValueError, match="members"):
        load_model(target)


@keras.saving.register_keras_serializable(package="tlcourse")
class ChangesFloatx(keras.layers.Layer):
    """A layer registered under tlcourse's name whose loading changes a global setting: what
    a crafted file could do through a public function, had the inspection missed it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        keras.config.set_floatx("float16")
        keras.config.set_epsilon(0.5)


def test_a_model_that_changes_keras_global_settings_is_refused_and_they_are_put_back(
    saved_model, tmp_path
):
    path, config = saved_model
    layer = {"module": "test_grading_hardening", "class_name": "ChangesFloatx", "config": {},
             "registered_name": "tlcourse>ChangesFloatx"}  # fmt: skip
    target = _rewrite_config(path, tmp_path / "floatx.keras", _with_layer(config, layer))
    before = keras_settings()
    with pytest.raises(ValueError, match=r"global settings \['epsilon', 'floatx'\]"):
        load_model(target)
    assert keras_settings() == before and keras.config.floatx() == "float32"


# ---------------------------------------------------------------------------------------------
# The worker's zip


def test_zip_problem_reads_only_the_end_of_the_file(tmp_path, monkeypatch):
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(MAX_MEMBERS + 1):
            archive.writestr(f"q{i}/answers.json", "")
    assert "10,001 members" in zip_problem(many, max_members=MAX_MEMBERS,
                                           max_directory_bytes=1 << 30)  # fmt: skip
    assert "directory" in zip_problem(many, max_members=1 << 20, max_directory_bytes=1024)
    import tlcourse.grading.runner as runner

    def never(*args, **kwargs):
        raise AssertionError("the zip was opened")

    monkeypatch.setattr(runner.zipfile, "ZipFile", never)
    assert "members" in unpack_answers(many, tmp_path / "out", 1 << 20)["failure"]
    monkeypatch.undo()

    zip64 = tmp_path / "zip64.zip"
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)  # forces the ZIP64 end record
    with zipfile.ZipFile(zip64, "w") as archive:
        archive.writestr("a", "")
        archive.writestr("b", "")
    monkeypatch.undo()
    assert zip_problem(zip64, max_members=10, max_directory_bytes=1 << 20) == "it is a ZIP64 file"
    outside = tmp_path / "outside.zip"
    outside.write_bytes(
        b"PK\x05\x06"
        + bytes(4)
        + (1).to_bytes(2, "little") * 2
        + (46).to_bytes(4, "little")
        + (1 << 20).to_bytes(4, "little")
        + bytes(2)
    )
    assert "outside" in zip_problem(outside, max_members=10, max_directory_bytes=1 << 20)
    (tmp_path / "no.zip").write_bytes(b"not a zip" * 100)
    assert zip_problem(tmp_path / "no.zip", max_members=10, max_directory_bytes=1) == (
        "it is not a zip file"
    )


def test_unpack_answers_refuses_compressed_members_and_declared_sizes_over_the_cap(tmp_path):
    sent = tmp_path / "sent.zip"
    with zipfile.ZipFile(sent, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("report.json", "{}")
    assert "compressed" in unpack_answers(sent, tmp_path / "a", 1 << 20)["failure"]
    with zipfile.ZipFile(sent, "w") as archive:
        archive.writestr("report.json", "{}")
        archive.writestr("q1/v1.npy", b"0" * 4096)
    assert "over" in unpack_answers(sent, tmp_path / "b", 1024)["failure"]


def test_the_worker_sends_at_most_max_members_files(tmp_path):
    from tlcourse.grading.worker import _answer_files

    folder = tmp_path / "answers" / "q1"
    folder.mkdir(parents=True)
    for i in range(MAX_MEMBERS + 50):
        (folder / f"v{i}.npy").touch()
    (folder / "run.py").touch()
    files = _answer_files(tmp_path / "answers")
    assert len(files) == MAX_MEMBERS - 1 and all(f.suffix == ".npy" for f in files)


# ---------------------------------------------------------------------------------------------
# Privileges (as root), cgroups, the clock


def _as_child(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python with ``privileges`` loaded from its file (standard library
    only: no TensorFlow to import, and nothing to read after the drop)."""
    from tlcourse.grading import privileges

    prelude = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('privileges', {privileges.__file__!r})\n"
        "privileges = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(privileges)\n"
    )
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.skipif(not ROOT, reason="needs root: checks that root's grading process drops it")
def test_drop_privileges_leaves_no_capability_and_no_way_back():
    done = _as_child("""
        import ctypes, os
        privileges.drop_privileges(privileges.slot_uid(7))
        libc = ctypes.CDLL(None, use_errno=True)
        print("uid", os.getresuid() == (privileges.slot_uid(7),) * 3, os.getgroups())
        def remount():  # /usr read-write again
            if libc.mount(None, b"/usr", None, 32 | 4096, None) != 0:
                raise OSError(ctypes.get_errno(), "mount")
        for name, call in {
            "setuid": lambda: os.setuid(0),
            "mount": remount,
            "mknod": lambda: os.mknod("/tmp/tlcourse-test-null", 0o600 | 0o020000, 259),
            "read /root": lambda: os.listdir("/root"),
        }.items():
            try:
                call()
                print(name, "ALLOWED")
            except OSError as error:
                print(name, "refused", error.errno)
        print([l for l in open("/proc/self/status") if l.startswith(("Cap", "NoNewPrivs"))])
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "uid True []"
    assert all("refused" in line for line in lines[1:5]), lines
    status = eval(lines[5])  # the lines of /proc/self/status
    assert all(line.split()[1] == "0000000000000000" for line in status if line.startswith("Cap"))
    assert "NoNewPrivs:\t1\n" in status


@pytest.mark.skipif(not ROOT, reason="needs root to become another user first")
def test_the_kernel_cannot_reach_the_workers_report_pipe():
    code = """
        import os
        privileges.drop_privileges(privileges.slot_uid(8))  # worker and kernel: one uid
        read, write = os.pipe()
        if PROTECT:
            privileges.keep_from_children()
        else:  # as a process that never changed user is: dumpable
            import ctypes
            ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)
        parent = os.getpid()
        if os.fork() == 0:  # the kernel: it never inherited the pipe; /proc is its only way
            os.close(write)
            try:
                os.write(os.open(f"/proc/{parent}/fd/{write}", os.O_WRONLY), b"forged")
                os._exit(0)
            except OSError:
                os._exit(1)
        print(os.waitstatus_to_exitcode(os.wait()[1]))
    """
    assert _as_child(code.replace("PROTECT", "True")).stdout.strip() == "1"
    assert _as_child(code.replace("PROTECT", "False")).stdout.strip() == "0"  # the attack


@pytest.mark.skipif(not cgroup_support()[0], reason=f"no cgroups here: {cgroup_support()[1]}")
def test_a_sandbox_group_bounds_every_process_of_the_tree_and_goes_away(tmp_path):
    group = sandbox_group(processes=20)
    spawn = textwrap.dedent("""
        import subprocess
        started = 0
        for _ in range(60):
            try:
                subprocess.Popen(["sleep", "30"], start_new_session=True)
                started += 1
            except OSError:
                break
        print(started, open("/proc/self/cgroup").read().count("tlcourse-grade-"))
    """)
    folders = list(group.folders)
    try:
        done = subprocess.run(group.wrap([sys.executable, "-c", spawn]), capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    finally:
        group.remove()
    started, groups = (int(v) for v in done.stdout.split())
    assert 0 < started < 20, done  # sessions and all: pids.max counts them together
    assert 1 <= groups <= len(folders), "in its group of each hierarchy"
    assert folders and not any(folder.exists() for folder in folders), "removed, sleepers too"


class _FakeTime:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize(
    "ran, waited, expected",
    [(0.0, 0.0, 1.0),  # asleep (the endless notebook): the plain time limit
     (2.0, 0.0, 1.0),  # spinning on both CPUs alone
     (0.3, 1.0, 1.0),  # held back a little (over a quarter of its share): counts
     (0.05, 1.0, 0.2),  # starved by a neighbour: a fifth of a quarter of its share
     (0.0, 1.0, 0.0)],  # fully starved: the clock stands (up to LONGEST x the limit)
)  # fmt: skip
def test_the_clock_runs_slower_only_while_the_stage_is_starved(monkeypatch, ran, waited, expected):
    fake, totals = _FakeTime(), {"ran": 0.0, "waited": 0.0}
    monkeypatch.setattr(clock_module.time, "perf_counter", fake)
    monkeypatch.setattr(clock_module, "_tree", lambda pid: [pid])
    monkeypatch.setattr(clock_module.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(clock_module, "_task_times", lambda pids: {
        1: (int(totals["ran"] * 1e9), int(totals["waited"] * 1e9))})  # fmt: skip
    clock = StageClock(timeout=10)
    for _ in range(8):  # 8 ticks of a second, two stages running (a fair share: 1 CPU)
        fake.now += 1.0
        totals["ran"] += ran
        totals["waited"] += waited
        clock.tick(1, stages=2)
    assert clock.seconds == pytest.approx(8 * expected)
    fake.now = 10 * LONGEST
    assert clock.expired, "never beyond LONGEST times the limit"
