"""Offline grading of a folder of submissions into one table of scores.

What otter run does with bad submissions (otter-grader 7.0, checked): a cell that raises does not
stop it; the other cells run and every test is still scored, so a broken notebook keeps the points
of what works (otter itself reports nothing about the error: the executed notebook is read here to
name it). A cell that never ends is never interrupted: otter sets no time limit on cells and has no
option for one, so the limit is applied here, by killing the grading process and its kernel.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tlcourse.errors import check_int, check_real, invalid_parameter
from tlcourse.grading.autograder import (
    DIST_DIR,
    autograder_questions,
    natural_key,
    resolve_autograder,
)
from tlcourse.grading.notebooks import cell_source, read_notebook
from tlcourse.grading.processes import kill_running, run_process

__all__ = ["FAST_ENV", "STATUSES", "SUBMISSION_SUFFIXES", "grade_folder", "grade_submission"]

FAST_ENV = "TLCOURSE_FAST"
STATUSES = ("ok", "error", "timeout")
SUBMISSION_SUFFIXES = (".ipynb", ".zip")

_NOISE_RE = re.compile(r"^(\[IPKernelApp\] WARNING|[IWE]\d{4} |WARNING: All log messages)")
_PIP_LINE_RE = re.compile(r"^(\s*)([%!]\s*pip\s+install\b.*)$", re.M)
_INIT_NAME_RE = re.compile(r"otter\.Notebook\(\s*[\"']([^\"'/\\]+\.ipynb)[\"']")


def _prepare_submission(submission: Path, folder: Path) -> Path:
    """A copy of a notebook submission, ready to be run.

    Two changes. The copy takes the file name its otter init cell opens:
    ``grader = otter.Notebook("02_training_from_scratch.ipynb")`` reads that file, also while
    grading, so a submission renamed ``alice.ipynb`` would fail in that cell and in every
    ``grader.check`` cell after it (scores survive, but each cell counts as an error). And
    ``%pip install`` / ``!pip install`` lines (Colab versions install otter and tlcourse) are
    commented out: grading is offline, with everything installed. Anything that is not a readable
    notebook is passed on unchanged, for the worker to report.
    """
    if submission.suffix != ".ipynb":
        return submission
    try:
        notebook = read_notebook(submission)
        name = submission.name
        for cell in notebook.cells:
            source = cell_source(cell)
            match = _INIT_NAME_RE.search(source)
            if match and name == submission.name:
                name = match[1]
            if cell.get("cell_type") == "code" and _PIP_LINE_RE.search(source):
                cell.source = _PIP_LINE_RE.sub(r"\1# not while grading: \2", source)
    except Exception:
        return submission
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_text(json.dumps(notebook), encoding="utf-8")
    return target


def _code_cell_number(submission: Path, source: str) -> int | None:
    """1-based position among the submission's code cells of the cell with this source."""
    try:
        notebook = read_notebook(submission)
    except Exception:
        return None
    code = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    for number, cell in enumerate(code, 1):
        if cell_source(cell).strip() == source.strip():
            return number
    return None


def _error_reason(submission: Path, errors: list[dict]) -> str:
    first = errors[0]
    number = (
        _code_cell_number(submission, first["source"]) if submission.suffix == ".ipynb" else None
    )
    line = next((ln.strip() for ln in first["source"].splitlines() if ln.strip()), "")
    where = f"code cell {number}" if number else "a cell"
    if line:
        where += f" ({line[:60]}{'...' if len(line) > 60 else ''})"
    count = f"{len(errors)} cells raised errors; first: " if len(errors) > 1 else ""
    return f"{count}{where} raised {first['error']}"[:500]


def grade_submission(
    submission: str | os.PathLike,
    autograder: str | os.PathLike,
    *,
    timeout: float = 600,
    log: str | os.PathLike | None = None,
) -> dict:
    """Grade one submission with ``otter run`` in a separate process, with a time limit.

    Args:
        submission: a notebook (or an otter submission zip).
        autograder: the autograder zip (see ``resolve_autograder``).
        timeout: seconds before the grading process and its kernel are killed. Defaults to 600.
        log: file to keep otter's full output in; None to discard it. Defaults to None.

    Returns:
        ``{"student": file stem, question: score..., "total", "possible", "status",
        "reason", "seconds"}``; ``status`` is ``"ok"`` (ran without errors), ``"error"`` (a
        cell raised: partial score, the first error in ``reason``; or grading failed: 0) or
        ``"timeout"`` (killed: 0).

    Raises:
        InvalidParameterError: a bad ``timeout``, or an autograder that is not an otter zip.

    Example:
        >>> grade_submission("alice.ipynb", "a.zip", timeout=0)
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'timeout' parameter of grade_submission must \
be a float > 0. Got 0 instead.
    """
    timeout = check_real("timeout", timeout, "grade_submission", low=0, low_open=True)
    submission, autograder = Path(submission), Path(autograder)
    points = autograder_questions(autograder)
    row = {"student": submission.stem, **dict.fromkeys(points, 0.0)}
    start = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="tlcourse-grade-") as tmp:
        report_path = Path(tmp) / "report.json"
        graded = _prepare_submission(submission, Path(tmp) / "submission")
        command = [
            sys.executable, "-m", "tlcourse.grading.worker",
            str(graded.resolve()), str(autograder.resolve()), str(report_path),
        ]  # fmt: skip
        result = run_process(command, cwd=tmp, env=env, timeout=timeout)
        if log is not None:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            Path(log).write_bytes(result.output)
        report = None
        if not result.timed_out and report_path.is_file():
            report = json.loads(report_path.read_text(encoding="utf-8"))
        lines = result.output.decode("utf-8", errors="replace").splitlines()
        tail = [ln.strip() for ln in lines if ln.strip() and not _NOISE_RE.match(ln)][-3:]

    if result.timed_out:
        status, reason = "timeout", f"timed out after {timeout:g} s"
    elif report is None:
        status = "error"
        reason = f"grading process exited with code {result.returncode}: {' | '.join(tail)}"
    elif report["failure"]:
        status, reason = "error", f"grading failed: {report['failure']}"[:500]
    else:
        for question, score in report["scores"].items():
            row[question] = score
        status, reason = (
            ("error", _error_reason(submission, report["errors"]))
            if report["errors"]
            else ("ok", "")
        )
    row.update(
        total=float(sum(row[q] for q in points)),
        possible=float(sum(points.values())),
        status=status,
        reason=reason,
        seconds=round(time.perf_counter() - start, 1),
    )
    return row


def _submission_files(submissions) -> list[Path]:
    func = "grade_folder"
    if isinstance(submissions, str | os.PathLike):
        folder = Path(submissions)
        if not folder.is_dir():
            raise invalid_parameter(
                "submissions", func, "a folder of submitted notebooks or a list of files",
                str(folder), "It is not a folder.",
            )  # fmt: skip
        files = [
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix in SUBMISSION_SUFFIXES and not p.name.startswith(".")
        ]
    else:
        files = [Path(p) for p in submissions]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise invalid_parameter(
                "submissions", func, "a folder of submitted notebooks or a list of files",
                missing, "These files do not exist.",
            )  # fmt: skip
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
        raise invalid_parameter(
            "submissions", func, "a folder of submitted notebooks or a list of files",
            str(submissions), "It holds no .ipynb or .zip file.",
        )  # fmt: skip
    return files


def grade_folder(
    submissions: str | os.PathLike | Iterable[str | os.PathLike],
    autograder: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    timeout: float = 600,
    jobs: int = 1,
    dist: str | os.PathLike = DIST_DIR,
    logs: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = print,
):
    """Grade a folder of submitted notebooks offline into one table of scores.

    Each submission is graded by ``otter run`` (no Docker) in its own process, killed after
    ``timeout`` seconds together with its kernel. A submission that raises keeps the score of its
    tests that pass, with status ``error`` and the first error as reason; one that does not
    finish gets 0 with status ``timeout``; one otter cannot grade at all (not a notebook, another
    assignment's notebook) gets 0 with status ``error``. Nothing a submission does stops the
    batch. Submissions run with the instructor's environment: ``TLCOURSE_FAST=1`` grades in
    the notebooks' fast mode (tests do not depend on training results, so scores are the same).

    Args:
        submissions: a folder (its ``*.ipynb`` and ``*.zip`` files; the student is the file name
            without extension) or a list of files.
        autograder: an autograder zip, or a notebook name resolved in ``dist``
            (``resolve_autograder``).
        out: CSV file to write; None to only return the table. Defaults to None.
        timeout: seconds allowed per submission. Defaults to 600.
        jobs: submissions graded at the same time. Defaults to 1.
        dist: build folder for notebook names. Defaults to ``dist``.
        logs: folder to keep otter's output per student (``STUDENT.txt``); None to discard.
            Defaults to None.
        progress: called with one line per graded submission; None for silence. Defaults to
            ``print``.

    Returns:
        A pandas DataFrame, one row per submission in name order: ``student``, one column per
        question, ``total``, ``possible``, ``status``, ``reason``, ``seconds``.

    Raises:
        InvalidParameterError: no submissions, an unknown autograder, a bad ``timeout`` or
            ``jobs``, or two submissions with the same student name.

    Example:
        >>> grade_folder("submissions/", "02", jobs=0)
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'jobs' parameter of grade_folder must be an \
int >= 1. Got 0 instead.
    """
    import pandas as pd

    timeout = check_real("timeout", timeout, "grade_folder", low=0, low_open=True)
    jobs = check_int("jobs", jobs, "grade_folder", low=1)
    if progress is not None and not callable(progress):
        raise invalid_parameter("progress", "grade_folder", "a function or None", progress)
    zip_path = resolve_autograder(autograder, dist)
    points = autograder_questions(zip_path)
    files = _submission_files(submissions)
    lock, done = threading.Lock(), [0]

    def grade(path: Path) -> dict:
        log = Path(logs) / f"{path.stem}.txt" if logs is not None else None
        row = grade_submission(path, zip_path, timeout=timeout, log=log)
        if progress is not None:
            with lock:
                done[0] += 1
                detail = f" ({row['reason']})" if row["reason"] else ""
                progress(
                    f"[{done[0]}/{len(files)}] {row['student']}: {row['total']:g}/"
                    f"{row['possible']:g} {row['status']}{detail} in {row['seconds']:.0f} s"
                )
        return row

    if progress is not None:
        progress(
            f"Grading {len(files)} submission(s) with {zip_path} ({len(points)} questions, "
            f"{sum(points.values()):g} points, {timeout:g} s each at most, {jobs} at a time)"
        )
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            rows = list(pool.map(grade, files))
        except BaseException:  # Ctrl-C: start nothing more, stop what runs, then re-raise
            pool.shutdown(wait=False, cancel_futures=True)
            kill_running()
            raise
    columns = ["student", *points, "total", "possible", "status", "reason", "seconds"]
    table = pd.DataFrame(rows, columns=columns)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    return table
