"""Child processes of the grader: started in their own session, time-limited, killed whole.

The time limit is counted by :class:`tlcourse.grading.clock.StageClock`: wall-clock time,
except while the machine held the process back from its fair share of the CPU.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tlcourse.grading.clock import StageClock

__all__ = ["ProcessResult", "kill_running", "kill_tree", "run_process"]

# Grading processes running now, so that an interrupted batch (Ctrl-C) can stop them: each runs
# in its own session, out of reach of the terminal's Ctrl-C.
_RUNNING: set[subprocess.Popen] = set()
_WAITING: set[subprocess.Popen] = set()  # started early, waiting for their input: no CPU share
_RUNNING_LOCK = threading.Lock()


@dataclass(frozen=True)
class ProcessResult:
    """How a child process ended: exit status (negative: the signal), killed at the time limit
    or by the watchdog (why), its output's first ``output_limit`` bytes, wall-clock seconds and
    the seconds counted against the time limit (fewer when the machine held it back)."""

    returncode: int
    timed_out: bool
    killed_reason: str
    output: bytes
    seconds: float
    counted: float = 0.0


def kill_tree(process: subprocess.Popen) -> None:
    """Kill a child process, its process group and every descendant (kernels have their own
    session), then reap it.

    Example:
        >>> child = subprocess.Popen(["sleep", "60"], start_new_session=True)
        >>> kill_tree(child)
        >>> child.returncode
        -9
    """
    try:
        import psutil

        children = psutil.Process(process.pid).children(recursive=True)
    except Exception:
        children = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(Exception):
            child.kill()
    process.wait()


def kill_running() -> None:
    """Kill every grading process still running (after Ctrl-C).

    Example:
        >>> kill_running()  # none is running here
    """
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for process in running:
        kill_tree(process)


def _drain(stream, limit: int, into: bytearray) -> None:
    """Read ``stream`` to its end, keeping the first ``limit`` bytes: a submission that prints
    without end fills neither the memory nor the disk of the grader."""
    while chunk := stream.read(65536):
        into += chunk[: max(limit - len(into), 0)]


def run_process(command: Sequence[str], *, cwd: str | os.PathLike, env: dict[str, str],
                timeout: float, output_limit: int = 4 << 20, pass_fds: Sequence[int] = (),
                on_start: Callable[[subprocess.Popen], None] | None = None,
                watchdog: Callable[[int], str] | None = None,
                started: threading.Event | None = None,
                cancel: threading.Event | None = None) -> ProcessResult:  # fmt: skip
    """Run ``command`` in a new session with a time limit (a :class:`StageClock` over the
    processes running through this function at that moment), killing its whole tree at the end.
    With ``started``, the limit counts from when it is set (a stage waiting for its input); with
    ``cancel``, its whole tree is killed once that is set (``killed_reason``: was cancelled).

    Example:
        >>> import sys
        >>> result = run_process([sys.executable, "-c", "print('hi')"], cwd=".", env={},
        ...                      timeout=60)
        >>> result.returncode, result.output.strip()
        (0, b'hi')
    """
    start = time.perf_counter()
    clock = StageClock(timeout)
    process = subprocess.Popen(
        list(command), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True, pass_fds=tuple(pass_fds),
    )  # fmt: skip
    with _RUNNING_LOCK:
        _RUNNING.add(process)
    output = bytearray()
    # A daemon: a process left behind (no sandbox) may hold the pipe open long after.
    reader = threading.Thread(target=_drain, args=(process.stdout, output_limit, output),
                              daemon=True)  # fmt: skip
    reader.start()
    timed_out, reason = False, ""
    try:
        if on_start is not None:
            on_start(process)
        while process.poll() is None:
            if cancel is not None and cancel.is_set():
                reason = "was cancelled"
                break
            waiting = started is not None and not started.is_set()
            if waiting:
                clock = StageClock(timeout)
            with _RUNNING_LOCK:
                (_WAITING.add if waiting else _WAITING.discard)(process)
                stages = len(_RUNNING) - len(_WAITING)
            clock.tick(process.pid, stages)
            if clock.expired:
                timed_out = True
                break
            if watchdog is not None:
                reason = watchdog(process.pid) or ""
                if reason:
                    break
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=min(0.5, max(timeout - clock.seconds, 0.01)))
        if timed_out or reason:
            kill_tree(process)
    except BaseException:
        kill_tree(process)
        raise
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(process)
            _WAITING.discard(process)
        reader.join(timeout=2)
    wall = time.perf_counter() - start
    return ProcessResult(process.returncode, timed_out, reason, bytes(output), wall, clock.seconds)
