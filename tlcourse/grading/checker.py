"""The checker: ``python -P -m tlcourse.grading.checker JOB.json``, a fresh process.

It runs the autograder's tests, public and hidden, never in the student's kernel: each case
as otter's ``OKTestFile`` does, on the tests as otter's classes read them in the grader
(:func:`read_specs`; otter's package would load IPython's shell here). Each question's tests
see a sealed namespace (:func:`question_namespace`): fresh builtins, the trusted modules
(:data:`tlcourse.grading.names.TRUSTED_MODULES`), ``FAST``, and exactly the answers its tests
read, restored as data (:func:`tlcourse.grading.restore.restore_answers`). It runs sandboxed
too (it reads files the submission wrote); the JSON report goes to the grader's pipe.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

__all__ = ["check_answers", "main", "question_namespace", "read_specs"]

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


def read_specs(autograder) -> dict | None:
    """Each question's OK-format tests as data, as otter reads them (points resolved), or None
    when one is in otter's exception format (its cases are functions).

    Example:
        >>> import tempfile, zipfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "a.zip")
        >>> test = {"name": "q1", "points": 3, "suites": [{"cases": [{"code": ">>> x"}] * 2}]}
        >>> with zipfile.ZipFile(path, "w") as archive:
        ...     archive.writestr("tests/q1.py", f"OK_FORMAT = True\\ntest = {test!r}\\n")
        >>> [case["points"] for case in read_specs(path)["q1"]["cases"]]
        [1.5, 1.5]
    """
    from tlcourse.grading.autograder import read_test_files

    specs = {}
    for question, test in read_test_files(autograder).items():
        cases = [vars(case).copy() for case in test.test_cases]
        if any(not isinstance(case["body"], str) for case in cases):
            return None
        specs[question] = {"cases": cases, "all_or_nothing": bool(test.all_or_nothing),
                           "possible": float(test.possible)}  # fmt: skip
    return specs


def _run(question: str, test, environment: dict) -> tuple[list[dict], float]:
    """Run and score one question's tests as otter does: an OK-format spec case by case, each a
    doctest in ``environment`` (kept from case to case; otter's ``OKTestFile.run``), its output
    the message; an otter test file (the exception format) by itself."""
    import doctest
    import io
    from contextlib import redirect_stderr, redirect_stdout

    if not isinstance(test, dict):
        test.run(environment)
        return [{"name": r.test_case.name, "hidden": bool(r.test_case.hidden),
                 "points": float(r.test_case.points or 0), "passed": bool(r.passed),
                 "message": str(r.message or "")[:_MESSAGE_CHARS]}
                for r in test.test_case_results], float(test.score)  # fmt: skip
    cases = []
    for index, case in enumerate(test["cases"]):
        name, output = f"{question} {index}", io.StringIO()
        examples = doctest.DocTestParser().parse(case["body"], name)
        examples = [e for e in examples if isinstance(e, doctest.Example)]
        with redirect_stdout(output), redirect_stderr(output):
            failed = doctest.DocTestRunner(verbose=True).run(
                doctest.DocTest(examples, environment, name, None, None, case["body"]),
                clear_globs=False).failed  # fmt: skip
        message = "❌ Test case failed\n" + output.getvalue() if failed else "✅ Test case passed"
        cases.append(dict(name=case["name"], hidden=bool(case["hidden"]), passed=not failed,
                          points=float(case["points"] or 0),
                          message=message[:_MESSAGE_CHARS]))  # fmt: skip
    if test["all_or_nothing"]:
        return cases, test["possible"] if all(c["passed"] for c in cases) else 0.0
    return cases, sum(c["points"] for c in cases if c["passed"])


def _trusted_modules(text: str | None) -> dict:
    """The trusted modules whose alias the tests' text names (all without the text): importing
    TensorFlow costs seconds."""
    import re

    from tlcourse.grading.names import TRUSTED_MODULES

    modules = {
        alias: importlib.import_module(module)
        for alias, module in TRUSTED_MODULES.items()
        if text is None or re.search(rf"\b{alias}\b", text)
    }
    # ``tl.name`` imports its module on first use: now, before the answers come, not in a test.
    for alias, name in re.findall(r"\b(\w+)\.(\w+)", text or ""):
        with contextlib.suppress(Exception):  # a name that is not there fails in its test
            getattr(modules.get(alias), name)
    return modules


def check_answers(autograder: str | os.PathLike, answers: str | os.PathLike, fast: bool,
                  ready: Callable[[], bool] | None = None) -> dict:  # fmt: skip
    """Run the tests of an autograder (its zip or its :func:`read_specs` as ``.json``) on each
    question's answers: ``{"scores", "possible", "cases": {q: [{"name", "hidden", "points",
    "passed", "message"}]}, "refused": {q: {name: reason}}, "failure": None}``. ``ready``:
    called once the modules are imported; False means there are no answers to check.

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

    path = Path(autograder)
    tests = json.loads(path.read_text("utf-8")) if path.suffix == ".json" else read_specs(path)
    tests = tests or read_test_files(path)
    specs = all(isinstance(test, dict) for test in tests.values())
    text = "\n".join(c["body"] for t in tests.values() for c in t["cases"]) if specs else None
    trusted = {**_trusted_modules(text), "FAST": bool(fast)}
    if ready is not None and not ready():
        return {"failure": "no answers were given"}
    report = {"scores": {}, "possible": {}, "cases": {}, "refused": {}, "failure": None}
    for question, test in tests.items():
        folder, reads = Path(answers) / question, test
        if specs:
            reads = SimpleNamespace(test_cases=[SimpleNamespace(**c) for c in test["cases"]])
        names = _answer_names(question_names(reads), trusted)
        values, refused = restore_answers(folder, names) if folder.is_dir() else ({}, {"*": "none"})
        environment, ignored = question_namespace(values, names, trusted)
        try:
            cases, score = _run(question, test, environment)
        except Exception as error:  # a test that cannot run at all scores nothing
            cases = [{"name": question, "hidden": True, "points": 0.0, "passed": False,
                      "message": f"{type(error).__name__}: {error}"[:_MESSAGE_CHARS]}]  # fmt: skip
            score = 0.0
        report["scores"][question] = float(score)
        report["possible"][question] = float(test["possible"] if specs else test.possible)
        report["cases"][question] = cases
        report["refused"][question] = {**refused, **ignored}
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the job that :func:`~tlcourse.grading.runner.start_checker` wrote; exit status 0."""
    job = json.loads(Path((sys.argv[1:] if argv is None else argv)[0]).read_text("utf-8"))
    from tlcourse.grading.privileges import drop_privileges
    from tlcourse.grading.sandbox import apply_limits

    apply_limits(job["limits"])
    if job.get("uid") is not None:
        drop_privileges(job["uid"])
    go = job.get("go")  # the grader started this before the answers exist: wait for a byte
    ready = None if go is None else (lambda: os.read(go, 1) == b"1")
    try:
        report = check_answers(job["autograder"], job["answers"], job["fast"], ready)
    except BaseException as error:
        traceback.print_exc()
        report = {"failure": f"{type(error).__name__}: {error}"[:500]}
    with os.fdopen(job["fd"], "w", encoding="utf-8") as pipe:
        json.dump(report, pipe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
