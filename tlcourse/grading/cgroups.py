"""A CPU share and a process count of its own for each sandbox: one cgroup per sandbox.

Linux shares the CPU between sessions (autogroups) and counts processes per user: a submission
that starts dozens of busy processes, each in its own session, takes nearly all the CPU from the
submission graded beside it (``--jobs 2``), which then times out with 0. In its own cgroup a
sandbox is one entity for the scheduler (an equal ``cpu.weight``; ``cpu.shares`` in v1), and
``pids.max`` bounds all its processes and threads together.

:func:`cgroup_support` finds the ``cpu`` and ``pids`` controllers where the grader may create
cgroups (as root, or in a v2 subtree delegated to its user), in v2, v1 or split between them (a
"hybrid" machine); elsewhere it says why not and grading goes on without (see the threat model).
A process joins its group before it starts anything (:meth:`SandboxGroup.wrap`: a shell writes
its own pid into the group, then ``exec``\\ s the sandbox), so nothing it starts escapes.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import itertools
import os
import shlex
import signal
import time
from pathlib import Path

__all__ = ["SandboxGroup", "cgroup_support", "sandbox_group"]

_CONTROLLERS = ("cpu", "pids")
_names = itertools.count()

# Where groups using one controller are created: a folder of a cgroup hierarchy.
_Place = collections.namedtuple("_Place", ["version", "base"])


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """``(mount root, mount point, fstype, options)`` of every cgroup file system."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        for line in mountinfo:
            fields, _, rest = line.partition(" - ")
            parts, tail = fields.split(), rest.split()
            if len(parts) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
                found.append((parts[3], parts[4], tail[0], set(tail[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup per controller ("" for the cgroup v2 line)."""
    paths = {}
    with open("/proc/self/cgroup", encoding="utf-8") as cgroup:
        for line in cgroup:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


def _candidates(root: str, point: str, own: str) -> list[Path]:
    """Folders to create groups in: the hierarchy's top as this process sees it, then its own
    cgroup (a delegated subtree)."""
    top = Path(point)
    relative = os.path.relpath(own, root) if own.startswith(root) else None
    mine = top / relative if relative not in (None, ".") else None
    return [top] + ([mine] if mine is not None and mine != top else [])


def _usable(folder: Path, version: int, controllers: list[str]) -> bool:
    """Whether a group created in ``folder`` would have ``controllers`` (creates nothing)."""
    if not os.access(folder, os.W_OK):
        return False
    if version == 1:
        return True
    enabled = (folder / "cgroup.subtree_control").read_text().split()
    missing = [c for c in controllers if c not in enabled]
    try:  # allowed at the top, or in a subtree without processes of its own
        if missing:
            (folder / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
    except OSError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def cgroup_support() -> tuple[dict[str, _Place], str]:
    """Where sandbox cgroups can be made here, and a one-line description.

    Example:
        >>> places, description = cgroup_support()
        >>> set(places) <= {"cpu", "pids"} and isinstance(description, str)
        True
    """
    try:
        mounts, own = _mounts(), _own_paths()
    except OSError as error:
        return {}, f"no cgroups (cannot read /proc: {error})"
    places: dict[str, _Place] = {}
    for root, point, fstype, options in mounts:
        if fstype == "cgroup2":
            try:
                available = (Path(point) / "cgroup.controllers").read_text().split()
            except OSError:
                continue
            wanted = [c for c in _CONTROLLERS if c in available and c not in places]
            version, own_path = 2, own.get("", "/")
        else:
            wanted = [c for c in _CONTROLLERS if c in options and c not in places]
            version, own_path = 1, own.get(wanted[0], "/") if wanted else "/"
        for folder in _candidates(root, point, own_path) if wanted else []:
            try:
                if _usable(folder, version, wanted):
                    places.update({c: _Place(version, folder) for c in wanted})
                    break
            except OSError:
                continue
    if not places:
        why = "not root, and no cgroup v2 subtree delegated to this user" if os.geteuid() else (
            "no writable cgroup file system")  # fmt: skip
        return {}, f"no cgroups ({why})"
    described = ", ".join(f"{c} (v{places[c].version})" for c in _CONTROLLERS if c in places)
    missing = [c for c in _CONTROLLERS if c not in places]
    return places, f"cgroups: {described}" + (f"; no {', '.join(missing)}" if missing else "")


class SandboxGroup:
    """The cgroups of one sandbox (one folder per hierarchy), created and removed with it."""

    def __init__(self, places: dict[str, _Place], processes: int) -> None:
        name = f"tlcourse-grade-{os.getpid()}-{next(_names)}"
        self.folders: dict[Path, int] = {}  # folder: cgroup version
        try:
            for controller, place in places.items():
                folder = place.base / name
                if folder not in self.folders:
                    folder.mkdir()
                    self.folders[folder] = place.version
                if controller == "pids":
                    (folder / "pids.max").write_text(str(int(processes)))
                # cpu: the default weight (100; v1: 1024 shares), equal for every sandbox. The
                # grouping is what makes the share fair: one entity however many processes.
        except OSError:
            self.remove()
            raise

    def wrap(self, command: list[str]) -> list[str]:
        """``command`` started by a shell that first moves itself into the groups."""
        files = [shlex.quote(str(folder / "cgroup.procs")) for folder in self.folders]
        joins = " && ".join(f"echo 0 > {file}" for file in files)
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh", *command]

    def _pids(self) -> set[int]:
        pids = set()
        for folder in self.folders:
            with contextlib.suppress(OSError, ValueError):
                pids |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
        return pids

    def remove(self) -> None:
        """Kill whatever is left in the groups, then remove them (a few tries: dying
        processes leave their group a moment after the signal)."""
        for attempt in range(40):
            for pid in self._pids():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            for folder in list(self.folders):
                try:
                    folder.rmdir()
                    del self.folders[folder]
                except FileNotFoundError:
                    del self.folders[folder]
                except OSError:
                    continue
            if not self.folders:
                return
            time.sleep(0.05 * (1 + attempt // 10))


def sandbox_group(processes: int) -> SandboxGroup | None:
    """A new group for one sandbox, or None where cgroups cannot be made here."""
    places, _ = cgroup_support()
    if not places:
        return None
    try:
        return SandboxGroup(places, processes)
    except OSError:  # a hierarchy that refused this group: grade without
        return None
