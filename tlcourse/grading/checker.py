"""The checker: ``python -P -m tlcourse.grading.checker JOB.json``, a fresh process.

It runs the autograder's tests, public and hidden, through otter's own test-file classes (as
``otter run`` would), never in the student's kernel. Each question's tests see a sealed
namespace (:func:`question_namespace`): fresh builtins, the trusted modules
(:data:`tlcourse.grading.names.TRUSTED_MODULES`), ``FAST``, and exactly the answers its tests
read, restored as data (:func:`tlcourse.grading.restore.restore_answers`); an answer named
``abs``, ``np`` or ``__builtins__`` is ignored. It runs sandboxed too (it reads files the
submission wrote); the JSON report goes to the file descriptor the grader gave.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import sys
import traceback
from pathlib import Path

__all__ = ["check_answers", "main", "question_namespace"]

_MESSAGE_CHARS = 2000


def _answer_names(names, trusted: dict) -> list[str]:
    """The names an answer may fill: never a builtin, a module or a name of the grader's, never
    a dunder (``__builtins__``)."""
    from tlcourse.grading.names import TRUSTED_NAMES

    return [n for n in names if n not in TRUSTED_NAMES and n not in trusted and n[:2] != "__"]


def question_namespace(values: dict, names, trusted: dict) -> tuple[dict, dict]:
    """The globals one question's tests run in, and the answers left out of them.

    Example:
        >>> namespace, ignored = question_namespace({"x": 1, "abs": 2}, ["x"], {"FAST": True})
        >>> namespace["x"], "abs" in namespace, namespace["__builtins__"]["abs"] is abs
        (1, False, True)
        >>> ignored
        {'abs': "not a name this question's tests read"}
    """
    wanted = set(_answer_names(names, trusted))
    namespace = {name: value for name, value in values.items() if name in wanted}
    ignored = {
        name: "not a name this question's tests read" for name in values if name not in wanted
    }
    namespace.update(trusted)
    namespace["__builtins__"] = dict(vars(builtins))
    return namespace, ignored


def _trusted_modules(autograder) -> dict:
    """The trusted modules whose alias the tests' text names (TensorFlow costs seconds)."""
    import re
    import zipfile

    from tlcourse.grading.names import TRUSTED_MODULES

    with zipfile.ZipFile(autograder) as archive:
        tests = [n for n in archive.namelist() if n.startswith("tests/")]
        text = "\n".join(archive.read(n).decode("utf-8", "replace") for n in tests)
    trusted = {}
    for alias, module in TRUSTED_MODULES.items():
        if re.search(rf"\b{alias}\b", text):
            trusted[alias] = importlib.import_module(module)
    return trusted


def check_answers(autograder: str | os.PathLike, answers: str | os.PathLike, fast: bool) -> dict:
    """Run every test of an autograder against the answers exported for each question:
    ``{"scores": {q: points}, "possible": {q: points}, "cases": {q: [{"name", "hidden",
    "points", "passed", "message"}]}, "refused": {q: {name: reason}}, "failure": None}``.

    Example:
        >>> import tempfile, zipfile, os
        >>> folder = tempfile.mkdtemp()
        >>> test = {"name": "q1", "points": 2, "suites": [{"cases": [
        ...     {"code": ">>> assert abs(x - 0.5) < 1e-9", "hidden": True}]}]}
        >>> with zipfile.ZipFile(os.path.join(folder, "a.zip"), "w") as archive:
        ...     archive.writestr("tests/q1.py", f"OK_FORMAT = True\\ntest = {test!r}\\n")
        >>> from tlcourse.grading.answers import export_answers
        >>> os.makedirs(os.path.join(folder, "answers", "q1"))
        >>> _ = export_answers({"x": 0.5, "abs": lambda v: 0}, {"x": []},
        ...                    os.path.join(folder, "answers", "q1"))
        >>> check_answers(os.path.join(folder, "a.zip"), os.path.join(folder, "answers"),
        ...               fast=True)["scores"]
        {'q1': 2.0}
    """
    from tlcourse.grading.autograder import read_test_files
    from tlcourse.grading.names import question_names
    from tlcourse.grading.restore import restore_answers

    report = {"scores": {}, "possible": {}, "cases": {}, "refused": {}, "failure": None}
    trusted = _trusted_modules(autograder)
    trusted["FAST"] = bool(fast)
    for question, test_file in read_test_files(autograder).items():
        folder = Path(answers) / question
        names = _answer_names(question_names(test_file), trusted)
        values, refused = restore_answers(folder, names) if folder.is_dir() else ({}, {"*": "none"})
        environment, ignored = question_namespace(values, names, trusted)
        refused = {**refused, **ignored}
        try:
            test_file.run(environment)
            cases = [
                {
                    "name": result.test_case.name,
                    "hidden": bool(result.test_case.hidden),
                    "points": float(result.test_case.points or 0),
                    "passed": bool(result.passed),
                    "message": str(result.message or "")[:_MESSAGE_CHARS],
                }
                for result in test_file.test_case_results
            ]
            score = float(test_file.score)
        except Exception as error:  # a test that cannot run at all scores nothing
            cases = [{"name": question, "hidden": True, "points": 0.0, "passed": False,
                      "message": f"{type(error).__name__}: {error}"[:_MESSAGE_CHARS]}]  # fmt: skip
            score = 0.0
        report["scores"][question] = score
        report["possible"][question] = float(test_file.possible)
        report["cases"][question] = cases
        report["refused"][question] = refused
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the job described by the JSON file ``argv[0]``; exit status 0 once reported.

    The entry point of ``python -P -m tlcourse.grading.checker JOB.json``;
    :func:`tlcourse.grading.runner.run_checker` writes the job and starts it.
    """
    job = json.loads(Path((sys.argv[1:] if argv is None else argv)[0]).read_text("utf-8"))
    from tlcourse.grading.privileges import drop_privileges
    from tlcourse.grading.sandbox import apply_limits

    apply_limits(job["limits"])
    if job.get("uid") is not None:
        drop_privileges(job["uid"])
    try:
        report = check_answers(job["autograder"], job["answers"], job["fast"])
    except BaseException as error:
        traceback.print_exc()
        report = {"failure": f"{type(error).__name__}: {error}"[:500]}
    with os.fdopen(job["fd"], "w", encoding="utf-8") as pipe:
        json.dump(report, pipe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
