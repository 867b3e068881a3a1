"""The graded notebooks, checked generically over every master in notebooks/masters/.

For each master: it has no outputs and a sound otter configuration; its committed student
version is exactly what ``tlcourse assign`` regenerates and shows no solution or hidden test;
graded by ``grade_folder`` in fast mode (each submission in a bubblewrap sandbox, its hidden
tests run outside it), its solutions score full points without a single cell error and its blank
student version scores zero without breaking the grader; and the Colab path of the first cells
fetches the public tests. Opened as a student would, in a kernel: ``test_notebooks_kernel.py``.
Correct answers written differently pass and wrong ones fail (issue 9, item 5; the Keras
questions of issue 19 in ``test_notebooks_keras.py``): checked on answers built here, against
each notebook's own autograder, without running the notebook.

Each notebook is executed as few times as possible (module-scoped caches): graded once as the
correct submission and once as the blank one. One notebook's folder also holds a
broken and an endless submission, for the four-row CSV of the acceptance criteria, and its
correct submission says ``FAST = False``: the grader's fast mode must win.

Select these with ``pytest -m notebooks``; they run in the default suite too. Marker line for
pyproject.toml: ``"notebooks: executes the course notebooks in fast mode (slow)"``.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from tlcourse.grading import (
    assign_notebook,
    autograder_questions,
    bwrap_problem,
    find_leaks,
    grade_folder,
)

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]
# In bubblewrap where it runs (CI installs it); the red-team suite checks the sandbox itself.
SANDBOX = bwrap_problem() is None

REPO = Path(__file__).resolve().parents[1]
MASTERS_DIR = REPO / "notebooks" / "masters"
STUDENT_DIR = REPO / "notebooks" / "student"
MASTERS = sorted(MASTERS_DIR.glob("*.ipynb"))
NAMES = [m.stem for m in MASTERS]
# The notebook whose submissions folder also holds a broken and an endless submission.
FOLDER_NOTEBOOK = next((n for n in NAMES if n.startswith("02")), NAMES[0] if NAMES else None)
# Seconds: several times a fast-mode run (20-60 s), far below a full-mode one (minutes), which
# the folder's correct submission would be if its FAST = False were obeyed.
ENDLESS_TIMEOUT = 180  # with margin: the tests run on two workers side by side
ENDLESS_MARKER = "4321.5"  # seconds of a `sleep` the endless submission starts: gone once killed
GRADE_TIMEOUT = 480  # seconds per submission otherwise: a stuck notebook fails, not hangs


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


# ---------------------------------------------------------------------------------------------
# Shared work: assign once per notebook, grade once per notebook, execute once in student mode


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, converted_cache):
    """A build folder; the fast mode for every kernel these tests start in student mode; the
    converted weights (the sandboxes see them read-only, instead of converting them each)."""
    previous = {k: os.environ.get(k) for k in ("TLCOURSE_FAST", "TLCOURSE_CACHE_DIR")}
    os.environ.update(TLCOURSE_FAST="1", TLCOURSE_CACHE_DIR=str(converted_cache))
    yield tmp_path_factory.mktemp("notebooks")
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def assigned(workspace):
    """``assigned(name)``: the notebook put through ``assign_notebook`` (once)."""
    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = assign_notebook(
                MASTERS_DIR / f"{name}.ipynb", workspace / "dist", workspace / "student"
            )
        return cache[name]

    return get


def _broken(solutions: Path, target: Path) -> None:
    """The correct submission with its first answer cell replaced by one that raises."""
    notebook = json.loads(solutions.read_text(encoding="utf-8"))
    answer = next(
        c
        for c in notebook["cells"]
        if "otter_assign_solution_cell" in c["metadata"].get("tags", [])
    )
    answer["source"] = 'raise RuntimeError("broken on purpose")'
    target.write_text(json.dumps(notebook), encoding="utf-8")


def _endless(solutions: Path, target: Path) -> None:
    """The correct submission with a cell that never ends, right after otter's init cell.

    The cell first starts a ``sleep`` child (to check afterwards that nothing of the
    submission survived), then waits forever (asleep: the CPU limit is the red team's)."""
    notebook = json.loads(solutions.read_text(encoding="utf-8"))
    loop = nbformat.v4.new_code_cell(
        f"import subprocess, time\nsubprocess.Popen(['sleep', {ENDLESS_MARKER!r}])\n"
        "while True:\n    time.sleep(1)"
    )
    notebook["cells"].insert(1, dict(loop))
    target.write_text(json.dumps(notebook), encoding="utf-8")


def _forces_full_mode(solutions: Path, target: Path) -> None:
    """The correct submission with its parameters cell saying ``FAST = False``."""
    notebook = json.loads(solutions.read_text(encoding="utf-8"))
    cell = next(c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", []))
    cell["source"] = "import os\n\nFAST = False  # the student's choice"
    target.write_text(json.dumps(notebook), encoding="utf-8")


@pytest.fixture(scope="module")
def graded(workspace, assigned):
    """``graded(name)``: the scores table of the notebook's submissions folder (graded once)."""
    cache = {}

    def get(name: str):
        if name not in cache:
            result = assigned(name)
            folder = workspace / "submissions" / name
            folder.mkdir(parents=True)
            (folder / "correct.ipynb").write_bytes(result.solutions.read_bytes())
            (folder / "blank.ipynb").write_bytes(result.student.read_bytes())
            timeout = GRADE_TIMEOUT
            if name == FOLDER_NOTEBOOK:
                _forces_full_mode(result.solutions, folder / "correct.ipynb")
                _broken(result.solutions, folder / "broken.ipynb")
                _endless(result.solutions, folder / "endless.ipynb")
                timeout = ENDLESS_TIMEOUT
            out = workspace / "scores" / f"{name}.csv"
            table = grade_folder(
                folder, result.autograder, out, timeout=timeout, jobs=2, fast=True,
                sandbox=SANDBOX, progress=None,
            )  # fmt: skip
            cache[name] = (table.set_index("student"), out)
        return cache[name]

    return get


def _execute_as_student(notebook: dict, student_file: Path, folder: Path) -> dict:
    """Run ``notebook`` in student mode: in a folder holding the student notebook file, which
    ``grader = otter.Notebook(...)`` reads its public tests from."""
    from nbclient import NotebookClient

    folder.mkdir(parents=True, exist_ok=True)
    (folder / student_file.name).write_bytes(student_file.read_bytes())
    node = nbformat.reads(json.dumps(notebook), as_version=4)  # joins list sources
    client = NotebookClient(
        node,
        timeout=GRADE_TIMEOUT,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    return node


def _check_outputs(executed: dict) -> dict[str, tuple[str, list[str]]]:
    """``{question: (text shown by its grader.check cell, errors raised in that cell)}``."""
    found = {}
    for cell in executed["cells"]:
        match = re.fullmatch(r'grader\.check\("([^"]+)"\)', _source(cell).strip())
        if cell["cell_type"] != "code" or not match:
            continue
        text, errors = "", []
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                errors.append(f"{output['ename']}: {output['evalue']}")
            text += output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        found[match[1]] = (text, errors)
    return found


# ---------------------------------------------------------------------------------------------
# Static checks (no kernel)


def test_there_are_master_notebooks():
    assert MASTERS, f"no master notebook in {MASTERS_DIR}"
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+", name) for name in NAMES), NAMES


@pytest.mark.parametrize(
    "path",
    MASTERS + sorted(STUDENT_DIR.glob("*.ipynb")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_committed_notebook_has_no_outputs(path):
    for index, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"cell {index} of {path.name} has outputs"
            assert cell.get("execution_count") is None, f"cell {index} of {path.name} was run"


@pytest.mark.parametrize("name", NAMES)
def test_master_configuration(name):
    cells = _cells(MASTERS_DIR / f"{name}.ipynb")
    raws = [_source(c) for c in cells if c["cell_type"] == "raw"]
    config = yaml.safe_load(next(r for r in raws if r.lstrip().startswith("# ASSIGNMENT CONFIG")))
    assert config["name"] == name, "the assignment name must be the notebook's file name"
    questions = [
        yaml.safe_load(r.split("\n", 1)[1])
        for r in raws
        if r.strip().startswith("# BEGIN QUESTION")
    ]
    names = [q["name"] for q in questions]
    assert names == [f"q{i}" for i in range(1, len(names) + 1)], names
    assert 3 <= len(names) <= 8, "a handful of questions per notebook"
    total = 0.0
    for question in questions:
        points = question["points"]
        total += sum(points) if isinstance(points, list) else points
    possible = (config.get("generate") or {}).get("points_possible")
    if possible is not None:
        assert possible == pytest.approx(total), "points_possible must equal the questions' sum"
    parameters = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(parameters) == 1, "one cell tagged 'parameters' (papermill)"
    assert 'os.environ.get("TLCOURSE_FAST") == "1"' in _source(parameters[0])
    headings = [_source(c) for c in cells if c["cell_type"] == "markdown"]
    assert any(h.lstrip().startswith("## Setup") for h in headings), "a '## Setup' section"
    assert any(h.lstrip().startswith("## Tips") for h in headings), "a '## Tips' section"
    assert _source(cells[-1]).lstrip().startswith("## Questionnaire"), "ends with a questionnaire"
    assert f"/blob/main/notebooks/student/{name}.ipynb" in _source(cells[1]), "Open in Colab"
    assert config["init_cell"] is False, "the notebook's own first cells start the grader"


def _code_cells(name: str) -> list[str]:
    return [_source(c) for c in _cells(STUDENT_DIR / f"{name}.ipynb") if c["cell_type"] == "code"]


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_cells_are_short(name):
    for source in _code_cells(name):
        assert len(source.splitlines()) <= 15, f"a code cell over 15 lines:\n{source}"


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_installs_on_colab_only_then_starts_the_grader(name):
    install, grader = _code_cells(name)[:2]
    assert 'ON_COLAB = "google.colab" in str(get_ipython())' in install
    assert "if ON_COLAB:" in install and '"tlcourse @ git+https://github.com/' in install
    assert 'GITHUB_REPO = "YOUR-ORG/tlcourse"' in install  # the instructor's placeholder
    assert f'NOTEBOOK = "{name}"' in grader and 'otter.Notebook(tests_dir="tests")' in grader
    assert "otter.Notebook(notebook_file(NOTEBOOK))" in grader


def test_keras_questions_are_at_least_ten_and_35_percent_of_the_points():
    from test_notebooks_keras import KERAS_QUESTIONS

    keras_points = total = 0.0
    for name in NAMES:
        raws = [
            _source(c) for c in _cells(MASTERS_DIR / f"{name}.ipynb") if c["cell_type"] == "raw"
        ]
        for raw in raws:
            if raw.strip().startswith("# BEGIN QUESTION"):
                question = yaml.safe_load(raw.split("\n", 1)[1])
                points = question["points"]
                points = sum(points) if isinstance(points, list) else points
                total += points
                if question["name"] in KERAS_QUESTIONS.get(name, []):
                    keras_points += points
    assert sum(len(q) for q in KERAS_QUESTIONS.values()) >= 10
    assert keras_points / total >= 0.35, (keras_points, total)


@pytest.mark.parametrize("name", NAMES)
def test_committed_student_notebook_hides_solutions_and_hidden_tests(name):
    master = MASTERS_DIR / f"{name}.ipynb"
    student = STUDENT_DIR / f"{name}.ipynb"
    assert student.is_file(), f"{student} is missing: run `tlcourse assign`"
    assert find_leaks(master, student) == []
    notebook = json.loads(student.read_text(encoding="utf-8"))
    tests = notebook["metadata"]["otter"]["tests"]
    cases = [c for t in tests.values() for s in t["suites"] for c in s["cases"]]
    assert cases and not any(c["hidden"] for c in cases)
    assert "SOLUTION" not in student.read_text(encoding="utf-8")
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            code = "\n".join(
                line for line in _source(cell).splitlines() if line.lstrip()[:1] not in "%!"
            )
            ast.parse(code)  # otter's solution stripping can leave invalid code behind


# ---------------------------------------------------------------------------------------------
# Regeneration (otter assign, no kernel)


@pytest.mark.parametrize("name", NAMES)
def test_committed_student_notebook_is_what_assign_regenerates(name, assigned):
    result = assigned(name)
    committed = STUDENT_DIR / f"{name}.ipynb"
    assert result.student.read_bytes() == committed.read_bytes(), (
        f"{committed} differs from what `tlcourse assign` generates from its master: "
        "run `tlcourse assign` and commit the result"
    )
    assert result.points == autograder_questions(result.autograder)


# ---------------------------------------------------------------------------------------------
# Grading with otter run (fast mode)


@pytest.mark.parametrize("name", NAMES)
def test_solutions_score_full_points_without_errors(name, graded):
    table, _ = graded(name)
    row = table.loc["correct"]
    assert row["status"] == "ok", row["reason"]
    assert row["possible"] > 0
    assert row["total"] == pytest.approx(row["possible"])


@pytest.mark.parametrize("name", NAMES)
def test_blank_student_notebook_scores_zero(name, graded):
    table, _ = graded(name)
    row = table.loc["blank"]
    assert row["status"] in ("ok", "error"), row["reason"]
    assert not row["reason"].startswith("grading failed"), row["reason"]
    assert row["total"] == 0


def test_folder_with_broken_and_endless_submissions(graded):
    table, csv = graded(FOLDER_NOTEBOOK)
    import pandas as pd

    scores = pd.read_csv(csv, keep_default_na=False)
    assert sorted(scores["student"]) == ["blank", "broken", "correct", "endless"]
    questions = [c for c in scores.columns if re.fullmatch(r"q\d+", c)]
    assert questions and list(scores.columns[: len(questions) + 1]) == ["student", *questions]
    rows = scores.set_index("student")
    possible = rows.loc["correct", "possible"]
    assert (rows.loc["correct", "status"], rows.loc["correct", "total"]) == ("ok", possible)
    assert rows.loc["blank", "total"] == 0
    broken = rows.loc["broken"]
    assert broken["status"] == "error"
    assert "RuntimeError: broken on purpose" in broken["reason"]
    assert 0 < broken["total"] < possible, "a broken notebook keeps the points of what works"
    endless = rows.loc["endless"]
    assert endless["status"] == "timeout"
    assert endless["reason"] == f"timed out after {ENDLESS_TIMEOUT} s"
    assert endless["total"] == 0
    assert (rows[questions].sum(axis=1) == rows["total"]).all()
    assert table.loc["endless", "seconds"] < ENDLESS_TIMEOUT + 30, "killed at the timeout"


def test_endless_submission_kernel_is_killed(graded):
    import psutil

    graded(FOLDER_NOTEBOOK)
    left = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if ENDLESS_MARKER in (p.info["cmdline"] or [])
    ]
    assert left == [], "a process of the endless submission survived its grading"


# ---------------------------------------------------------------------------------------------
# Correct answers written differently pass, wrong ones fail (issue 9, item 5). The answers are
# built here and exported as the worker would, then checked with the notebook's autograder.


def _score(assigned, name: str, question: str, namespace: dict, tmp_path: Path) -> float:
    from otter_cells import question_score

    return question_score(assigned(name).autograder, question, namespace, tmp_path)


def _runs(per_strategy: dict[str, list[float]], **columns) -> pd.DataFrame:
    rows = [
        {"strategy": strategy, "seed": seed, "test_accuracy": accuracy, **columns}
        for strategy, accuracies in per_strategy.items()
        for seed, accuracy in enumerate(accuracies)
    ]
    return pd.DataFrame(rows)


def test_05_paired_differences_and_a_typed_in_verdict(assigned, tmp_path):
    one_seed = _runs({"fine_tuning": [0.80], "feature_extraction": [0.76]})  # fast mode
    paired = pd.Series([0.04], index=pd.Index([0], name="seed"))
    namespace = {"results": one_seed, "paired": paired, "paired_se": np.nan}
    assert _score(assigned, "05_comparison", "q1", namespace, tmp_path / "q1") == 2.0
    wrong = {**namespace, "paired": -paired}  # feature extraction minus fine-tuning
    assert _score(assigned, "05_comparison", "q1", wrong, tmp_path / "q1-wrong") == 0.5
    three = _runs({"fine_tuning": [0.90, 0.91, 0.93], "feature_extraction": [0.70, 0.72, 0.71]})
    for verdict, expected in [("better", 2.0), ("cannot tell", 0.5)]:
        points = _score(assigned, "05_comparison", "q2",
                        {"results": three, "ft_verdict": verdict}, tmp_path / verdict)  # fmt: skip
        assert points == expected
    assert _score(assigned, "05_comparison", "q2", {"results": one_seed, "ft_verdict": "better"},
                  tmp_path / "one-seed") == 0.5  # fmt: skip


def test_05_time_to_accuracy_answer_is_checked_against_the_shipped_measurement(assigned, tmp_path):
    from tlcourse.paths import data_dir

    table = pd.read_csv(data_dir() / "measured" / "time_to_accuracy.csv")
    mean = table.groupby(["strategy", "epoch"])[["seconds", "test_accuracy"]].mean().reset_index()
    goal = mean[mean["strategy"] == "feature_extraction"]["test_accuracy"].iloc[-1]
    hit = mean[(mean["strategy"] == "scratch") & (mean["test_accuracy"] >= goal)]
    right = float(hit["seconds"].iloc[0]) if len(hit) else None
    wrong = 1.0 if right is None else None
    for answer, expected in [(right, 2.0), (wrong, 0.5)]:
        namespace = {"scratch_seconds_to_target": answer}
        points = _score(assigned, "05_comparison", "q4", namespace, tmp_path / str(expected))
        assert points == expected


def test_04_public_tests_do_not_give_the_answer_away(assigned, tmp_path):
    from tlcourse.grading import read_test_files

    tests = read_test_files(assigned("04_fine_tuning").autograder)
    for question, answer_words in {"q2": ["HEAD_LR", "/ 10"], "q6": ["3", "10"]}.items():
        public = [c.body for c in tests[question].test_cases if not c.hidden]
        for word in answer_words:
            assert not any(word in body for body in public), (question, word, public)
    # A wrong but well-formed answer passes the public test and fails the hidden ones.
    assert _score(assigned, "04_fine_tuning", "q6", {"FACTOR": 1.5}, tmp_path / "q6") == 0.5


# Colab: the builds the README sends students to, checked as far as offline allows

COLAB_INSTALL = "tlcourse @ git+https://example.invalid/ORG/tlcourse"


@pytest.fixture(scope="module")
def colab_builds(workspace):
    """``colab_builds(name)``: the Colab build of the notebook (``assign_colab``, once)."""
    from tlcourse.grading import assign_colab

    cache = {}

    def get(name: str) -> Path:
        if name not in cache:
            cache[name] = assign_colab(
                MASTERS_DIR / f"{name}.ipynb", workspace / "colab", install=COLAB_INSTALL
            )
        return cache[name]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_colab_build_carries_every_public_test(name, colab_builds):
    """``tlcourse assign --colab`` (for courses not on GitHub): the notebook, its install cell
    and a tests/ folder with every question's public tests, zipped for upload."""
    import zipfile

    folder = colab_builds(name)
    notebook = json.loads((folder / f"{name}.ipynb").read_text(encoding="utf-8"))
    sources = [_source(c) for c in notebook["cells"]]
    install = sources.index(f"%pip install -q '{COLAB_INSTALL}'")
    assert install < next(i for i, s in enumerate(sources) if "import tlcourse" in s)
    raws = [_source(c) for c in _cells(MASTERS_DIR / f"{name}.ipynb") if c["cell_type"] == "raw"]
    questions = [
        yaml.safe_load(r.split("\n", 1)[1])["name"]
        for r in raws
        if r.strip().startswith("# BEGIN QUESTION")
    ]
    assert sorted(p.stem for p in (folder / "tests").glob("*.py")) == sorted(questions)
    with zipfile.ZipFile(folder.with_suffix(".zip")) as archive:
        assert f"{name}.ipynb" in archive.namelist()
        assert sorted(n for n in archive.namelist() if n.startswith("tests/")) == sorted(
            f"tests/{q}.py" for q in questions
        )
    assert find_leaks(MASTERS_DIR / f"{name}.ipynb", notebook) == []


@pytest.mark.parametrize("name", NAMES[:1])
def test_student_notebook_colab_path_fetches_the_public_tests(name, workspace):
    """The committed student notebook as Colab runs it, opened from GitHub: the first cell
    says it is on Colab (its pip install skipped: offline), the second fetches the notebook's
    public tests from the course's copy (here a file:// URL to notebooks/student) into tests/,
    and every grader.check then reads them from there, in a folder without the notebook file,
    where otter would find no tests otherwise. Every cell runs."""
    from nbclient import NotebookClient

    folder = workspace / "colab-path" / name
    folder.mkdir(parents=True)
    node = nbformat.read(STUDENT_DIR / f"{name}.ipynb", as_version=4)
    first = next(c for c in node.cells if c.cell_type == "code")
    first.source = (
        "import sys\nfrom pathlib import Path\n\nON_COLAB = True  # as on Colab (pip skipped)\n"
        f"TESTS_URL = {STUDENT_DIR.as_uri()!r}"
    )
    client = NotebookClient(
        node,
        timeout=GRADE_TIMEOUT,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    assert not list(folder.glob("*.ipynb"))
    assert sorted(p.stem for p in (folder / "tests").glob("*.py")) == sorted(
        json.loads((STUDENT_DIR / f"{name}.ipynb").read_text(encoding="utf-8"))["metadata"][
            "otter"]["tests"]
    )  # fmt: skip
    checks = _check_outputs(node)
    assert checks, "no grader.check cell ran"
    for question, (text, errors) in checks.items():
        assert errors == [], f"grader.check({question!r}) raised {errors}"
        assert f"{question} results" in text and "does not exist" not in text, text[:300]
    errors = [o["ename"] for c in node.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]  # fmt: skip
    assert errors == []
