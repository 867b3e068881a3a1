"""Red team, second round (issue 17): forgery with data alone, crafted Keras files, text that
forges terminal lines, and a neighbour that takes the CPU; graded in one batch with ``--jobs 2``.

Each hostile submission tries one kind of attack; each test asserts its score (what its answers
earn without the trick), that the grader's machine is unchanged (package, data, Python
installation: ``otter_cells.host_snapshot``), and that the honest submission graded beside it
keeps full points. The assignment is the red team's (``otter_cells.redteam_master``) with a
Keras model question (q5). Sandboxes get cgroups where this machine allows them (as root here);
tests/test_redteam_fairness.py grades the CPU attack again without.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest
from otter_cells import (
    HONEST_ANSWERS,
    HONEST_MODEL,
    host_snapshot,
    hostile_notebook,
    redteam_master,
)

from tlcourse.grading import Limits, assign_notebook, bwrap_problem, grade_folder

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_problem() is not None, reason=f"bwrap: {bwrap_problem()}"),
]

# Seconds per stage: the honest submissions take a fraction of it. The hog's spinners run this
# long: no longer than that fraction asks, with a margin.
TIMEOUT = 90
HONEST = {**HONEST_ANSWERS, "model": HONEST_MODEL}
WRONG = {"x": "5", "answer": '"a"', "n": "7", "seen_fast": '"no"',
         "model": "keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])"}  # fmt: skip
# What WRONG earns without any trick: the public tests of q1 (5 is an int), q2 ("a" is a
# letter), q3 (7 is an int) and q5 (a keras.Model); nothing hidden.
WRONG_SCORES = {"q1": 1.0, "q2": 0.5, "q3": 0.5, "q4": 0.0, "q5": 0.5}

# Busy processes, each in a session of its own (each its own "autogroup" for the scheduler),
# then the kernel waits: the neighbour is graded while they run, until this one times out.
PROCESSES = """
import subprocess, sys, time
spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
            for _ in range(COUNT)]
while True:
    time.sleep(1)
"""

# After every question was exported, the kernel rewrites the answers itself: its wrong
# answers, plus builtins, modules and the grader's FAST under their own names. The builtins
# are bare Keras layers that return a constant whatever they are called on: a callable the
# former checker took from the answers, and loaded (safe_mode lets a bare layer through).
FORGE_NAMES = r"""
import json, keras, zipfile
from pathlib import Path

def rewrite(path, change):
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["config.json"] = json.dumps(change(json.loads(members["config.json"]))).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)

def constant(folder, number, value):
    path = folder / f"v{number}.keras"
    keras.Sequential([keras.Input((1,)), keras.layers.Rescaling(0.0)]).save(path)
    layer = keras.layers.Rescaling(0.0, offset=float(value))
    rewrite(path, lambda config: keras.saving.serialize_keras_object(layer))
    return {"$": "keras_model", "file": path.name}

root = Path("/box/answers")
q1, q2 = root / "q1", root / "q2"
forged = {
    q1: {"x": 5, "abs": constant(q1, 90, 0), "isinstance": constant(q1, 91, 1),
         "np": {"$": "dict", "v": []}, "FAST": True, "__builtins__": {"$": "dict", "v": []}},
    q2: {"answer": "a", "len": constant(q2, 92, 3), "tl": 0, "print": 0},
}
for folder, values in forged.items():
    (folder / "answers.json").write_text(json.dumps({"format": 1, "values": values}))
"""

# The model answer replaced by a crafted file: a Lambda whose function is a public Keras
# function that changes a global setting the hidden test reads (floatx).
FORGE_MODEL = r"""
import json, zipfile
from pathlib import Path

path = Path("/box/answers/q5/v1.keras")
with zipfile.ZipFile(path) as archive:
    members = {name: archive.read(name) for name in archive.namelist()}
config = json.loads(members["config.json"])
function = {"module": "keras.config", "class_name": "function", "config": "set_floatx",
            "registered_name": "function"}
config["config"]["layers"].append({"module": "keras.layers", "class_name": "Lambda",
                                   "config": {"name": "forged", "function": function}})
members["config.json"] = json.dumps(config).encode()
with zipfile.ZipFile(path, "w") as archive:
    for name, data in members.items():
        archive.writestr(name, data)
"""

# A message meant for the instructor's terminal: erase the line, go back, print a forged one;
# an 8-bit CSI, a right-to-left override, a lone surrogate.
FORGED_LINE = "\\r\\x1b[2K\\x1b[1A[7/7] mallory: 6/6 ok\\x9b2K\\u202e" + "\\ud800"
# Jupyter's own messages cannot carry a lone surrogate: the kernel sends its own JSON.
CONTROL = f"""
import json
get_ipython().kernel.session.pack = lambda message: json.dumps(message, default=str).encode()
print("{FORGED_LINE}")
raise ValueError("{FORGED_LINE}")
"""
ODD_NAME = os.fsdecode(b"e_control\x1b[31m\rmallory 6 of 6 ok\xff")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade the batch once: (table, logs folder, progress lines, host before, host after)."""
    root = tmp_path_factory.mktemp("forgery")
    assigned = assign_notebook(redteam_master(root / "masters", "08_forgery", model=True),
                               root / "dist", root / "student")  # fmt: skip
    blank, subs = assigned.student, root / "submissions"
    subs.mkdir()
    hostile_notebook(blank, subs / "a_processes.ipynb", answers=WRONG,
                     after=[PROCESSES.replace("COUNT", "8")])  # fmt: skip
    (subs / "b_honest.ipynb").write_bytes(assigned.solutions.read_bytes())
    hostile_notebook(blank, subs / "c_forged_names.ipynb", answers=WRONG, after=[FORGE_NAMES])
    hostile_notebook(blank, subs / "d_forged_model.ipynb", answers=HONEST, after=[FORGE_MODEL])
    hostile_notebook(blank, subs / f"{ODD_NAME}.ipynb", answers=HONEST, after=[CONTROL])
    (subs / "f_blank.ipynb").write_bytes(blank.read_bytes())
    hostile_notebook(blank, subs / "z_honest.ipynb", answers=HONEST)
    before = host_snapshot()
    printed = []

    def progress(line: str) -> None:
        line.encode("utf-8")  # a strict terminal: a lone surrogate would raise here
        printed.append(line)

    limits = Limits(cpu_seconds=TIMEOUT * 2, processes=256)
    table = grade_folder(subs, assigned.autograder, root / "scores.csv", timeout=TIMEOUT,
                         jobs=2, fast=True, logs=root / "logs", limits=limits,
                         progress=progress)  # fmt: skip
    return table.set_index("student"), root / "logs", printed, before, host_snapshot()


def _questions(table, student) -> dict:
    return table.loc[student, list(WRONG_SCORES)].to_dict()


def test_the_host_is_unchanged_and_the_honest_neighbours_keep_full_points(batch):
    table, _, _, before, after = batch
    assert after == before
    for student in ("b_honest", "z_honest"):
        assert tuple(table.loc[student, ["total", "possible", "status"]]) == (6.0, 6.0, "ok"), (
            table.loc[student, "reason"]
        )
    assert table.loc["f_blank", "total"] == 0


def test_a_neighbour_with_busy_processes_in_many_sessions_only_times_itself_out(batch):
    table, _, _, _, _ = batch
    row = table.loc["a_processes"]
    assert (row["total"], row["status"]) == (0.0, "timeout"), row["reason"]
    # b_honest ran beside it the whole time (both started first): full points, in time.
    assert table.loc["b_honest", "seconds"] < TIMEOUT * 2


def test_answers_named_after_builtins_modules_or_fast_change_nothing(batch):
    table, logs, _, _, _ = batch
    assert _questions(table, "c_forged_names") == WRONG_SCORES, table.loc["c_forged_names"]
    log = (logs / "c_forged_names.txt").read_text(encoding="utf-8")
    for name in ("abs", "isinstance", "np", "FAST", "__builtins__", "len", "tl", "print"):
        assert f"'{name}': \"not a name this question's tests read\"" in log, name


def test_a_crafted_keras_file_is_refused_before_it_runs(batch):
    table, logs, _, _, _ = batch
    expected = {**{q: 1.0 for q in WRONG_SCORES}, "q1": 2.0, "q5": 0.0}
    assert _questions(table, "d_forged_model") == expected, table.loc["d_forged_model"]
    log = (logs / "d_forged_model.txt").read_text(encoding="utf-8")
    assert "this model is refused: it holds a Lambda layer" in log


def test_control_characters_neither_stop_the_batch_nor_forge_terminal_lines(batch):
    table, logs, printed, _, _ = batch
    assert len(printed) == 1 + len(table)  # the header, then one line per submission
    assert all(line.isprintable() for line in printed), printed
    assert sum(line.startswith("[") for line in printed) == len(table)
    assert not any(line.startswith("[7/7] mallory") for line in printed)
    student = next(s for s in table.index if s.startswith("e_control"))
    row = table.loc[student]
    assert (row["total"], row["status"]) == (6.0, "error"), row["reason"]
    assert "\\x1b[2K" in row["reason"] and student.isprintable()
    csv = (logs.parent / "scores.csv").read_bytes().decode("utf-8")  # strict
    assert "\x1b" not in csv and "\r" not in csv.replace("\r\n", "\n")
    assert list(pd.read_csv(logs.parent / "scores.csv")["total"]) == list(table["total"])
    assert not any("\x1b" in p.read_text(encoding="utf-8") for p in logs.iterdir())
    assert all(p.name.isprintable() for p in logs.iterdir()), "log names are escaped too"


def test_nothing_of_the_batch_is_left_running(batch):
    import psutil

    spinners = [p for p in psutil.process_iter(["cmdline"])
                if (p.info["cmdline"] or [])[-1:] == ["while True: pass"]]  # fmt: skip
    assert spinners == [], "a process of a submission outlived its grading"
