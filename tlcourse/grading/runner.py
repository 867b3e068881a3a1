"""The two stages of grading one submission, each a fresh process in a sandbox of its own.

:func:`run_worker` runs the submission (:mod:`tlcourse.grading.worker`) seeing only the notebook
and the public data, and receives its answers as a zip on a pipe; :func:`start_checker` runs the
tests (:mod:`tlcourse.grading.checker`) against them, started beside the worker. Each stage runs
in its own cgroup where one can be made, as an unprivileged uid when graded by root; what it sends
is read as untrusted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tlcourse.grading.archive import MAX_MEMBERS, MEMBER_RE, zip_problem
from tlcourse.grading.cgroups import sandbox_group
from tlcourse.grading.checker import read_specs
from tlcourse.grading.errors import SandboxUnavailableError
from tlcourse.grading.privileges import end_processes
from tlcourse.grading.processes import ProcessResult, run_process
from tlcourse.grading.sandbox import (
    BOX,
    Limits,
    bwrap_command,
    rlimits,
    sandbox_environment,
    user_folder,
)

__all__ = ["Stage", "run_worker", "start_checker", "unpack_answers"]

_REPORT_BYTES = 1 << 20
# A directory entry is 46 bytes plus its name (at most 79 here) and extras.
_MAX_DIRECTORY_BYTES = MAX_MEMBERS * 256


@dataclass
class Stage:
    """What one stage left: its process, the bytes it sent on its pipe, and whether they fit."""

    process: ProcessResult
    sent: Path
    overflow: bool = False
    notes: list[str] = field(default_factory=list)


def _package_paths() -> tuple[Path, Path, Path]:
    from tlcourse.paths import cache_dir, data_dir

    package = Path(__file__).resolve().parents[1]
    return package, data_dir().resolve(), cache_dir() / "weights"


def _weights_binds(weights: Path, inside: str, others: bool) -> list[tuple[str, str]]:
    """The converted weights, read-only, file by file: missing ones can still be made inside.
    With ``others`` (the sandbox runs as another user), only files all users may read."""
    if not weights.is_dir():
        return []
    return [
        (str(path), f"{inside}/{path.relative_to(weights).as_posix()}")
        for path in sorted(weights.rglob("*"))
        if path.is_file() and not path.is_symlink() and (not others or path.stat().st_mode & 4)
    ]


def _readable_by_all(folder: Path) -> None:
    """Let the sandbox's own user read the stage's inputs, whatever the grader's umask: the
    grader's private temporary folder around them keeps them from the machine's other users."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


def _receive(fd: int, target: Path, limit: int, state: dict) -> None:
    """Copy the pipe into ``target`` up to ``limit`` bytes, then drain it (never block the
    sender, never fill the grader's disk)."""
    written = 0
    with os.fdopen(fd, "rb") as pipe, open(target, "wb") as out:
        while chunk := pipe.read(1 << 16):
            if written + len(chunk) > limit:
                state["overflow"] = True
                continue
            out.write(chunk)
            written += len(chunk)


def _watchdog(limits: Limits):
    """Kill the sandbox when its processes together hold too much memory, or are too many.

    Memory: ``RLIMIT_AS`` bounds each process, this bounds their sum. Processes: ``RLIMIT_NPROC``
    does not apply to root (the kernel exempts uid 0 even in a user namespace), so a sandbox
    started by root is held to ``limits.processes`` from here, twice a second.
    """

    def check(pid: int) -> str:
        import psutil

        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return ""
        memory = tasks = 0
        for process in tree:
            try:
                memory += process.memory_info().rss
                tasks += process.num_threads()
            except psutil.Error:
                continue
        if memory > limits.memory:
            return f"used more than {limits.memory / (1 << 30):.3g} GiB of memory"
        if tasks > limits.processes:
            return f"started more than {limits.processes} processes and threads"
        return ""

    return check


def _run_stage(
    module: str, job: dict, *, folder: Path, sandbox: bool, fast: bool, timeout: float,
    limits: Limits, send_limit: int, disk: int, uid: int | None, go: tuple | None = None,
) -> Stage:  # fmt: skip
    """Run ``python -P -m MODULE JOB`` (in bubblewrap when ``sandbox``), with a pipe out.

    The stage's inputs are in ``folder/in`` (the sandbox sees that folder, read-only, as
    ``/grading``); job values starting with ``IN/`` are paths in it. ``uid``: the user the
    command becomes first thing (graded by root), or None; without ``sandbox``, the mode
    ``"user"`` of :mod:`tlcourse.grading.sandbox`. ``go``: ``(read end, event, cancel)`` for a
    stage started early: the pipe it waits on, the event its time limit counts from, and the
    event that kills its whole tree (its input will never come).
    """
    package, data, cache = _package_paths()
    root = BOX if sandbox else str(folder / "box")
    inputs = "/grading" if sandbox else str(folder / "in")
    env = sandbox_environment(
        root=root, tlcourse_parent=str(package.parent), data_dir=str(data),
        cache_dir=f"{root}/cache" if sandbox or uid else str(cache.parent), fast=fast,
    )  # fmt: skip
    read_fd, write_fd = os.pipe()
    passed = (write_fd, go[0]) if go else (write_fd,)
    job = {
        key: (value.replace("IN/", f"{inputs}/", 1) if isinstance(value, str) else value)
        for key, value in {
            **job, "fd": write_fd, "uid": uid, "limits": rlimits(limits, timeout, uid)
        }.items()
    }  # fmt: skip
    if module.endswith(".worker"):
        job.update(workdir=f"{root}/work", answers=f"{root}/answers")
    (folder / "in" / "job.json").write_text(json.dumps(job), encoding="utf-8")
    python = [sys.executable, "-P", "-m", module, f"{inputs}/job.json"]
    if uid is not None:
        _readable_by_all(folder / "in")
    if sandbox:
        binds = [(str(package), str(package)), (str(data), str(data)),
                 (str(folder / "in"), "/grading"),
                 *_weights_binds(cache, f"{BOX}/cache/weights", uid is not None)]  # fmt: skip
        command = bwrap_command(
            python, read_only=binds, env=env, chdir=BOX, disk=disk,
            folders=(f"{BOX}/home", f"{BOX}/cache"),
        )  # fmt: skip
        cwd = folder
    else:
        for name in ("home", "tmp", "work", "cache"):
            (folder / "box" / name).mkdir(parents=True, exist_ok=True)
        if uid is not None:
            user_folder(folder, uid, _weights_binds(cache, f"{root}/cache/weights", True))
        command, cwd = python, folder / "box"
    group = sandbox_group(limits.processes)
    if group is not None:
        command = group.wrap(command)
    sent, state = folder / "sent.bin", {"overflow": False}
    receiver = threading.Thread(target=_receive, args=(read_fd, sent, send_limit, state))
    receiver.start()
    closed = []

    def close_write_end(_=None) -> None:
        # Exactly once: with several submissions graded at once, a second close could hit
        # another stage's pipe that reused the number.
        if not closed:
            closed.append(True)
            for fd in passed:
                os.close(fd)

    try:
        result = run_process(
            command, cwd=cwd, env=env, timeout=timeout, output_limit=limits.output,
            pass_fds=passed, watchdog=_watchdog(limits), on_start=close_write_end,
            started=go[1] if go else None, cancel=go[2] if go else None,
        )  # fmt: skip
    finally:
        left = end_processes(uid) if uid is not None and not sandbox else ""
        close_write_end()
        receiver.join()
        if group is not None:
            group.remove()
    if left:
        raise SandboxUnavailableError(left)
    return Stage(process=result, sent=sent, overflow=state["overflow"])


def run_worker(
    notebook: Path, questions: dict, folder: Path, *, sandbox: bool, fast: bool,
    timeout: float, limits: Limits, uid: int | None = None,
) -> Stage:  # fmt: skip
    """Run the submission ``notebook`` in the worker; ``Stage.sent`` is its answers zip.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "garbage.ipynb").write_text("not a notebook")
        >>> stage = run_worker(folder / "garbage.ipynb", {}, folder / "stage", sandbox=False,
        ...                    fast=True, timeout=300, limits=Limits())
        >>> unpack_answers(stage.sent, folder / "answers", 1 << 20)["failure"][:23]
        'not a readable notebook'
    """
    (folder / "in").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(notebook, folder / "in" / notebook.name)
    job = {"notebook": f"IN/{notebook.name}", "fast": bool(fast), "questions": questions}
    return _run_stage(
        "tlcourse.grading.worker", job, folder=folder, sandbox=sandbox, fast=fast,
        timeout=timeout, limits=limits, send_limit=limits.answers, disk=limits.disk, uid=uid,
    )  # fmt: skip


def unpack_answers(sent: Path, target: Path, limit: int) -> dict:
    """Check and unpack the worker's zip into ``target``; return the worker's report.

    Before the zip is opened, its last bytes must show at most :data:`MAX_MEMBERS` members
    (:func:`tlcourse.grading.archive.zip_problem`). Then only the expected file names are taken
    (``report.json``, ``QUESTION/answers.json``, ``QUESTION/vN.npy`` or ``.keras``), stored
    uncompressed as the worker writes them, each read with a size cap (its declared size
    first); anything else in the zip is ignored, and a zip that cannot be read means nothing
    was exported.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> with zipfile.ZipFile(folder / "sent.zip", "w") as archive:
        ...     archive.writestr("report.json", '{"errors": []}')
        ...     archive.writestr("../../outside.txt", "ignored")
        >>> unpack_answers(folder / "sent.zip", folder / "answers", 1 << 20)
        {'errors': []}
    """
    report = {"failure": "the submission exported nothing (the sandbox sent no answers)"}
    problem = zip_problem(sent, max_members=MAX_MEMBERS, max_directory_bytes=_MAX_DIRECTORY_BYTES)
    if problem:
        return report if "not a zip" in problem or "cannot be read" in problem else {
            "failure": f"the answers were refused: {problem}"}  # fmt: skip
    try:
        archive = zipfile.ZipFile(sent)
    except (OSError, zipfile.BadZipFile):
        return report
    total, seen = 0, set()
    with archive:
        for info in archive.infolist():
            name = info.filename
            if info.is_dir() or not MEMBER_RE.fullmatch(name) or name in seen:
                continue  # the first of two members with one name is the worker's
            if info.compress_type != zipfile.ZIP_STORED:
                return {"failure": "the answers were refused: a compressed member"}
            seen.add(name)
            cap = _REPORT_BYTES if name == "report.json" else limit - total
            if info.file_size > cap:
                return {"failure": f"the answers are over {limit >> 20} MiB"}
            try:
                with archive.open(info) as member:
                    data = member.read(cap + 1)
            except (OSError, zipfile.BadZipFile, ValueError):
                return {"failure": "the answers were refused: an unreadable member"}
            if len(data) > cap:
                return {"failure": f"the answers are over {limit >> 20} MiB"}
            total += len(data)
            if name == "report.json":
                try:
                    report = json.loads(data.decode("utf-8"))
                except (UnicodeDecodeError, ValueError, RecursionError):
                    return {"failure": "the worker's report is unreadable"}
                continue
            path = target / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return report if isinstance(report, dict) else {"failure": "the report is not an object"}


def start_checker(
    autograder: Path, folder: Path, *, sandbox: bool, fast: bool, timeout: float,
    limits: Limits, uid: int | None = None,
) -> Callable[[Path | None], Stage | None]:  # fmt: skip
    """Start the checker now, before the answers exist; return ``check(answers)``, which moves
    the unpacked ``answers`` in and returns the checker's :class:`Stage` (``None``: no answers,
    it is killed whole, its sandbox with it, wherever its imports are).

    A lone submission's seconds: the checker imports TensorFlow and the modules its tests read
    while the worker runs the notebook, then waits for one byte on a pipe (its time limit counts
    from then). ``check`` may be called again: it does nothing more.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> test = {"name": "q1", "points": 1, "suites": [{"cases": [
        ...     {"code": ">>> assert x == 42", "hidden": True}]}]}
        >>> with zipfile.ZipFile(folder / "a.zip", "w") as archive:
        ...     archive.writestr("tests/q1.py", f"OK_FORMAT = True\\ntest = {test!r}\\n")
        >>> (folder / "answers" / "q1").mkdir(parents=True)
        >>> from tlcourse.grading.answers import export_answers
        >>> _ = export_answers({"x": 42}, {"x": []}, str(folder / "answers" / "q1"))
        >>> check = start_checker(folder / "a.zip", folder / "stage", sandbox=False, fast=True,
        ...                       timeout=300, limits=Limits())
        >>> stage = check(folder / "answers")  # as soon as the worker exported them
        >>> json.loads(stage.sent.read_text())["scores"]
        {'q1': 1.0}
    """
    (folder / "in").mkdir(parents=True, exist_ok=True)
    if not sandbox:  # root's alone: in mode "user" the student's uid may cross the folder above
        folder.chmod(0o700)
    shutil.copyfile(autograder, folder / "in" / "autograder.zip")
    # Read by otter here, where it is loaded: the checker then runs them without importing it.
    if specs := read_specs(autograder):
        (folder / "in" / "tests.json").write_text(json.dumps(specs), encoding="utf-8")
    tests = "IN/tests.json" if specs else "IN/autograder.zip"
    go_read, go_write = os.pipe()
    given, cancel, ended = threading.Event(), threading.Event(), {}
    job = {"autograder": tests, "answers": "IN/answers", "fast": bool(fast), "go": go_read}

    def run() -> None:
        try:
            ended["stage"] = _run_stage(
                "tlcourse.grading.checker", job, folder=folder, sandbox=sandbox, fast=fast,
                timeout=timeout, limits=limits, send_limit=_REPORT_BYTES * 16,
                disk=min(limits.disk, 1 << 30), uid=uid if sandbox else None,  # else root's
                go=(go_read, given, cancel),
            )  # fmt: skip
        except BaseException as error:  # raised by check(), in the grader's thread
            ended["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def check(answers: Path | None) -> Stage | None:
        if not given.is_set():
            if answers is not None:
                shutil.move(str(answers), folder / "in" / "answers")
                if uid is not None and sandbox:
                    _readable_by_all(folder / "in")
                with contextlib.suppress(OSError):  # a checker that ended early: its report says
                    os.write(go_write, b"1")
            else:  # killed before it reads the pipe's end: no import finishes for nothing
                cancel.set()
            given.set()
            thread.join()
            os.close(go_write)
            if "error" in ended:
                raise ended["error"]
        return ended.get("stage") if answers is not None else None

    return check
