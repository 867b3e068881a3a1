"""A stage's time limit that a busy machine cannot use up.

The time limit (``--timeout``) is meant for a notebook that never ends, not for one that did not
get the CPU: a neighbour with dozens of busy processes (or anything else on the machine) could
otherwise leave an honest submission waiting until it times out with 0. cgroups give each
sandbox its fair share where they can be made (:mod:`.cgroups`); this clock covers every machine.

Twice a second, :meth:`StageClock.tick` reads from ``/proc/PID/task/TID/schedstat`` how long
the stage's threads ran and how long they were ready to run but waited for a CPU. While the
stage was held back (threads waiting, and less than a quarter of its fair share of the CPU: the
CPUs divided by the stages running) its clock slows down in proportion (at an eighth of that
share, half speed); otherwise it runs at wall-clock speed. A notebook that sleeps forever, or
spins on its own, times out at ``timeout`` as before; a starved one gets the time it lost back,
up to :data:`LONGEST` times the limit in wall-clock time.
"""

from __future__ import annotations

import os
import time

__all__ = ["LONGEST", "StageClock"]

LONGEST = 3.0  # a stage is stopped after this many times its limit, whatever its share
_HELD_BACK = 0.5  # threads waiting for a CPU, on average over a tick, to count as held back
# The share of its fair share a stage is expected to get at the least: a busy machine slows
# every stage a little, and that counts; below this, the clock slows down in proportion.
_FLOOR = 0.25


def _task_times(pids: list[int]) -> dict[int, tuple[int, int]]:
    """``{thread id: (nanoseconds run, nanoseconds waited for a CPU)}`` of every thread."""
    times = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as file:
                    ran, waited = file.read().split()[:2]
                times[int(tid)] = (int(ran), int(waited))
            except (OSError, ValueError):
                continue
    return times


def _tree(pid: int) -> list[int]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.Error:
        return []


class StageClock:
    """The seconds a stage has used of its time limit (see the module docstring).

    Example:
        >>> clock = StageClock(timeout=60)
        >>> clock.tick(os.getpid(), stages=1)
        >>> 0 <= clock.seconds < 60 and not clock.expired
        True
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = float(timeout)
        self.start = self._last = time.perf_counter()
        self.seconds = 0.0
        self._times: dict[int, tuple[int, int]] = {}

    @property
    def wall(self) -> float:
        """Wall-clock seconds since the stage started."""
        return time.perf_counter() - self.start

    @property
    def expired(self) -> bool:
        """The stage used its time, or ran :data:`LONGEST` times its limit."""
        return self.seconds >= self.timeout or self.wall >= self.timeout * LONGEST

    def tick(self, pid: int, stages: int) -> None:
        """Count the time since the last tick for the stage whose process is ``pid``."""
        now = time.perf_counter()
        interval, self._last = now - self._last, now
        times = _task_times(_tree(pid))
        ran = sum(r - self._times.get(t, (0, 0))[0] for t, (r, _) in times.items()) / 1e9
        waited = sum(w - self._times.get(t, (0, 0))[1] for t, (_, w) in times.items()) / 1e9
        self._times = times
        rate = 1.0
        if times and interval > 0:
            fair = (os.cpu_count() or 1) / max(stages, 1)  # CPUs this stage may expect
            got = max(ran, 0.0) / interval
            if waited / interval >= _HELD_BACK and got < fair * _FLOOR:
                rate = got / (fair * _FLOOR)
        self.seconds += interval * rate
