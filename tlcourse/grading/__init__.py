"""Instructor tools for the graded notebooks: student versions, autograders, grading.

:func:`assign_all` runs ``otter assign`` on every master notebook into ``dist/NN_slug/`` and
copies the checked student notebook to ``notebooks/student/``; :func:`grade_folder` grades a
folder of submissions into one table (:mod:`.grade`); ``tlcourse gradebook`` merges shards and
writes Canvas grades and feedback (:mod:`.gradebook`). The threat model: ``notebooks/README.md``.
"""

from tlcourse.grading.assign import (
    MASTERS_DIR,
    STUDENT_DIR,
    AssignedNotebook,
    assign_all,
    assign_colab,
    assign_notebook,
)
from tlcourse.grading.autograder import (
    DIST_DIR,
    autograder_questions,
    read_test_files,
    resolve_autograder,
)
from tlcourse.grading.errors import GradingError, SandboxUnavailableError
from tlcourse.grading.grade import FAST_ENV, SANDBOXES, STATUSES, grade_folder, grade_submission
from tlcourse.grading.leaks import find_leaks
from tlcourse.grading.notebooks import normalize_notebook
from tlcourse.grading.sandbox import Limits, bwrap_problem
from tlcourse.grading.submissions import SUBMISSION_SUFFIXES

__all__ = [
    "DIST_DIR", "FAST_ENV", "MASTERS_DIR", "SANDBOXES", "STATUSES", "STUDENT_DIR",
    "SUBMISSION_SUFFIXES", "AssignedNotebook", "GradingError", "Limits", "SandboxUnavailableError",
    "assign_all", "assign_colab", "assign_notebook", "autograder_questions", "bwrap_problem",
    "find_leaks", "grade_folder", "grade_submission", "normalize_notebook", "read_test_files",
    "resolve_autograder",
]  # fmt: skip
