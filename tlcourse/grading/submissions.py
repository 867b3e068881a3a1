"""Submitted files: which to grade, and a copy of each ready to run."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

from tlcourse.errors import invalid_parameter
from tlcourse.grading.autograder import natural_key
from tlcourse.grading.notebooks import cell_source

__all__ = ["SUBMISSION_SUFFIXES", "prepare_submission", "submission_files"]

SUBMISSION_SUFFIXES = (".ipynb", ".zip")
_MAX_NOTEBOOK_BYTES = 64 << 20
_PIP_LINE_RE = re.compile(r"^(\s*)([%!]\s*pip\s+install\b.*)$", re.M)
_INIT_NAME_RE = re.compile(r"otter\.Notebook\(\s*[\"']([^\"'/\\]+\.ipynb)[\"']")
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


def _notebook_bytes(submission: Path) -> bytes:
    """The notebook of a submission: the file itself, or the one ``.ipynb`` of an otter zip."""
    if submission.suffix != ".zip":
        with open(submission, "rb") as file:
            return file.read(_MAX_NOTEBOOK_BYTES + 1)[:_MAX_NOTEBOOK_BYTES]
    with zipfile.ZipFile(submission) as archive:
        notebooks = [i for i in archive.infolist() if i.filename.endswith(".ipynb")]
        if len(notebooks) != 1:
            raise ValueError(f"the zip holds {len(notebooks)} notebooks, not one")
        with archive.open(notebooks[0]) as member:
            return member.read(_MAX_NOTEBOOK_BYTES)


def prepare_submission(
    submission: Path, folder: Path, assignment: str | None
) -> tuple[Path, str | None]:
    """A copy of a submitted notebook, ready to be run, and why it cannot be graded (or None).

    The copy takes the file name otter's init cell opens (``otter.assignment_name``): a
    submission renamed ``alice.ipynb`` would otherwise fail in every ``grader.check`` cell.
    ``%pip install`` / ``!pip install`` lines are commented out (grading is offline). An otter
    zip gives its notebook; what is not a readable notebook is copied unchanged, for the worker
    to report.

    Example:
        >>> import tempfile, nbformat
        >>> folder = Path(tempfile.mkdtemp())
        >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("!pip install x")])
        >>> nb.metadata["otter"] = {"assignment_name": "02_scratch"}
        >>> nbformat.write(nb, folder / "alice.ipynb")
        >>> copy, problem = prepare_submission(folder / "alice.ipynb", folder / "out", "02_scratch")
        >>> copy.name, problem, nbformat.read(copy, 4).cells[0].source
        ('02_scratch.ipynb', None, '# not while grading: !pip install x')
    """
    folder.mkdir(parents=True, exist_ok=True)
    data = _notebook_bytes(submission)
    copy = folder / Path(submission.name).with_suffix(".ipynb").name
    try:
        notebook = json.loads(data.decode("utf-8"))
        cells = notebook["cells"]
        meta = notebook.get("metadata", {}).get("otter", {})
        name = meta.get("assignment_name") if isinstance(meta, dict) else None
        if isinstance(name, str) and assignment and name != assignment:
            copy.write_bytes(data)
            why = f"this notebook is the assignment {name!r}, the autograder is for {assignment!r}"
            return copy, why
        file_name = f"{name}.ipynb" if isinstance(name, str) and _NAME_RE.fullmatch(name) else None
        for cell in cells:
            source = cell_source(cell)
            match = _INIT_NAME_RE.search(source)
            if match and file_name is None and _NAME_RE.fullmatch(match[1]):
                file_name = match[1]
            if cell.get("cell_type") == "code" and _PIP_LINE_RE.search(source):
                cell["source"] = _PIP_LINE_RE.sub(r"\1# not while grading: \2", source)
    except Exception:  # not a notebook: the worker says so
        copy.write_bytes(data)
        return copy, None
    target = folder / file_name if file_name else copy
    target.write_text(json.dumps(notebook), encoding="utf-8")
    return target, None


def submission_files(submissions, func: str = "grade_folder") -> list[Path]:
    """The submitted files to grade, in natural name order, one per student name.

    Example:
        >>> submission_files("no-such-folder")
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'submissions' parameter of grade_folder must \
be a folder of submitted notebooks or a list of files. Got 'no-such-folder' instead. It is not a \
folder.
    """
    rule = "a folder of submitted notebooks or a list of files"
    if isinstance(submissions, str | os.PathLike):
        folder = Path(submissions)
        if not folder.is_dir():
            raise invalid_parameter("submissions", func, rule, str(folder), "It is not a folder.")
        files = [p for p in folder.iterdir() if p.suffix in SUBMISSION_SUFFIXES]
        files = [p for p in files if p.is_file() and not p.name.startswith(".")]
    else:
        files = [Path(p) for p in submissions]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise invalid_parameter("submissions", func, rule, missing, "These files do not exist.")
    files = sorted(files, key=lambda p: natural_key(p.name))
    stems = [p.stem for p in files]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise invalid_parameter(
            "submissions", func, "files with one student name each", str(submissions),
            f"Several submissions share the student name(s) {duplicates} (the file name without "
            "extension); rename them so that each row of the scores names one student.",
        )  # fmt: skip
    if not files:
        raise invalid_parameter("submissions", func, rule, str(submissions),
                                "It holds no .ipynb or .zip file.")  # fmt: skip
    return files
