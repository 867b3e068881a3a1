"""Instructor tools for the graded notebooks: student versions, autograders, offline grading.

The course notebooks are otter-grader "master" notebooks (``notebooks/masters/NN_slug.ipynb``):
solutions, public and hidden tests in one file. Two functions cover the instructor's job:

- :func:`assign_all` runs ``otter assign`` on every master into ``dist/NN_slug/`` (student
  notebook, autograder notebook with solutions, autograder zip renamed without its timestamp to
  ``dist/NN_slug/autograder/NN_slug-autograder.zip``), normalises the student notebook through
  nbformat (no outputs, cell ids numbered, only the notebook metadata Jupyter and otter need) so
  that regenerating gives byte-identical files, refuses a student notebook that shows a solution
  line or a hidden test (:func:`find_leaks`), and copies it to ``notebooks/student/``. With
  ``colab=True`` it also builds the Colab versions (:func:`assign_colab`), which need their tests
  as files.
- :func:`grade_folder` grades every submission in a folder into one table: one row per student,
  one column per question, ``total``, ``possible``, ``status`` (``ok``, ``error`` or
  ``timeout``), ``reason``, ``seconds`` and ``sandbox``. Each submission runs in a bubblewrap
  sandbox (:mod:`~tlcourse.grading.sandbox`) in the worker (``python -m
  tlcourse.grading.worker``), which exports each question's answers as data
  (:mod:`~tlcourse.grading.answers`); the tests, public and hidden, then run outside it in the
  checker (``python -m tlcourse.grading.checker``), through otter's test-file classes, against
  those answers read back (:mod:`~tlcourse.grading.restore`). The threat model is in
  ``notebooks/README.md``.

One module per concept: :mod:`~tlcourse.grading.notebooks` (nbformat), :mod:`.assign`,
:mod:`.leaks`, :mod:`.autograder` (otter's test-file classes), :mod:`.names` (what a question's
tests read), :mod:`.answers` and :mod:`.restore` (answers as data, both ways),
:mod:`.keras_files` (model files inspected before they load), :mod:`.archive` (the worker's zip,
checked before it is opened), :mod:`.worker`, :mod:`.checker`, :mod:`.sandbox` (bubblewrap and
limits), :mod:`.privileges` (never root inside), :mod:`.cgroups` (a CPU share and a process count
per sandbox), :mod:`.clock` (a time limit a busy machine cannot use up), :mod:`.runner` (the two
stages), :mod:`.processes`, :mod:`.text` (submission text made safe to print),
:mod:`.submissions`, :mod:`.grade`, and :mod:`.student` (the student side: finding the notebook
file for ``grader.check``).
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
    "DIST_DIR",
    "FAST_ENV",
    "MASTERS_DIR",
    "SANDBOXES",
    "STATUSES",
    "STUDENT_DIR",
    "SUBMISSION_SUFFIXES",
    "AssignedNotebook",
    "GradingError",
    "Limits",
    "SandboxUnavailableError",
    "assign_all",
    "assign_colab",
    "assign_notebook",
    "autograder_questions",
    "bwrap_problem",
    "find_leaks",
    "grade_folder",
    "grade_submission",
    "normalize_notebook",
    "read_test_files",
    "resolve_autograder",
]
