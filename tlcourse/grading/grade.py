"""Offline grading of a folder of submissions into one table of scores, one sandbox each.

Each submission goes through two fresh processes (:mod:`tlcourse.grading.runner`): the worker
runs the notebook in a sandbox and exports the answers as data; the checker runs the tests,
public and hidden, in another, against those answers only. As with ``otter run``, a cell that
raises does not stop the notebook, and a broken notebook keeps the points of what works.
Nothing a submission does stops the batch: its text is escaped before it is shown.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tlcourse.errors import check_bool, check_int, check_real, invalid_parameter
from tlcourse.grading.autograder import (
    DIST_DIR,
    autograder_questions,
    read_test_files,
    resolve_autograder,
)
from tlcourse.grading.cgroups import cgroup_support
from tlcourse.grading.gradebook import ScoreFile, autograder_id, feedback_of, in_shard, parse_shard
from tlcourse.grading.names import question_names
from tlcourse.grading.privileges import sandbox_slot, slot_uid
from tlcourse.grading.processes import ProcessResult, kill_running
from tlcourse.grading.runner import run_worker, start_checker, unpack_answers
from tlcourse.grading.sandbox import Limits, require_bwrap, sandbox_mode
from tlcourse.grading.submissions import prepare_submission, submission_files
from tlcourse.grading.text import escape_text

__all__ = ["FAST_ENV", "SANDBOXES", "STATUSES", "grade_folder", "grade_submission",
           "sandbox_description"]  # fmt: skip

FAST_ENV = "TLCOURSE_FAST"
STATUSES = ("ok", "error", "timeout")
SANDBOXES = ("bwrap", "user", "none")


def _assignment_name(autograder: Path) -> str | None:
    try:
        with zipfile.ZipFile(autograder) as archive:
            config = json.loads(archive.read("otter_config.json"))
        name = config.get("assignment_name")
        return name if isinstance(name, str) else None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def _ended_badly(name: str, process: ProcessResult) -> str | None:
    """Why a stage's report cannot be trusted: it did not exit with status 0 on its own."""
    if process.returncode != 0:
        return (f"the {name} exited with status {process.returncode} (killed at a limit or by "
                "the submission, or it failed; see the log)")  # fmt: skip
    return None


def _error_reason(errors: list) -> str:
    """The worker's first cell error, as ``code cell 3 (x = 1 / 0) raised ZeroDivisionError``."""
    first = errors[0] if isinstance(errors[0], dict) else {}
    number = first.get("cell")
    source = str(first.get("source") or "")[:300]
    line = next((escape_text(ln.strip(), 300) for ln in source.splitlines() if ln.strip()), "")
    where = f"code cell {number}" if isinstance(number, int) else "a cell"
    if line:
        where += f" ({line[:60]}{'...' if len(line) > 60 else ''})"
    count = f"{len(errors)} cells raised errors; first: " if len(errors) > 1 else ""
    return f"{count}{where} raised {escape_text(first.get('error'), 300)}"[:500]


def _scores(checker_report: dict, points: dict[str, float]) -> dict[str, float]:
    """Scores per question, each within [0, its points]."""
    found = checker_report.get("scores", {}) if isinstance(checker_report, dict) else {}
    scores = {}
    for question, possible in points.items():
        value = found.get(question, 0.0) if isinstance(found, dict) else 0.0
        value = float(value) if isinstance(value, int | float) else 0.0
        scores[question] = min(max(value, 0.0), possible)
    return scores


def _log_text(stages: dict, report: dict, checked: dict) -> str:
    parts = []
    for name, stage in stages.items():
        output = stage.process.output.decode("utf-8", errors="replace")
        # Counted: the seconds held against the time limit (fewer when the machine held the
        # stage back from its share of the CPU; see tlcourse.grading.clock).
        parts.append(f"===== {name} (exit status {stage.process.returncode}, "
                     f"{stage.process.seconds:.1f} s, {stage.process.counted:.1f} s counted) "
                     f"=====\n{output}")  # fmt: skip
    parts.append("===== worker report =====\n" + json.dumps(report, indent=1)[:20000])
    for question, cases in (checked.get("cases") or {}).items():
        refused = (checked.get("refused") or {}).get(question) or {}
        lines = []
        for case in cases:
            hidden = " (hidden)" if case.get("hidden") else ""
            state = "passed" if case.get("passed") else "FAILED"
            lines.append(f"  {state} {case.get('name')}{hidden}")
            if not case.get("passed"):  # the doctest's report: the failing line and its error
                message = escape_text(case.get("message"), 1500).strip().splitlines()[-12:]
                lines += [f"      {line}" for line in message]
        if refused:
            lines.append(f"  not exported: {refused}")
        parts.append(f"===== {question} =====\n" + "\n".join(lines))
    return "\n".join(parts) + "\n"


def _grade(submission: Path, autograder: Path, tmp: Path, *, timeout, fast, sandbox, limits,
           uid):  # fmt: skip
    """``(scores or None, status, reason, log text, feedback)`` of one submission."""
    tests = read_test_files(autograder)
    points = {q: float(t.possible) for q, t in tests.items()}
    questions = {q: question_names(t) for q, t in tests.items()}
    assignment = _assignment_name(autograder)
    notebook, problem = prepare_submission(submission, tmp / "submission", assignment)
    if problem:
        return None, "error", f"grading failed: {problem}", "", "{}"
    options = dict(sandbox=sandbox, fast=fast, timeout=timeout, limits=limits, uid=uid)
    check = start_checker(autograder, tmp / "checker", **options)  # imports while the worker runs
    try:
        worker = run_worker(notebook, questions, tmp / "worker", **options)
        stages, process = {"worker": worker}, worker.process
        bad, over = _ended_badly("worker", process), limits.answers >> 20
        for stopped, status, reason in (
            (process.timed_out, "timeout", f"timed out after {timeout:g} s"),
            (process.killed_reason, "error", f"stopped: the submission {process.killed_reason}"),
            (bad, "error", f"grading failed: {bad}"),  # its zip may be the kernel's: never read it
            (worker.overflow, "error", f"grading failed: the answers are over {over} MiB"),
        ):
            if stopped:
                return None, status, reason, _log_text(stages, {}, {}), "{}"
        report = unpack_answers(worker.sent, tmp / "answers", limits.answers)
        failure = report.get("failure")
        if failure and not report.get("exported"):
            log = _log_text(stages, report, {})
            return None, "error", f"grading failed: {escape_text(failure, 300)}", log, "{}"
        (tmp / "answers").mkdir(exist_ok=True)
        checker = check(tmp / "answers")
        stages["checker"] = checker
    finally:
        check(None)  # killed whole, if the answers never came
    try:
        checked = json.loads(checker.sent.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        checked = {"failure": f"no report (exit status {checker.process.returncode})"}
    if checker.process.timed_out:
        checked = {"failure": f"timed out after {timeout:g} s"}
    elif _ended_badly("checker", checker.process):
        checked = {"failure": _ended_badly("checker", checker.process)}
    log = _log_text(stages, report, checked if isinstance(checked, dict) else {})
    if not isinstance(checked, dict) or checked.get("failure"):
        why = checked.get("failure") if isinstance(checked, dict) else "unreadable report"
        return None, "error", f"checking the answers failed: {escape_text(why, 300)}", log, "{}"
    scores, feedback = _scores(checked, points), feedback_of(checked)
    errors = report.get("errors") if isinstance(report.get("errors"), list) else []
    reason = f"grading failed: {escape_text(failure, 300)}" if failure else ""
    reason = reason or (_error_reason(errors) if errors else "")
    return scores, "error" if reason else "ok", reason, log, feedback


def grade_submission(submission: str | os.PathLike, autograder: str | os.PathLike, *,
                     timeout: float = 600, log: str | os.PathLike | None = None,
                     fast: bool | None = None, sandbox: bool | str = True,
                     limits: Limits | None = None) -> dict:  # fmt: skip
    """Grade one submission: run it in a sandbox, then its tests outside it, each time-limited.

    ``timeout`` bounds each stage; ``log`` keeps the processes' output and which tests passed
    (it names hidden tests: for you only); ``fast`` sets ``FAST`` after the ``parameters`` cell
    (None: ``TLCOURSE_FAST=1``); ``sandbox=False`` runs the submission with your permissions
    (only what you trust), ``"user"`` as an unprivileged user (root, where bubblewrap cannot
    start: :func:`tlcourse.grading.sandbox.sandbox_mode`).

    Returns one row: ``student``, the score per question, ``total``, ``possible``, ``status``
    (``"ok"``; ``"error"``: a cell raised, partial score and the first error in ``reason``, or
    grading failed, 0; ``"timeout"``: 0), ``seconds``, ``sandbox``, ``autograder``, ``shard``
    and ``feedback`` (student-safe JSON, :func:`tlcourse.grading.gradebook.feedback_of`).

    Example:
        >>> grade_submission("alice.ipynb", "a.zip", timeout=0)
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'timeout' parameter of grade_submission must \
be a float > 0. Got 0 instead.
    """
    func = "grade_submission"
    timeout = check_real("timeout", timeout, func, low=0, low_open=True)
    fast = os.environ.get(FAST_ENV) == "1" if fast is None else check_bool("fast", fast, func)
    mode = sandbox_mode(sandbox, func)
    if limits is not None and not isinstance(limits, Limits):
        raise invalid_parameter("limits", func, "a tlcourse.grading.sandbox.Limits or None",
                                limits)  # fmt: skip
    limits = limits or Limits()
    submission, autograder = Path(submission), Path(autograder)
    points = autograder_questions(autograder)
    if mode == "bwrap":
        require_bwrap()
    start = time.perf_counter()
    with sandbox_slot() as slot, tempfile.TemporaryDirectory(prefix="tlcourse-grade-") as tmp:
        # Graded by root, the sandboxed stages run as the slot's own unprivileged uid.
        uid = slot_uid(slot) if mode != "none" and os.geteuid() == 0 else None
        try:
            scores, status, reason, text, feedback = _grade(
                submission, autograder, Path(tmp), timeout=timeout, fast=fast,
                sandbox=mode == "bwrap", limits=limits, uid=uid,
            )  # fmt: skip
        except Exception as error:  # nothing a submission does stops the batch
            scores, status, text, feedback = None, "error", "", "{}"
            reason = f"grading failed: {error}"
    if log is not None:
        try:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            Path(log).write_text(escape_text(text, lines=True), encoding="utf-8",
                                 errors="backslashreplace")  # fmt: skip
        except OSError as error:  # the row still counts; say why its log is missing
            reason = f"{reason}; " if reason else ""
            reason += f"the log could not be written ({type(error).__name__})"
    grader = autograder_id(autograder, _assignment_name(autograder))
    seconds = round(time.perf_counter() - start, 1)
    return _row(submission, points, scores, status, reason, seconds, mode, grader, feedback)


def _row(path: Path, points, scores, status, reason, seconds, sandbox, grader="", feedback="{}"):
    """One row of the scores table (scores None: 0 for every question)."""
    scores = scores or dict.fromkeys(points, 0.0)
    total = float(sum(scores.get(q, 0.0) for q in points))
    return {"student": escape_text(path.stem), **{q: scores.get(q, 0.0) for q in points},
            "total": total, "possible": float(sum(points.values())), "status": status,
            "reason": escape_text(reason, 500), "seconds": seconds, "sandbox": sandbox,
            "autograder": grader, "shard": "1/1", "feedback": feedback}  # fmt: skip


def _show(progress: Callable[[str], None], line: str) -> None:
    """Print one progress line; a terminal that cannot show a character gets its escape."""
    try:
        progress(line)
    except UnicodeError:
        progress(line.encode("ascii", "backslashreplace").decode("ascii"))


def sandbox_description(sandbox: bool) -> str:
    """How submissions are graded here, for the progress header: sandbox, user, cgroups.

    Example:
        >>> sandbox_description(False)
        'WITHOUT a sandbox'
    """
    if not sandbox:
        return "WITHOUT a sandbox"
    user = "as unprivileged users" if os.geteuid() == 0 else "as you"
    return f"each in a bubblewrap sandbox {user}, {cgroup_support()[1]}"


def _duration(seconds: float) -> str:
    """``"1 h 02 min"``, ``"3 min 05 s"`` or ``"8 s"``.

    Example:
        >>> _duration(3725), _duration(185.2), _duration(8.4)
        ('1 h 02 min', '3 min 05 s', '8 s')
    """
    minutes, seconds = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def grade_folder(submissions: str | os.PathLike | Iterable[str | os.PathLike],
                 autograder: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 timeout: float = 600, jobs: int = 1, dist: str | os.PathLike = DIST_DIR,
                 logs: str | os.PathLike | None = None, fast: bool | None = None,
                 sandbox: bool = True, limits: Limits | None = None,
                 progress: Callable[[str], None] | None = print, shard: str | None = None,
                 resume: bool = False):  # fmt: skip
    """Grade a folder of submitted notebooks offline into one table of scores.

    ``submissions``: a folder (its ``*.ipynb`` and ``*.zip``; the student is the file name
    without extension) or a list of files; ``autograder``: a zip, or a notebook name resolved
    in ``dist``. :func:`grade_submission` grades each, ``jobs`` at a time (``logs``: a folder
    for the logs); ``progress`` gets one line per submission (None: silence). With ``out``,
    each row is written as it finishes, atomically, under a lock: an interrupted batch loses
    no finished row, and ``resume=True`` keeps the rows graded with this same autograder (its
    checksum) and grades the others. ``shard="K/N"``: only the K-th of N parts, by a hash of
    each file name. Returns a DataFrame of the rows in name order.

    Example:
        >>> grade_folder("submissions/", "02", jobs=0)
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'jobs' parameter of grade_folder must be an \
int >= 1. Got 0 instead.
    """
    import pandas as pd

    func = "grade_folder"
    timeout = check_real("timeout", timeout, func, low=0, low_open=True)
    jobs = check_int("jobs", jobs, func, low=1)
    fast = os.environ.get(FAST_ENV) == "1" if fast is None else check_bool("fast", fast, func)
    sandbox = check_bool("sandbox", sandbox, func)
    if progress is not None and not callable(progress):
        raise invalid_parameter("progress", func, "a function or None", progress)
    k, n = (1, 1) if shard is None else parse_shard(shard, func)
    if resume and out is None:
        raise invalid_parameter("resume", func, "False when there is no 'out' table", resume)
    zip_path = resolve_autograder(autograder, dist)
    points = autograder_questions(zip_path)
    grader = autograder_id(zip_path, _assignment_name(zip_path))
    files = [p for p in submission_files(submissions, func) if in_shard(p.stem, k, n)]
    if sandbox:
        require_bwrap()
    columns = ["student", *points, "total", "possible", "status", "reason", "seconds", "sandbox",
               "autograder", "shard", "feedback"]  # fmt: skip
    store = ScoreFile(Path(out), columns) if out is not None else None
    kept = [r for r in store.rows() if resume and r.get("autograder") == grader] if store else []
    if store is not None:
        store.replace(kept)
    done_before = {r["student"] for r in kept}
    todo = [p for p in files if escape_text(p.stem) not in done_before]
    lock, done, start = threading.Lock(), [0], time.monotonic()

    def grade(path: Path) -> dict:
        # Named as the CSV names the student: no control character in a file name either.
        log = Path(logs) / f"{escape_text(path.stem)}.txt" if logs is not None else None
        try:
            row = grade_submission(path, zip_path, timeout=timeout, log=log, fast=fast,
                                   sandbox=sandbox, limits=limits)  # fmt: skip
        except Exception as error:  # one row's error, never the batch's
            reason = f"grading failed: {type(error).__name__}: {error}"
            row = _row(path, points, None, "error", reason, 0.0, "bwrap" if sandbox else "none")
        row.update(autograder=grader, shard=f"{k}/{n}")
        with lock:
            if store is not None:
                store.add(row)
            done[0] += 1
            if progress is not None:
                left = (time.monotonic() - start) / done[0] * (len(todo) - done[0])
                detail = f" ({row['reason']})" if row["reason"] else ""
                _show(progress, (
                    f"[{done[0]}/{len(todo)}] {row['student']}: {row['total']:g}/"
                    f"{row['possible']:g} {row['status']}{detail} in {row['seconds']:.0f} s; "
                    f"{_duration(left)} left"
                ))  # fmt: skip
        return row

    if progress is not None:
        part = f" (shard {k}/{n} of {len(submission_files(submissions, func))})" if n > 1 else ""
        again = f", {len(kept)} already graded" if resume else ""
        _show(progress, (
            f"Grading {len(todo)} submission(s){part}{again} with {escape_text(zip_path)} "
            f"({len(points)} questions, {sum(points.values()):g} points, {timeout:g} s each at "
            f"most, {jobs} at a time, {sandbox_description(sandbox)}, "
            f"{'fast' if fast else 'full'} mode)"
        ))  # fmt: skip
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            rows = list(pool.map(grade, todo))
        except BaseException:  # Ctrl-C: start nothing more, stop what runs, then re-raise
            pool.shutdown(wait=False, cancel_futures=True)
            kill_running()
            raise
    if store is None:
        return pd.DataFrame(rows, columns=columns)
    order = {escape_text(p.stem): i for i, p in enumerate(files)}
    final = sorted(store.rows(), key=lambda r: order.get(r["student"], len(order)))
    store.replace(final)
    return pd.read_csv(out, keep_default_na=False, dtype={"student": str, "shard": str})
