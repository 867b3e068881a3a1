"""The sandbox and its limits, piece by piece (tlcourse.grading.sandbox, runner, processes)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest

from tlcourse.cli import main
from tlcourse.errors import InvalidParameterError
from tlcourse.grading import Limits, SandboxUnavailableError, bwrap_problem, grade_folder
from tlcourse.grading import sandbox as sandbox_module
from tlcourse.grading.privileges import DROP_CAPABILITIES
from tlcourse.grading.processes import run_process
from tlcourse.grading.runner import _watchdog
from tlcourse.grading.sandbox import bwrap_command, python_paths, rlimits, sandbox_environment

needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=f"bwrap: {bwrap_problem()}")


@pytest.fixture
def no_bwrap(monkeypatch):
    """A machine without bubblewrap."""
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None)
    sandbox_module.bwrap_problem.cache_clear()
    yield
    sandbox_module.bwrap_problem.cache_clear()


def test_grading_refuses_without_bwrap_and_says_how_to_install_it(no_bwrap, tmp_path, capsys):
    (tmp_path / "alice.ipynb").write_text("{}")
    autograder = tmp_path / "a.zip"
    import zipfile

    with zipfile.ZipFile(autograder, "w") as archive:
        test = {"name": "q1", "points": 1, "suites": [{"cases": [{"code": ">>> x", "hidden": 0}]}]}
        archive.writestr("tests/q1.py", f"OK_FORMAT = True\ntest = {test!r}\n")
    with pytest.raises(SandboxUnavailableError, match="apt-get install bubblewrap") as error:
        grade_folder(tmp_path, autograder, progress=None)
    assert "bwrap is not installed" in str(error.value) and "--no-sandbox" in str(error.value)
    code = main(["grade", str(tmp_path), "--autograder", str(autograder)])
    captured = capsys.readouterr()
    assert code == 2 and "Traceback" not in captured.err
    assert captured.err.startswith("tlcourse grade: error: tlcourse grade runs every submission")


def test_limits_are_checked():
    assert Limits().memory == 8 << 30
    with pytest.raises(InvalidParameterError, match="'memory' parameter of Limits"):
        Limits(memory=0)
    with pytest.raises(InvalidParameterError, match="'cpu_seconds'"):
        Limits(cpu_seconds=1.5)


@pytest.mark.parametrize("uid", [0, 1000], ids=["started by root", "started by a user"])
def test_the_sandbox_keeps_no_capability_whoever_starts_it(monkeypatch, uid):
    monkeypatch.setattr(sandbox_module.os, "geteuid", lambda: uid)
    command = bwrap_command(["python"], read_only=[("/opt/venv", "/root/.pyenv/versions/3")],
                            env={}, chdir="/box", disk=1 << 20)  # fmt: skip
    assert command[command.index("--cap-drop") + 1] == "ALL"
    kept = [command[i + 1] for i, arg in enumerate(command) if arg == "--cap-add"]
    if uid == 0:  # only what the worker needs to become its unprivileged uid, then drops
        assert kept == list(DROP_CAPABILITIES)
        assert {"--unshare-net", "--unshare-pid", "--unshare-ipc"} <= set(command)
        assert "--unshare-user" not in command, "root could not leave uid 0 in one"
    else:
        assert kept == [] and {"--unshare-all", "--unshare-user", "--disable-userns"} <= set(
            command
        )
    # Folders above a bind are made world-readable: bubblewrap's own would be mode 0700.
    joined = " ".join(command)
    for folder in ("/root", "/root/.pyenv", "/root/.pyenv/versions"):
        assert f"--perms 0755 --dir {folder} " in joined


def test_the_sandbox_sees_only_what_it_needs(tmp_path):
    command = bwrap_command(
        ["python"], read_only=[(str(tmp_path), "/grading")], env={"HOME": "/box/home"},
        chdir="/box", disk=1 << 20,
    )  # fmt: skip
    joined = " ".join(command)
    for flag in ("--die-with-parent", "--new-session", "--clearenv", "--cap-drop"):
        assert flag in command
    assert "--unshare-all" in command or {"--unshare-net", "--unshare-pid"} <= set(command)
    assert "--ro-bind / /" not in joined and "--bind " not in joined, "no writable host path"
    assert f"--ro-bind {tmp_path} /grading" in joined
    assert "/etc/shadow" not in joined and "/etc/passwd" not in joined
    assert all("/home" not in str(p) for p in python_paths() if not str(p).startswith(sys.prefix))
    env = sandbox_environment(root="/box", tlcourse_parent="/src", data_dir="/d",
                              cache_dir="/box/cache", fast=False)  # fmt: skip
    assert env["TLCOURSE_FAST"] == "0" and set(env) >= {"HOME", "PATH", "TMPDIR"}


def test_rlimits_bound_memory_cpu_files_and_processes():
    limits = rlimits(Limits(memory=1 << 30, file_size=1 << 20, processes=10), timeout=5)
    assert limits["RLIMIT_AS"] == 1 << 30 and limits["RLIMIT_FSIZE"] == 1 << 20
    assert limits["RLIMIT_CPU"] >= 5 and limits["RLIMIT_CORE"] == 0
    assert limits["RLIMIT_NPROC"] > 10  # the user's own tasks plus 10


def _python(code: str, limits: dict) -> list[str]:
    prelude = f"from tlcourse.grading.sandbox import apply_limits\napply_limits({limits!r})\n"
    return [sys.executable, "-c", prelude + textwrap.dedent(code)]


def test_apply_limits_stops_memory_cpu_and_file_size(tmp_path):
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    memory = run_process(
        _python("try:\n    bytearray(8 << 30)\nexcept MemoryError:\n    print('refused')",
                {"RLIMIT_AS": 4 << 30}),
        cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert b"refused" in memory.output, memory.output[-500:]
    spin = (  # two CPU seconds more than importing tlcourse took
        "import resource\nfrom tlcourse.grading.sandbox import apply_limits\n"
        "used = resource.getrusage(resource.RUSAGE_SELF)\n"
        "apply_limits({'RLIMIT_CPU': int(used.ru_utime + used.ru_stime) + 2})\n"
        "while True:\n    pass"
    )
    cpu = run_process([sys.executable, "-c", spin], cwd=tmp_path, env=env, timeout=120)
    assert cpu.returncode < 0 and not cpu.timed_out, "killed by SIGXCPU, before the time limit"
    files = run_process(
        _python("try:\n    open('big', 'wb').write(b'0' * (2 << 20))\nexcept OSError as e:\n"
                "    print('refused', e.errno)", {"RLIMIT_FSIZE": 1 << 20}),
        cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert b"refused 27" in files.output  # EFBIG
    assert (tmp_path / "big").stat().st_size <= 1 << 20


def test_watchdog_stops_a_tree_over_its_memory_or_process_budget(tmp_path):
    hog = [sys.executable, "-c", "import time\nx = bytearray(300 << 20)\nx[::4096] = b'1' * "
           "len(x[::4096])\ntime.sleep(60)"]  # fmt: skip
    start = time.perf_counter()
    result = run_process(hog, cwd=tmp_path, env={}, timeout=120,
                         watchdog=_watchdog(Limits(memory=200 << 20)))  # fmt: skip
    assert "memory" in result.killed_reason and time.perf_counter() - start < 60
    spawner = [
        sys.executable,
        "-c",
        "import subprocess, time\n"
        "ps = [subprocess.Popen(['sleep', '30']) for _ in range(40)]\ntime.sleep(60)",
    ]
    result = run_process(spawner, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, timeout=120,
                         watchdog=_watchdog(Limits(processes=20)))  # fmt: skip
    assert "processes" in result.killed_reason


def test_process_output_is_bounded(tmp_path):
    noisy = [
        sys.executable,
        "-c",
        "import os\nfor _ in range(64):\n    os.write(1, b'y' * (1 << 20))",
    ]
    result = run_process(noisy, cwd=tmp_path, env={}, timeout=120, output_limit=1 << 20)
    assert result.returncode == 0 and len(result.output) == 1 << 20


@needs_bwrap
def test_inside_bwrap_no_network_no_host_files_no_surviving_process(tmp_path, monkeypatch):
    import subprocess

    import psutil

    monkeypatch.setenv("INSTRUCTOR_TOKEN", "secret")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    code = textwrap.dedent(f"""
        import os, socket, subprocess
        subprocess.Popen(["sleep", "777.25"], start_new_session=True)
        try:
            open({str(secret)!r}).read(); print("READ")
        except OSError:
            print("no file")
        try:
            socket.create_connection(("1.1.1.1", 443), timeout=2); print("ONLINE")
        except OSError:
            print("no network")
        try:
            open("/usr/x", "w"); print("WROTE")
        except OSError:
            print("read-only")
        print(sorted(os.environ))
    """)
    command = bwrap_command([sys.executable, "-c", code], read_only=[], chdir="/box",
                            env={"PATH": "/usr/bin:/bin"}, disk=1 << 20)  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines()[:3] == ["no file", "no network", "read-only"], result
    variables = set(eval(result.stdout.splitlines()[3]))  # the names of the variables only
    assert variables <= {"PATH", "PWD", "LC_CTYPE"}, "only what the grader set (and Python's own)"
    time.sleep(0.5)
    left = [p for p in psutil.process_iter(["cmdline"]) if "777.25" in (p.info["cmdline"] or [])]
    assert left == [], "a detached process survived the sandbox"


@needs_bwrap
def test_a_host_folder_under_tmp_is_mounted_at_its_own_path(tmp_path):
    # Regression: /tmp inside is a symlink into /box, and bubblewrap refused to mount a path
    # under it ("Can't mkdir parents"): a virtual environment or a clone under /tmp (pytest's
    # tmp_path is one) could not be graded at all.
    import subprocess

    assert str(tmp_path).startswith("/tmp/"), tmp_path
    (tmp_path / "answer.txt").write_text("42")
    code = f"print(open({str(tmp_path / 'answer.txt')!r}).read())"
    command = bwrap_command([sys.executable, "-c", code],
                            read_only=[(str(tmp_path), str(tmp_path))], env={"HOME": "/box"},
                            chdir="/box", disk=1 << 20)  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"


def test_a_stage_started_early_counts_its_time_limit_from_its_input(tmp_path):
    """The checker starts while the worker runs: waiting for the answers is not its time."""
    import threading

    given = threading.Event()
    threading.Timer(2.5, given.set).start()
    sleeper = [sys.executable, "-c", "import time; time.sleep(3)"]
    waited = run_process(sleeper, cwd=tmp_path, env={}, timeout=2, started=given)
    assert waited.returncode == 0 and not waited.timed_out and waited.seconds >= 3
    assert waited.counted < 2
    given = threading.Event()
    given.set()
    spinner = [sys.executable, "-c", "import time; time.sleep(30)"]
    late = run_process(spinner, cwd=tmp_path, env={}, timeout=2, started=given)
    assert late.timed_out and late.seconds < 10


def test_the_checker_started_early_checks_answers_given_late_and_ends_without_them(tmp_path):
    from tlcourse.grading.answers import export_answers
    from tlcourse.grading.runner import start_checker

    test = {"name": "q1", "points": 2, "suites": [{"cases": [
        {"code": ">>> assert x == 42 and np.isclose(1.0, 1.0)", "hidden": True}]}]}  # fmt: skip
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.writestr("tests/q1.py", f"OK_FORMAT = True\ntest = {test!r}\n")
    options = dict(sandbox=False, fast=True, timeout=60, limits=Limits())
    check = start_checker(tmp_path / "a.zip", tmp_path / "given", **options)
    # Outside bubblewrap it runs as root beside the student's uid: its tests are root's alone.
    assert (tmp_path / "given").stat().st_mode & 0o777 == 0o700
    time.sleep(1)  # the worker's time: the answers are written after the checker started
    (tmp_path / "answers" / "q1").mkdir(parents=True)
    export_answers({"x": 42}, {"x": []}, str(tmp_path / "answers" / "q1"))
    stage = check(tmp_path / "answers")
    assert json.loads(stage.sent.read_text())["scores"] == {"q1": 2.0}
    assert stage.process.returncode == 0 and stage.process.counted < stage.process.seconds
    assert check(None) is stage or check(None) is None  # a second call does nothing more


@pytest.mark.parametrize("sandbox", [False, pytest.param(True, marks=needs_bwrap)])
def test_a_checker_whose_answers_never_come_is_killed_whole_mid_import(tmp_path, sandbox):
    """The worker failed, timed out or exported nothing: the checker, still importing
    TensorFlow for ``tl.load_backbone``, is killed with its sandbox, not left to finish."""
    import psutil

    from tlcourse.grading.runner import start_checker

    case = {"code": ">>> assert tl.load_backbone and tf.constant(x) == 42", "hidden": True}
    test = {"name": "q1", "points": 1, "suites": [{"cases": [case]}]}
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.writestr("tests/q1.py", f"OK_FORMAT = True\ntest = {test!r}\n")
    folder = tmp_path / "cancelled"
    cancelled = start_checker(tmp_path / "a.zip", folder, sandbox=sandbox, fast=True, timeout=60,
                              limits=Limits())  # fmt: skip

    def checker() -> list:
        return [p for p in psutil.process_iter(["cmdline"])
                if str(folder / "in") in " ".join(p.info["cmdline"] or [])]  # fmt: skip

    deadline = time.monotonic() + 60
    while not checker() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # into its imports, with its sandbox's processes started
    tree = [q for p in checker() for q in [p, *p.children(recursive=True)]]
    assert tree, "the checker started beside the worker"
    start = time.monotonic()
    assert cancelled(None) is None
    assert time.monotonic() - start < 10, "killed, not left to finish its imports"
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tree)
    assert checker() == []
    assert (folder / "sent.bin").read_bytes() == b"", "it never got to write a report"
    assert not (folder / "in" / "answers").exists()
    assert cancelled(None) is None  # a second call does nothing more


def test_the_checker_imports_the_names_its_tests_read_before_the_answers_come():
    """``tl.load_backbone`` in a test imports TensorFlow now, not inside the test's time."""
    code = (
        "import sys; from tlcourse.grading.checker import _trusted_modules\n"
        "_trusted_modules('assert tl.load_backbone and tl.no_such_name is None')\n"
        "print('tensorflow' in sys.modules, 'tlcourse.models.backbones' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
