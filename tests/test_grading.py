"""tlcourse.grading and the assign / grade commands, on a tiny two-question assignment.

The course notebooks themselves are checked in test_notebooks.py; here a master notebook built
in the test (no TensorFlow in its kernel) keeps each ``otter run`` to a few seconds.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import nbformat
import pytest
from otter_cells import question

from tlcourse.cli import build_parser, main
from tlcourse.errors import InvalidParameterError
from tlcourse.grading import (
    GradingError,
    assign_all,
    assign_colab,
    assign_notebook,
    autograder_questions,
    find_leaks,
    grade_folder,
    grade_submission,
    normalize_notebook,
    resolve_autograder,
)

v4 = nbformat.v4


def _question(name, points, solution, public, hidden):
    return question(name, points, solution, public, hidden, prompt="Answer below.")


def write_master(folder: Path, name: str = "01_tiny", extra_cells=()) -> Path:
    """A master notebook with q1 (2 points) and q2 (1 point)."""
    cells = [
        v4.new_raw_cell(
            f"# ASSIGNMENT CONFIG\nname: {name}\nexport_cell: false\ncheck_all_cell: true\n"
        ),
        v4.new_markdown_cell("# Tiny\n\n## Setup"),
        v4.new_code_cell('import os\n\nFAST = os.environ.get("TLCOURSE_FAST") == "1"'),
        *_question("q1", 2, "x = 6 * 7  # SOLUTION", "assert isinstance(x, int)", "assert x == 42"),
        *_question(
            "q2",
            1,
            'answer = "b"  # SOLUTION',
            'assert answer in {"a", "b"}',
            'assert answer == "b"',
        ),
        *extra_cells,
    ]
    notebook = v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.cells[2].outputs = [v4.new_output("stream", text="left over\n")]
    notebook.cells[2].execution_count = 7
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny assignment, assigned once: (tmp folder, AssignedNotebook)."""
    root = tmp_path_factory.mktemp("tiny")
    master = write_master(root / "masters")
    return root, assign_notebook(master, root / "dist", root / "student")


# ---------------------------------------------------------------------------------------------
# Assign


def test_assign_writes_student_notebook_autograder_and_solutions(tiny):
    root, result = tiny
    assert result.name == "01_tiny"
    assert result.student == root / "student" / "01_tiny.ipynb"
    assert result.autograder == root / "dist/01_tiny/autograder/01_tiny-autograder.zip"
    assert result.solutions.is_file()
    assert result.points == {"q1": 2.0, "q2": 1.0}
    assert result.total_points == 3.0
    student = json.loads(result.student.read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) for c in student["cells"]]
    assert "x = ..." in sources and "answer = ..." in sources
    assert not any("42" in s for s in sources)
    assert [c["id"] for c in student["cells"]] == [
        f"cell-{i:03d}" for i in range(len(student["cells"]))
    ]
    code = [c for c in student["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert set(student["metadata"]) == {"kernelspec", "language_info", "otter"}
    assert find_leaks(root / "masters" / "01_tiny.ipynb", result.student) == []


def test_assign_is_byte_for_byte_reproducible(tiny, tmp_path):
    root, result = tiny
    again = assign_notebook(root / "masters" / "01_tiny.ipynb", tmp_path / "dist", tmp_path)
    assert again.student.read_bytes() == result.student.read_bytes()


def test_assign_all_and_the_assign_command(tmp_path, capsys):
    masters = tmp_path / "masters"
    write_master(masters, "01_tiny")
    write_master(masters, "02_tiny")
    assigned = assign_all(masters, tmp_path / "dist", tmp_path / "student", progress=None)
    assert [a.name for a in assigned] == ["01_tiny", "02_tiny"]
    first = {a.name: a.student.read_bytes() for a in assigned}
    code = main(
        ["assign", "--masters", str(masters), "--out", str(tmp_path / "dist"),
         "--student-dir", str(tmp_path / "student")]
    )  # fmt: skip
    assert code == 0
    assert "02_tiny: 2 questions, 3 points" in capsys.readouterr().out
    assert {p.stem: p.read_bytes() for p in (tmp_path / "student").glob("*.ipynb")} == first


def test_assign_refuses_a_solution_outside_a_solution_block(tmp_path):
    leaky = [v4.new_code_cell('secret = "leaked"  # SOLUTION')]
    master = write_master(tmp_path / "masters", extra_cells=leaky)
    with pytest.raises(GradingError, match=r"would show 1 solution or hidden-test line"):
        assign_notebook(master, tmp_path / "dist", tmp_path / "student")
    assert not (tmp_path / "student").exists()


def test_assign_does_not_delete_unknown_files(tmp_path):
    master = write_master(tmp_path / "masters")
    (tmp_path / "dist" / "01_tiny").mkdir(parents=True)
    (tmp_path / "dist" / "01_tiny" / "notes.txt").write_text("mine")
    with pytest.raises(GradingError, match="notes.txt"):
        assign_notebook(master, tmp_path / "dist", None)
    assert (tmp_path / "dist" / "01_tiny" / "notes.txt").read_text() == "mine"


def test_assign_errors_name_the_problem(tmp_path):
    with pytest.raises(InvalidParameterError, match="existing .ipynb"):
        assign_notebook(tmp_path / "missing.ipynb")
    with pytest.raises(InvalidParameterError, match="has none"):
        assign_all(tmp_path)


# ---------------------------------------------------------------------------------------------
# Pure helpers


def test_normalize_notebook_is_idempotent_and_does_not_mutate():
    notebook = {
        "cells": [
            {"cell_type": "markdown", "id": "a1", "source": ["# T", "itle"], "metadata": {}},
            {
                "cell_type": "code",
                "id": "zz",
                "source": "print(1)",
                "metadata": {"tags": ["parameters"], "collapsed": True, "execution": {}},
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "1"}],
                "execution_count": 4,
            },
        ],
        "metadata": {"language_info": {"name": "python", "version": "3.11.7"}, "widgets": {}},
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    before = json.dumps(notebook, sort_keys=True)
    once = normalize_notebook(notebook)
    assert json.dumps(notebook, sort_keys=True) == before
    assert normalize_notebook(once) == once
    assert once["cells"][0]["source"] == "# Title"
    assert once["cells"][1]["metadata"] == {"tags": ["parameters"]}
    assert once["metadata"]["language_info"] == {"name": "python"}
    assert once["metadata"]["kernelspec"]["name"] == "python3"
    nbformat.validate(nbformat.from_dict(once))


def test_find_leaks_sees_solutions_and_hidden_tests_anywhere_a_student_can_read():
    master = {
        "cells": [
            {"cell_type": "code", "source": "model.fit(x)\nprint('shared')"},
            {"cell_type": "raw", "source": "# BEGIN QUESTION\nname: q1"},
            {"cell_type": "raw", "source": "# BEGIN SOLUTION"},
            {
                "cell_type": "code",
                "source": "k = 3  # SOLUTION\n# BEGIN SOLUTION\nmodel.fit(x)\n"
                "y = secret_sauce(k)\n# END SOLUTION\nprint('shared')",
            },
            {"cell_type": "raw", "source": "# END SOLUTION"},
            {"cell_type": "raw", "source": "# BEGIN TESTS"},
            {"cell_type": "code", "source": "assert k > 0"},
            {"cell_type": "code", "source": "# HIDDEN\nassert k == 3"},
            {"cell_type": "raw", "source": "# END TESTS"},
            {"cell_type": "raw", "source": "# END QUESTION"},
        ]
    }
    clean = {
        "cells": [{"cell_type": "code", "source": "k = ...\n...\nprint('shared')\nmodel.fit(x)"}],
        "metadata": {"otter": {"tests": {"q1": {"suites": [{"cases": [
            {"code": ">>> assert k > 0\n", "hidden": False}]}]}}}},
    }  # fmt: skip
    assert find_leaks(master, clean) == []
    leaky = json.loads(json.dumps(clean))
    leaky["cells"][0]["source"] += "\ny = secret_sauce(k)"
    leaky["metadata"]["otter"]["tests"]["q1"]["suites"][0]["cases"].append(
        {"code": ">>> assert k == 3\n", "hidden": False}
    )
    assert find_leaks(master, leaky) == ["assert k == 3", "y = secret_sauce(k)"]


def _zip_with_tests(path: Path, tests: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("otter_config.json", "{}")
        for name, text in tests.items():
            archive.writestr(f"tests/{name}.py", text)
    return path


# Test files as otter assign writes them: the OK format (one suite of doctest cases) and the
# exception format (test functions decorated with otter's test_case).
_OK_FORMAT = (
    "OK_FORMAT = True\n\ntest = {'name': '%s', 'points': %s, 'suites': [{'cases': ["
    "{'code': '>>> assert x > 0\\n', 'hidden': False}, "
    "{'code': '>>> assert x == 42\\n', 'hidden': True}], 'type': 'doctest'}]}\n"
)
_EXCEPTION_FORMAT = (
    "OK_FORMAT = False\n\nfrom otter.test_files import test_case\n\nname = 'q1'\npoints = 1\n\n"
    "@test_case(points=None, hidden=False)\ndef test_x(x):\n    assert x == 42\n"
)


def test_autograder_questions_reads_points_in_natural_order(tmp_path):
    archive = _zip_with_tests(
        tmp_path / "a.zip",
        {
            "q10": _OK_FORMAT % ("q10", "[0.5, 1.5]"),
            "q2": _OK_FORMAT % ("q2", "3"),
            "q1": _EXCEPTION_FORMAT,
        },
    )
    assert autograder_questions(archive) == {"q1": 1.0, "q2": 3.0, "q10": 2.0}
    (tmp_path / "bad.zip").write_text("not a zip")
    with pytest.raises(InvalidParameterError, match="Cannot read otter tests"):
        autograder_questions(tmp_path / "bad.zip")
    with pytest.raises(InvalidParameterError, match="no tests"):
        autograder_questions(_zip_with_tests(tmp_path / "empty.zip", {}))


def test_resolve_autograder_by_path_folder_and_name(tmp_path):
    dist = tmp_path / "dist"
    zips = {}
    for name in ("01_intro", "02_scratch", "02_scratch_extra"):
        folder = dist / name / "autograder"
        folder.mkdir(parents=True)
        zips[name] = _zip_with_tests(folder / f"{name}-autograder.zip", {"q1": "points = 1\n"})
    assert resolve_autograder(zips["01_intro"], dist) == zips["01_intro"]
    assert resolve_autograder(dist / "01_intro", dist) == zips["01_intro"]
    assert resolve_autograder("01", dist) == zips["01_intro"]
    assert resolve_autograder("02_scratch", dist) == zips["02_scratch"]
    with pytest.raises(InvalidParameterError, match="matches several.*01_intro"):
        resolve_autograder("02_s", dist)
    with pytest.raises(InvalidParameterError, match="matches none"):
        resolve_autograder("07", dist)
    with pytest.raises(InvalidParameterError, match="run tlcourse assign"):
        resolve_autograder("01", tmp_path / "nothing")


def test_grade_folder_rejects_bad_arguments(tiny, tmp_path):
    _, result = tiny
    with pytest.raises(InvalidParameterError, match="'timeout'"):
        grade_folder(tmp_path, result.autograder, timeout=0)
    with pytest.raises(InvalidParameterError, match="'jobs'"):
        grade_folder(tmp_path, result.autograder, jobs=0)
    with pytest.raises(InvalidParameterError, match="holds no .ipynb"):
        grade_folder(tmp_path, result.autograder)
    (tmp_path / "ann.ipynb").write_text("{}")
    (tmp_path / "ann.zip").write_text("")
    with pytest.raises(InvalidParameterError, match=r"\['ann'\]"):
        grade_folder(tmp_path, result.autograder)
    with pytest.raises(InvalidParameterError, match="not a folder"):
        grade_folder(tmp_path / "missing", result.autograder)


def test_grade_command_line_defaults():
    args = build_parser().parse_args(["grade", "subs", "--autograder", "02"])
    assert (args.submissions, args.autograder, args.out) == ("subs", "02", "scores.csv")
    assert (args.timeout, args.jobs, args.dist, args.fast) == (600, 1, "dist", False)
    assert (args.no_sandbox, args.memory) == (False, None), "the sandbox is on by default"
    args = build_parser().parse_args(["assign"])
    assert (args.masters, args.out, args.student_dir) == ("notebooks/masters", "dist",
                                                          "notebooks/student")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Grade (otter run, small kernels)


def _submission(notebook_path: Path, target: Path, edit=None) -> Path:
    notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    if edit is not None:
        edit(notebook["cells"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(notebook), encoding="utf-8")
    return target


@pytest.mark.slow
def test_grade_command_on_correct_blank_broken_and_garbage(tiny, tmp_path, capsys):
    """The endless submission and its killed kernel: test_notebooks.py, on a real notebook."""
    root, result = tiny

    def break_q1(cells):
        index = next(i for i, c in enumerate(cells) if "x = 6 * 7" in "".join(c["source"]))
        cells[index]["source"] = "x = 1 / 0"

    subs = tmp_path / "submissions"
    _submission(result.solutions, subs / "correct.ipynb")
    _submission(result.student, subs / "blank.ipynb")
    _submission(result.solutions, subs / "broken.ipynb", break_q1)
    (subs / "garbage.ipynb").write_text("this is not a notebook")
    out = tmp_path / "scores.csv"
    code = main(["grade", str(subs), "--autograder", str(result.autograder), "--out", str(out),
                 "--timeout", "300", "--jobs", "2", "--logs", str(tmp_path / "logs")])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert [f"[{i}/4]" in printed for i in range(1, 5)] == [True] * 4, printed
    assert f"scores: {out} (4 submission(s): 2 ok, 2 error)" in printed

    import pandas as pd

    table = pd.read_csv(out, keep_default_na=False).set_index("student")
    assert list(table.index) == ["blank", "broken", "correct", "garbage"]
    assert list(table.columns) == [
        "q1", "q2", "total", "possible", "status", "reason", "seconds", "sandbox",
        "autograder", "shard", "feedback",
    ]  # fmt: skip
    assert (table["sandbox"] == "bwrap").all()
    assert table.loc["correct", ["q1", "q2", "total", "status"]].tolist() == [2, 1, 3, "ok"]
    assert table.loc["blank", ["total", "status"]].tolist() == [0, "ok"]
    assert table.loc["broken", ["q1", "q2", "total", "status"]].tolist() == [0, 1, 1, "error"]
    assert table.loc["broken", "reason"] == (
        "code cell 3 (x = 1 / 0) raised ZeroDivisionError: division by zero"
    )
    assert table.loc["garbage", "status"] == "error"
    assert table.loc["garbage", "reason"].startswith("grading failed")
    assert (table["possible"] == 3).all()
    assert (tmp_path / "logs" / "correct.txt").is_file()


@pytest.mark.slow
def test_renamed_submission_grades_without_errors_and_wrong_assignment_is_reported(
    tiny, tmp_path, monkeypatch
):
    root, result = tiny
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    renamed = _submission(result.solutions, tmp_path / "Ada Lovelace.ipynb")
    row = grade_submission(renamed, result.autograder, timeout=300)
    assert (row["student"], row["total"], row["status"]) == ("Ada Lovelace", 3.0, "ok")

    other = assign_notebook(write_master(tmp_path / "m", "09_other"), tmp_path / "d", None)
    row = grade_submission(result.solutions, other.autograder, timeout=300)
    assert (row["total"], row["status"]) == (0.0, "error")
    assert "grading failed" in row["reason"] and "09_other" in row["reason"]
    assert list(cwd.iterdir()) == [], "grading writes nothing into the working directory"


@pytest.mark.slow
def test_colab_version_carries_its_tests_and_grades_offline(tiny, tmp_path):
    root, result = tiny
    install = "tlcourse @ git+https://example.invalid/tlcourse"
    folder = assign_colab(root / "masters" / "01_tiny.ipynb", tmp_path / "colab", install=install)
    assert folder == tmp_path / "colab" / "01_tiny"
    notebook = nbformat.read(folder / "01_tiny.ipynb", as_version=4)
    sources = [c["source"] for c in notebook["cells"]]
    assert sources[0] == "%pip install -q otter-grader"
    assert sources[1].endswith("grader = otter.Notebook()")
    assert f"%pip install -q '{install}'" in sources
    assert sorted(p.name for p in (folder / "tests").iterdir()) == ["q1.py", "q2.py"]
    assert "42" not in (folder / "tests" / "q1.py").read_text(encoding="utf-8")
    with zipfile.ZipFile(folder.with_suffix(".zip")) as archive:
        assert sorted(archive.namelist()) == ["01_tiny.ipynb", "tests/q1.py", "tests/q2.py"]
    assert find_leaks(root / "masters" / "01_tiny.ipynb", notebook) == []

    # A student's answered Colab notebook grades offline: its pip cells are skipped.
    for cell in notebook["cells"]:
        cell["source"] = cell["source"].replace("x = ...", "x = 42")
        cell["source"] = cell["source"].replace("answer = ...", 'answer = "b"')
    submission = tmp_path / "colab student.ipynb"
    submission.write_text(json.dumps(notebook), encoding="utf-8")
    row = grade_submission(submission, result.autograder, timeout=300)
    assert (row["total"], row["status"], row["reason"]) == (3.0, "ok", "")


@pytest.mark.slow
def test_without_the_sandbox_the_row_says_so(tiny, tmp_path):
    root, result = tiny
    submission = _submission(result.solutions, tmp_path / "trusted.ipynb")
    table = grade_folder([submission], result.autograder, sandbox=False, timeout=300, progress=None)
    row = table.set_index("student").loc["trusted"]
    assert (row["total"], row["status"], row["sandbox"]) == (3.0, "ok", "none")


# ---------------------------------------------------------------------------------------------
# Student side: grader.check finds its notebook (issue 9, item 6)


def _answered(result) -> dict:
    notebook = nbformat.read(result.student, as_version=4)
    for cell in notebook.cells:
        cell.source = cell.source.replace("x = ...", "x = 42").replace(
            "answer = ...", 'answer = "b"'
        )
    return notebook


def _passed(text: str) -> bool:
    return "All test cases passed!" in text and "ERROR" not in text


def _run_checks(notebook, folder: Path, kernel_cwd: Path, env: dict | None = None) -> list:
    """Execute ``notebook`` with the kernel in ``kernel_cwd``; the grader.check outputs."""
    from nbclient import NotebookClient

    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(kernel_cwd)}},
    )  # fmt: skip
    client.execute(env=env) if env else client.execute()
    texts = []
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.startswith("grader.check("):
            text = ""
            for output in cell.outputs:
                if output.output_type == "error":
                    text += f"ERROR {output.ename}: {output.evalue}"
                text += output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            texts.append(text)
    return texts


@pytest.mark.slow
def test_grader_check_works_renamed_and_from_another_folder(tiny, tmp_path):
    import os

    root, result = tiny
    init = next(c.source for c in nbformat.read(result.student, 4).cells if "otter" in c.source)
    assert 'notebook_file("01_tiny")' in init, init
    # "Copy of ...": renamed by the student, in the kernel's folder.
    folder = tmp_path / "copy"
    folder.mkdir()
    nbformat.write(_answered(result), folder / "Copy of 01_tiny.ipynb")
    checks = _run_checks(_answered(result), folder, folder)
    assert len(checks) == 2 and all(
        "All test cases passed!" in t and "ERROR" not in t for t in checks
    ), checks
    # The kernel started in another folder (Jupyter tells the kernel its notebook's path).
    notebook_folder = tmp_path / "course" / "week 2"
    notebook_folder.mkdir(parents=True)
    path = notebook_folder / "01_tiny (1).ipynb"
    nbformat.write(_answered(result), path)
    elsewhere = tmp_path / "server-root"
    elsewhere.mkdir()
    env = {**os.environ, "JPY_SESSION_NAME": str(path)}
    checks = _run_checks(_answered(result), notebook_folder, elsewhere, env=env)
    assert len(checks) == 2 and all(
        "All test cases passed!" in t and "ERROR" not in t for t in checks
    ), checks
    assert list(elsewhere.iterdir()) in ([], [elsewhere / ".OTTER_LOG"])


def test_otter_log_is_git_ignored():
    ignored = (Path(__file__).resolve().parents[1] / ".gitignore").read_text().splitlines()
    assert ".OTTER_LOG" in ignored
