"""The course notebooks opened in a Jupyter kernel as a student would: every cell of the blank
student notebook runs and every ``grader.check`` works; the solutions, run top to bottom with all
their tests, pass every check and ``grader.check_all()`` at the end.

Split from ``test_notebooks.py`` (whose helpers and fixtures it uses) so that the two files run on
separate test workers: each executes every notebook.
"""

from __future__ import annotations

import json

import pytest
import test_notebooks as shared
from test_notebooks import NAMES, _check_outputs, _execute_as_student, _source

# The same module-scoped fixtures: each file assigns the notebooks it runs once.
workspace, assigned = shared.workspace, shared.assigned

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


@pytest.mark.parametrize("name", NAMES)
def test_grader_check_works_on_a_fresh_blank_student_notebook(name, workspace, assigned):
    student = assigned(name).student
    notebook = json.loads(student.read_text(encoding="utf-8"))
    executed = _execute_as_student(notebook, student, workspace / "student-mode" / name)
    checks = _check_outputs(executed)
    assert sorted(checks) == sorted(assigned(name).points)
    for question, (text, errors) in checks.items():
        assert errors == [], f"grader.check({question!r}) raised {errors}"
        assert f"{question} results" in text and "passed!" not in text, text[:300]
    errors = [
        f"{_source(cell)[:80]!r}: {out['ename']}: {out['evalue'][:200]}"
        for cell in executed["cells"]
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert errors == [], "Run all on a blank notebook stops at an error"


def _text(cell: dict) -> str:
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                   for o in cell.get("outputs", []))  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_solutions_pass_every_test_at_each_check_and_in_check_all_at_the_end(
    name, workspace, assigned
):
    """The solutions notebook run top to bottom in a kernel, beside its own file (public and
    hidden tests in its metadata): each ``grader.check`` passes all of its question's tests, and
    so does ``grader.check_all()`` at the end. Grading exports each answer right after its check,
    so only this run sees a later cell that reuses a name a question is graded on (a model
    unfrozen again, recompiled, retrained) and breaks that question's tests at the end.
    """
    result = assigned(name)
    answered = json.loads(result.solutions.read_text(encoding="utf-8"))
    executed = _execute_as_student(answered, result.solutions, workspace / "answered" / name)
    errors = [
        f"{_source(cell)[:80]!r}: {out['ename']}: {out['evalue'][:200]}"
        for cell in executed["cells"]
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert errors == []
    checks = _check_outputs(executed)
    assert sorted(checks) == sorted(result.points)
    for question, (text, _) in checks.items():
        assert "All test cases passed!" in text, f"grader.check({question!r}): {text[:300]}"
    last = [c for c in executed["cells"] if c["cell_type"] == "code"][-1]
    assert _source(last).strip() == "grader.check_all()", "check_all is the last code cell"
    text = _text(last)
    failed = [q for q in result.points if f"{q} results: All test cases passed!" not in text]
    assert failed == [], f"check_all at the end fails {failed}:\n{text[:3000]}"
