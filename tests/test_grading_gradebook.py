"""Grading at course scale: shards, rows kept as they finish, --resume after a kill, the
gradebook (merge, Canvas export, feedback students may see) and the progress estimate."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_grading import _submission, write_master

from tlcourse.cli import main
from tlcourse.errors import InvalidParameterError
from tlcourse.grading import assign_notebook, grade_folder, read_test_files
from tlcourse.grading.gradebook import (
    feedback_of,
    in_shard,
    merge_shards,
    parse_shard,
    read_scores,
    write_canvas,
)

# ---------------------------------------------------------------------------------------------
# Units: shards, feedback, merge refusals, Canvas columns


def test_shards_are_disjoint_complete_and_stable():
    names = [f"student{i:03d}" for i in range(300)]
    parts = [{s for s in names if in_shard(s, k, 4)} for k in range(1, 5)]
    assert set().union(*parts) == set(names) and sum(map(len, parts)) == len(names)
    assert all(40 < len(p) < 110 for p in parts), [len(p) for p in parts]
    # A late submission moves no one: membership depends on the name alone.
    late = [*names, "late_student"]
    assert [{s for s in late if in_shard(s, k, 4)} - {"late_student"} for k in range(1, 5)] == parts
    for bad in ("0/2", "3/2", "a/b", "2"):
        with pytest.raises(InvalidParameterError, match="shard"):
            parse_shard(bad)


def test_feedback_shows_public_tests_and_only_counts_hidden_ones():
    report = {"cases": {"q1": [
        {"name": "q1 public", "hidden": False, "passed": False, "message": "assert x > 0\nboom"},
        {"name": "SECRET_NAME", "hidden": True, "passed": False, "message": "SECRET_MESSAGE"},
        {"name": "other secret", "hidden": True, "passed": True, "message": ""},
    ]}}  # fmt: skip
    feedback = json.loads(feedback_of(report))
    assert feedback == {"q1": {"public": [["q1 public", False, "assert x > 0\nboom"]],
                               "hidden": [2, 1]}}  # fmt: skip
    assert "SECRET" not in json.dumps(feedback)


def _table(path: Path, rows: list[dict]) -> Path:
    columns = ["student", "q1", "total", "possible", "status", "autograder", "shard"]
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        writer.writerows([dict(zip(columns, row, strict=True)) for row in rows])
    return path


def test_merge_refuses_duplicates_mixed_autograders_and_missing_shards(tmp_path):
    a = _table(tmp_path / "a.csv", [("amy", 1, 1, 2, "ok", "hw@1", "1/3")])
    b = _table(tmp_path / "b.csv", [("bob", 2, 2, 2, "ok", "hw@1", "2/3")])
    c = _table(tmp_path / "c.csv", [("cy", 0, 0, 2, "ok", "hw@1", "3/3")])
    rows, columns = merge_shards([c, a, b])
    assert [r["student"] for r in rows] == ["amy", "bob", "cy"] and columns[0] == "student"
    with pytest.raises(InvalidParameterError, match=r"shard\(s\) 3/3"):
        merge_shards([a, b])
    empty = _table(tmp_path / "empty.csv", [])
    assert len(merge_shards([a, b, empty])[0]) == 2  # an empty shard is given, not missing
    twice = _table(tmp_path / "twice.csv", [("amy", 0, 0, 2, "ok", "hw@1", "3/3")])
    with pytest.raises(InvalidParameterError, match="'amy' is also in"):
        merge_shards([a, b, twice])
    other = _table(tmp_path / "other.csv", [("cy", 0, 0, 2, "ok", "hw@2", "3/3")])
    with pytest.raises(InvalidParameterError, match="hw@2"):
        merge_shards([a, b, other])


def test_canvas_csv_has_the_import_columns_and_uses_the_roster(tmp_path):
    rows = [{"student": "amy", "total": "2", "possible": "3"},
            {"student": "bob", "total": "1", "possible": "3"}]  # fmt: skip
    roster = _roster(tmp_path / "roster.csv")
    write_canvas(rows, tmp_path / "canvas.csv", "HW 1", roster)
    table = read_scores(tmp_path / "canvas.csv")
    assert list(table[0]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW 1"]
    assert [r["Student"] for r in table] == ["Points Possible", "Amy A", "bob"]
    assert (table[0]["HW 1"], table[1]["HW 1"], table[1]["ID"]) == ("3", "2", "101")


def _roster(path: Path) -> Path:
    path.write_text("Student,ID,SIS User ID,SIS Login ID,Section\nAmy A,101,9001,amy,S1\n")
    return path


# ---------------------------------------------------------------------------------------------
# A folder graded in shards, merged, exported; resumed after a kill


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A tiny assignment and a folder of three submissions: correct, blank, half; graded in two
    shards, amy and bob in 1/2, dee in 2/2."""
    root = tmp_path_factory.mktemp("course")
    result = assign_notebook(write_master(root / "masters"), root / "dist", root / "student")

    def half(cells):  # q1's public test passes, its hidden one fails
        index = next(i for i, c in enumerate(cells) if "x = 6 * 7" in "".join(c["source"]))
        cells[index]["source"] = "x = 41"  # q1: 1 of 2, q2: 1

    subs = root / "subs"
    _submission(result.solutions, subs / "amy.ipynb")
    _submission(result.student, subs / "bob.ipynb")
    _submission(result.solutions, subs / "dee.ipynb", half)
    return root, result, subs


def _scores(path: Path) -> list[tuple]:
    keep = ("student", "q1", "q2", "total", "status", "reason", "autograder", "feedback")
    return [tuple(r[k] for k in keep) for r in read_scores(path)]


@pytest.mark.slow
def test_shards_merge_into_the_one_process_table_and_export_safely(course, tmp_path, capsys):
    root, result, subs = course
    zip_ = str(result.autograder)
    assert [in_shard(s, 1, 2) for s in ("amy", "bob", "dee")] == [True, True, False]
    grade_folder(subs, zip_, tmp_path / "one.csv", timeout=300, sandbox=False, progress=None)
    for k in (1, 2):
        code = main(["grade", str(subs), "--autograder", zip_, "--out", str(tmp_path / f"{k}.csv"),
                     "--shard", f"{k}/2", "--no-sandbox", "--timeout", "300"])  # fmt: skip
        assert code == 0
    printed = capsys.readouterr().out
    assert "(shard 1/2 of 3)" in printed and " left" in printed
    out = tmp_path / "book"
    assert main(["gradebook", str(tmp_path / "1.csv"), str(tmp_path / "2.csv"),
                 "--out", str(out / "scores.csv"), "--canvas", str(out / "canvas.csv"),
                 "--roster", str(_roster(tmp_path / "roster.csv")),
                 "--feedback", str(out / "feedback")]) == 0  # fmt: skip
    merged = _scores(out / "scores.csv")
    assert merged == _scores(tmp_path / "one.csv")
    assert [(r[0], r[3]) for r in merged] == [("amy", "3.0"), ("bob", "0.0"), ("dee", "2.0")]
    # A missing shard is named.
    assert main(["gradebook", str(tmp_path / "1.csv"), "--out", str(tmp_path / "x.csv")]) != 0
    assert "2/2" in capsys.readouterr().err

    feedback = (out / "feedback" / "dee.md").read_text(encoding="utf-8")
    assert "Score: 2 / 3" in feedback and "hidden tests: 0 of 1 passed" in feedback
    assert "- passed:" in feedback
    blank = (out / "feedback" / "bob.md").read_text(encoding="utf-8")
    assert "FAILED" in blank, "a failing public test is shown with its message"
    hidden = [
        (case.name, case.body)
        for test in read_test_files(result.autograder).values()
        for case in test.test_cases
        if case.hidden
    ]
    assert hidden, "the tiny assignment has hidden tests"
    shown = [p.read_text(encoding="utf-8") for p in (out / "feedback").iterdir()]
    shown += [(out / "canvas.csv").read_text(encoding="utf-8")]
    for text in shown:
        for name, body in hidden:
            assert name not in text
            assert body.strip() not in text
            assert "x == 42" not in text and 'answer == "b"' not in text
    canvas = read_scores(out / "canvas.csv")
    assert [r["Student"] for r in canvas] == ["Points Possible", "Amy A", "bob", "dee"]


@pytest.mark.slow
def test_resume_after_a_kill_loses_and_regrades_no_one(course, tmp_path):
    root, result, subs = course
    out = tmp_path / "scores.csv"
    command = [
        sys.executable,
        "-m",
        "tlcourse.cli",
        "grade",
        str(subs),
        "--autograder",
        str(result.autograder),
        "--out",
        str(out),
        "--no-sandbox",
        "--timeout",
        "300",
    ]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 600
    while len(read_scores(out)) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = read_scores(out)
    assert 2 <= len(before) <= 3, "rows are written as they finish"
    graded = []
    table = grade_folder(subs, result.autograder, out, timeout=300, sandbox=False,
                         resume=True, progress=graded.append)  # fmt: skip
    assert f"{len(before)} already graded" in graded[0]
    assert len(graded) == 1 + 3 - len(before), graded
    assert list(table["student"]) == ["amy", "bob", "dee"]
    assert list(table["total"]) == [3.0, 0.0, 2.0]
    kept = {r["student"]: r["seconds"] for r in before}
    assert {r["student"]: r["seconds"] for r in read_scores(out) if r["student"] in kept} == kept
    # Another autograder's rows are regraded, not kept.
    rows = read_scores(out)
    rows[0]["autograder"] = "01_tiny@000000000000"
    from tlcourse.grading.gradebook import ScoreFile

    ScoreFile(out, list(rows[0])).replace(rows)
    graded.clear()
    grade_folder(subs, result.autograder, out, timeout=300, sandbox=False, resume=True,
                 progress=graded.append)  # fmt: skip
    assert "2 already graded" in graded[0] and graded[1].startswith("[1/1] amy: 3/3 ok")
