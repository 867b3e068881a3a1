"""The sandbox around each graded submission: bubblewrap (``bwrap``) and resource limits.

A command run through :func:`bwrap_command` (bubblewrap, the sandbox Flatpak uses) sees:

- a read-only system: ``/usr`` (and the ``/bin``, ``/lib``... links to it), a few files of
  ``/etc`` (the dynamic linker's cache, fonts, time zone; no ``passwd`` or ``shadow`` of the
  machine), the Python installation, the tlcourse package and its public data, the converted
  pretrained weights; nothing else of the machine (no home folder, no repository, no
  autograder, no hidden test);
- one writable folder, ``/box`` (``/tmp`` points into it), a memory-backed file system of fixed
  size that disappears with the sandbox;
- its own namespaces: no network but its own loopback (``--unshare-net``), its own process ids
  (``--unshare-pid``: it sees only its own processes, and every process left in it is killed
  when the command ends), no way back to the grader's terminal (``--new-session``), and it dies
  with the grader (``--die-with-parent``);
- no capability (``--cap-drop ALL``): it cannot mount, remount, create device nodes or change
  its mounts. Started by an ordinary user, bubblewrap runs it as that user in a user namespace
  of its own, where it may not create another (``--disable-userns``). Started by root, it runs
  as root with only the capabilities it takes to give root up, and the command becomes an
  unprivileged uid first thing (:mod:`tlcourse.grading.privileges`);
- a scrubbed environment (``--clearenv``, then only what :func:`sandbox_environment` sets) and
  a private HOME.

Resource limits (:class:`Limits`) are set by the command itself before it runs anything of the
submission (:func:`apply_limits`), and the grader watches the sandbox's memory from outside.

Where bubblewrap cannot start (Docker's default seccomp profile, as on Gradescope), root grades
in the mode ``"user"`` (:func:`sandbox_mode`): the notebook runs as the slot's unprivileged uid,
with the same limits, in a private folder (:func:`user_folder`), and every process of that uid
is ended after it (:func:`tlcourse.grading.privileges.end_processes`); the system, the network
and the world-writable folders are the machine's own.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tlcourse.errors import check_int, invalid_parameter
from tlcourse.grading.errors import SandboxUnavailableError
from tlcourse.grading.privileges import DROP_CAPABILITIES

__all__ = [
    "BOX", "INSTALL_HINT", "Limits", "apply_limits", "bwrap_command", "bwrap_problem",
    "python_paths", "require_bwrap", "sandbox_environment", "sandbox_mode", "user_folder",
]  # fmt: skip

BOX = "/box"
INSTALL_HINT = (
    "Install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install "
    "bubblewrap; Arch: sudo pacman -S bubblewrap), or pass --no-sandbox (Python: "
    "sandbox=False) to grade without one, only for submissions you trust: they then run with "
    "your permissions, and can read and change your files."
)
# The few files of /etc that Python, TensorFlow and matplotlib read; not passwd, shadow, ssh...
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "nsswitch.conf")
_MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed process tree.

    Example:
        >>> Limits(memory=2 << 30).memory
        2147483648
    """

    memory: int = 8 << 30
    cpu_seconds: int | None = None
    file_size: int = 1 << 30
    processes: int = 1024
    disk: int = 2 << 30
    output: int = 4 * _MIB
    answers: int = 512 * _MIB

    def __post_init__(self) -> None:
        for name in ("memory", "file_size", "processes", "disk", "output", "answers"):
            check_int(name, getattr(self, name), "Limits", low=1)
        check_int("cpu_seconds", self.cpu_seconds, "Limits", low=1, none_ok=True)


def _user_tasks(uid: int) -> int:
    """Processes and threads of ``uid`` now (what ``RLIMIT_NPROC`` is compared with)."""
    import psutil

    count = 0
    for process in psutil.process_iter(["uids", "num_threads"]):
        try:
            if process.info["uids"] and process.info["uids"].real == uid:
                count += process.info["num_threads"] or 1
        except Exception:
            continue
    return count


def rlimits(limits: Limits, timeout: float, uid: int | None = None) -> dict[str, int]:
    """The rlimits a sandboxed command sets on itself, by ``resource`` constant name.

    Example:
        >>> rlimits(Limits(memory=4 << 30), timeout=60)["RLIMIT_AS"]
        4294967296
    """
    cpu = limits.cpu_seconds or int(timeout * (os.cpu_count() or 1)) + 1
    tasks = _user_tasks(os.getuid() if uid is None else uid) + int(limits.processes)
    return {"RLIMIT_AS": int(limits.memory), "RLIMIT_CPU": int(cpu), "RLIMIT_CORE": 0,
            "RLIMIT_FSIZE": int(limits.file_size), "RLIMIT_NPROC": tasks}  # fmt: skip


def apply_limits(limits: dict[str, int]) -> None:
    """Set each rlimit, soft and hard (the limited code cannot raise them again).

    Example:
        >>> apply_limits({})  # nothing to set
    """
    import resource

    for name, value in limits.items():
        constant = getattr(resource, name)
        _, hard = resource.getrlimit(constant)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(constant, (value, value))


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot sandbox a command on this machine, or None when it can.

    Runs ``true`` in a sandbox with the namespaces grading uses (user namespaces must be
    allowed for this user).

    Example:
        >>> bwrap_problem() is None or isinstance(bwrap_problem(), str)
        True
    """
    executable = shutil.which("bwrap")
    if executable is None:
        return "is not installed (no 'bwrap' on the PATH)"
    true = shutil.which("true") or "/usr/bin/true"
    command = [executable, *_isolation(), "--die-with-parent", "--new-session",
               *_system_binds(), "--proc", "/proc", "--dev", "/dev", true]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"cannot start ({type(error).__name__}: {error})"
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        why = message[-1] if message else f"exit status {result.returncode}"
        return (
            f"cannot create a sandbox here ({why}); it needs unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 the bubblewrap package's "
            "AppArmor profile allows them)"
        )
    return None


def _unreadable_by_others() -> str | None:
    """Graded by root, the sandboxed code runs as another user: the first file or folder it
    must read that only its owner may (Python, tlcourse, its data), or None."""
    if os.geteuid() != 0:
        return None
    from tlcourse.paths import data_dir

    package = Path(__file__).resolve().parents[1]
    files = [Path(os.path.realpath(sys.executable)), Path(os.__file__), package / "__init__.py",
             Path(__file__).with_name("worker.py"),
             data_dir() / "imagenet_classes.txt"]  # fmt: skip
    for path in [p for f in files for p in (f.parent, f)]:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        need = 0o005 if path.is_dir() else 0o004
        if mode & need != need:
            return f"{path} (mode {mode & 0o7777:o})"
    return None


def require_bwrap() -> None:
    """Raise :class:`SandboxUnavailableError` with the reason and the fix when bwrap cannot run.

    Example:
        >>> require_bwrap() if bwrap_problem() is None else None
    """
    problem = bwrap_problem()
    if problem is not None:
        raise SandboxUnavailableError(
            f"tlcourse grade runs every submission in a bubblewrap sandbox, and bwrap {problem}. "
            + INSTALL_HINT
        )
    unreadable = _unreadable_by_others()
    if unreadable is not None:
        raise SandboxUnavailableError(
            "tlcourse grade, run as root, runs every submission as an unprivileged user, who "
            f"cannot read {unreadable}: make Python, tlcourse and its data readable by all "
            "users (chmod -R o+rX FOLDER), or grade as an ordinary user."
        )


def sandbox_mode(sandbox, func: str) -> str:
    """``"bwrap"`` (``True``), ``"none"`` (``False``) or ``"user"`` (root only: no bubblewrap,
    the notebook runs as an unprivileged uid; see the module docstring).

    Example:
        >>> sandbox_mode(True, "grade_submission"), sandbox_mode(False, "grade_submission")
        ('bwrap', 'none')
    """
    if sandbox in (True, False):
        return "bwrap" if sandbox else "none"
    if sandbox != "user":
        raise invalid_parameter("sandbox", func, "True, False or 'user'", sandbox)
    python = Path(os.path.realpath(sys.executable))
    closed = [str(p) for p in python.parents if p.is_dir() and p.stat().st_mode & 1 == 0]
    closed = closed or _unreadable_by_others()
    if os.geteuid() != 0 or closed:
        raise invalid_parameter(
            "sandbox", func, "'user' only when root grades and all users may run Python", sandbox,
            f"Running as uid {os.geteuid()}; closed to other users: {closed}.",
        )  # fmt: skip
    return "user"


def user_folder(folder: Path, uid: int, copies: list[tuple[str, str]]) -> None:
    """Mode ``"user"``: let ``uid`` own the stage's ``box/`` (mode 0700), with ``copies``
    (source, destination) made in it; ``folder`` and the one above may be crossed, not listed.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp()) / "stage"
        >>> (folder / "box").mkdir(parents=True)
        >>> user_folder(folder, os.getuid(), [])
        >>> oct((folder / "box").stat().st_mode & 0o777), oct(folder.stat().st_mode & 0o777)
        ('0o700', '0o711')
    """
    for path in (folder.parent, folder):
        path.chmod(0o711)
    for source, destination in copies:
        Path(destination).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    for path in [folder / "box", *(folder / "box").rglob("*")]:
        os.lchown(path, uid, uid)
    (folder / "box").chmod(0o700)


def _isolation() -> list[str]:
    """Namespaces, and no capability left, whoever starts bubblewrap (see the module
    docstring)."""
    if os.geteuid() == 0:
        # --unshare-all without its user namespace: in one, root could not become another
        # uid. The command keeps only what it needs to become its unprivileged uid.
        keep = [arg for capability in DROP_CAPABILITIES for arg in ("--cap-add", capability)]
        return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try", "--cap-drop", "ALL", *keep]  # fmt: skip
    return ["--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in _ETC:
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return args


def python_paths() -> list[Path]:
    """The folders of the Python installation a sandboxed interpreter needs (read-only).

    The interpreter's prefixes (a virtual environment and the Python it was made from), the user
    site folder when it is used, and the folders of ``sys.executable`` and its link target.
    Never the current folder or ``PYTHONPATH`` entries: a repository may hold the autograders.

    Example:
        >>> Path(sys.prefix).resolve() in python_paths() or any(
        ...     p in Path(sys.prefix).resolve().parents for p in python_paths())
        True
    """
    import site

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths |= {os.path.dirname(sys.executable), os.path.dirname(os.path.realpath(sys.executable))}
    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    if user_site and user_site in sys.path and os.path.isdir(user_site):
        paths.add(user_site)
    found = sorted({Path(os.path.realpath(p)) for p in paths if p and os.path.isdir(p)})
    # Nested folders are covered by their parents; /usr is bound anyway.
    return [p for p in found if not any(q != p and q in p.parents for q in found)]


def sandbox_environment(
    *, root: str, tlcourse_parent: str, data_dir: str, cache_dir: str, fast: bool
) -> dict[str, str]:
    """The whole environment of a sandboxed command (nothing of the grader's own).

    Example:
        >>> env = sandbox_environment(root="/box", tlcourse_parent="/src", data_dir="/src/data",
        ...                           cache_dir="/box/cache", fast=True)
        >>> env["HOME"], env["TLCOURSE_FAST"], "AWS_SECRET_ACCESS_KEY" in env
        ('/box/home', '1', False)
    """
    bin_dir = os.path.dirname(sys.executable)
    return {
        "HOME": f"{root}/home", "USER": "student", "LOGNAME": "student",
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
        "TMPDIR": f"{root}/tmp", "PYTHONPATH": tlcourse_parent, "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{root}/home/.config/matplotlib", "JUPYTER_PLATFORM_DIRS": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
        "TLCOURSE_DATA_DIR": data_dir, "TLCOURSE_CACHE_DIR": cache_dir,
        "TLCOURSE_FAST": "1" if fast else "0",
    }  # fmt: skip


def _through_tmp(destination: str) -> str:
    """Where to mount ``destination`` so that it shows at its own path inside: ``/tmp`` inside
    is a symlink into ``/box``, which bubblewrap does not follow when it makes a mount point, so
    a Python installation or a checkout under ``/tmp`` is mounted at its place in ``/box/tmp``.

    Example:
        >>> _through_tmp("/tmp/venv/lib"), _through_tmp("/usr/lib")
        ('/box/tmp/venv/lib', '/usr/lib')
    """
    if destination == "/tmp" or destination.startswith("/tmp/"):
        return BOX + destination
    return destination


def _parents(destinations: list[str]) -> list[str]:
    """The folders above the binds' destinations, outermost first: bubblewrap creates a missing
    one private (0700, root's when root starts it), which the sandbox's unprivileged user could
    not cross to a Python under ``/root/.pyenv``, say; made explicitly, they are world-readable.

    Example:
        >>> _parents(["/root/.pyenv/versions/3.11", "/box/tmp/venv"])
        ['/box', '/root', '/box/tmp', '/root/.pyenv', '/root/.pyenv/versions']
    """
    folders = set()
    for destination in destinations:
        folders.update(str(p) for p in PurePosixPath(destination).parents if str(p) != "/")
    return sorted(folders, key=lambda folder: (folder.count("/"), folder))


def bwrap_command(
    command: list[str], *, read_only: list[tuple[str, str]], env: dict[str, str], chdir: str,
    disk: int, folders: tuple[str, ...] = (),
) -> list[str]:  # fmt: skip
    """Wrap ``command`` in bubblewrap, as the module docstring describes.

    Example:
        >>> cmd = bwrap_command(["true"], read_only=[], env={"A": "1"}, chdir="/box",
        ...                     disk=1 << 20)
        >>> "--cap-drop" in cmd and "--clearenv" in cmd and cmd[-1] == "true"
        True
    """
    args = [shutil.which("bwrap") or "bwrap", *_isolation(), "--die-with-parent",
            "--new-session", "--clearenv", *_system_binds()]  # fmt: skip
    # Writable by the sandbox's user whoever it is (root's uid in the sandbox is not), sticky.
    shared = ["--perms", "1777"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += [*shared, "--size", str(64 * _MIB), "--tmpfs", "/dev/shm"]
    args += [*shared, "--size", str(int(disk)), "--tmpfs", BOX, *shared, "--dir", f"{BOX}/tmp"]
    args += ["--symlink", f"{BOX}/tmp", "/tmp"]
    for folder in folders:
        args += [*shared, "--dir", folder]
    pairs = [(path, path) for path in python_paths()] + list(read_only)
    binds = [(str(source), _through_tmp(str(destination))) for source, destination in pairs]
    for folder in _parents([destination for _, destination in binds]):
        args += ["--perms", "0755", "--dir", folder]
    for source, destination in binds:
        args += ["--ro-bind", source, destination]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return [*args, "--chdir", chdir, "--", *command]
