"""Instructor tools for the graded notebooks: student versions, autograders, grading.

:func:`assign_all` runs ``otter assign`` on every master notebook into ``dist/NN_slug/`` and
copies the checked student notebook to ``notebooks/student/``; :func:`grade_folder` grades a
folder of submissions into one table (:mod:`.grade`); ``tlcourse gradebook`` merges shards and
writes Canvas grades and feedback (:mod:`.gradebook`). The threat model: ``notebooks/README.md``.
Each name is imported from its module on first use (PEP 562), as in ``tlcourse``: the checker's
process, which imports ``tlcourse.grading.checker`` alone, loads neither nbformat nor otter.
"""

import importlib

# Each name and the module of this package that is its home.
_HOMES = {
    "assign": ["MASTERS_DIR", "STUDENT_DIR", "AssignedNotebook", "assign_all", "assign_colab",
               "assign_notebook"],
    "autograder": ["DIST_DIR", "autograder_questions", "read_test_files", "resolve_autograder"],
    "errors": ["GradingError", "SandboxUnavailableError"],
    "grade": ["FAST_ENV", "SANDBOXES", "STATUSES", "grade_folder", "grade_submission"],
    "leaks": ["find_leaks"],
    "notebooks": ["normalize_notebook"],
    "sandbox": ["Limits", "bwrap_problem"],
    "submissions": ["SUBMISSION_SUFFIXES"]}  # fmt: skip
_NAMES = {name: f"{__name__}.{home}" for home, names in _HOMES.items() for name in names}

__all__ = sorted(_NAMES, key=lambda n: (not n.isupper(), n[0].islower(), n))


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_NAMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
