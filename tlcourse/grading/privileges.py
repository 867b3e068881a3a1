"""Who the sandboxed code runs as: never root, and one user id per sandbox graded at once.

bubblewrap started by root keeps every capability inside the sandbox, and uid 0 inside is the
real uid 0: one ``mount(2)`` call (through ``ctypes``) remounts the read-only folders read-write.
So when the grader runs as root, bubblewrap gets only the three capabilities it takes to give up
root (``--cap-drop ALL --cap-add`` :data:`DROP_CAPABILITIES`), and the worker or checker calls
:func:`drop_privileges` before it reads anything the submission wrote: it becomes the real,
unprivileged uid of its sandbox slot (:func:`slot_uid`), with no group, no capability in any
set (bounding set included) and ``no_new_privs``, and checks that nothing is left. The
student's kernel is its child. Files of root's stay root's: the mounts are read-only and their
files are not the slot's to write anyway. Without bubblewrap (mode ``"user"``), nothing ends the
processes a submission leaves behind but :func:`end_processes` (all of the slot's uid at once).

Each sandbox graded at the same time on the machine has a uid of its own (:func:`sandbox_slot`),
outside the ranges given to people (below 60000), system services and systemd's containers: the
process limit (``RLIMIT_NPROC``) counts per uid, and one submission must not use up its
neighbour's.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import itertools
import os
import signal
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["DROP_CAPABILITIES", "drop_privileges", "end_processes", "keep_from_children",
           "sandbox_slot", "slot_uid"]  # fmt: skip

DROP_CAPABILITIES = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")
_FIRST_UID = 2_147_000_000  # under 2**31: every tool reads it as a positive int
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_CAPABILITY_SETS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def _slot_folder() -> Path:
    """Where the slot locks live: one folder per grading user, machine-wide, only theirs."""
    base = "/run" if os.geteuid() == 0 and os.access("/run", os.W_OK) else tempfile.gettempdir()
    folder = Path(base) / f"tlcourse-slots-{os.geteuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise PermissionError(f"{folder} must be a folder of uid {os.geteuid()}'s only (0700)")
    return folder


@contextlib.contextmanager
def sandbox_slot() -> Iterator[int]:
    """The lowest slot free on this machine, held while the block runs.

    A lock file per slot (``flock``): two grading processes (``--jobs``, Slurm tasks on one
    node, test workers) never share a slot, a uid, a process limit or an :func:`end_processes`.

    Example:
        >>> with sandbox_slot() as first, sandbox_slot() as second:
        ...     first != second
        True
    """
    folder = _slot_folder()
    for slot in itertools.count():
        handle = open(folder / f"{slot}.lock", "a")  # noqa: SIM115 (held until the block ends)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield slot
        finally:
            handle.close()  # releases the lock
        return


def slot_uid(slot: int) -> int:
    """The unprivileged uid (and gid) that sandbox slot ``slot`` runs as when graded by root.

    Example:
        >>> slot_uid(1) - slot_uid(0)
        1
    """
    return _FIRST_UID + int(slot)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]  # fmt: skip


def _capabilities() -> dict[str, int]:
    with open("/proc/self/status", encoding="utf-8") as status:  # a codec already loaded
        fields = dict(line.split(":", 1) for line in status if line.startswith("Cap"))
    return {name: int(fields[name], 16) for name in _CAPABILITY_SETS if name in fields}


def drop_privileges(uid: int) -> None:
    """Become ``uid`` (gid ``uid``, no supplementary group) for good, with no capability left.

    Needs :data:`DROP_CAPABILITIES`. Run by the worker and the checker inside the sandbox,
    before anything of the submission is read or run.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in range(64):  # the bounding set: past the last one, EINVAL is harmless
        libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # clears the permitted and effective sets
    none = (_CapData * 2)()
    libc.capset(ctypes.byref(_CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)), none)
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    left = {name: value for name, value in _capabilities().items() if value}
    if os.getresuid() != (uid,) * 3 or os.getresgid() != (uid,) * 3 or os.getgroups() or left:
        raise RuntimeError(f"could not drop root: uids {os.getresuid()}, gids {os.getresgid()}, "
                           f"groups {os.getgroups()}, capabilities {left}")  # fmt: skip


def keep_from_children() -> None:
    """Keep this process's memory and file descriptors from the processes it starts.

    The worker holds the pipe its report goes to; the student's kernel, its child, runs as the
    same user. A process that is not dumpable has its ``/proc/PID`` files (``fd/``, ``mem``)
    owned by root and cannot be traced: the kernel can neither write that pipe nor the
    worker's memory (it can still kill the worker, whose exit status the grader requires).
    """
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def end_processes(uid: int) -> str:
    """Kill every process of ``uid`` (root only): ``""`` once none is left, else what is.

    ``kill(-1)`` sent by a process of that uid (a child that runs no program) reaches all the
    others at once: the kernel holds off their forks meanwhile. Zombies are already dead.

    Example:
        >>> end_processes(slot_uid(99)) if os.geteuid() == 0 else ""
        ''
    """
    import psutil

    left = []
    for _ in range(5):
        child = os.fork()
        if child == 0:
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        left = [
            p.pid for p in psutil.process_iter(["uids", "status"])
            if p.info["uids"] and uid in p.info["uids"] and p.info["status"] != "zombie"
        ]  # fmt: skip
        if not left:
            return ""
    return f"processes {left[:10]} of uid {uid} outlived the submission"
