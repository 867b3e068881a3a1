"""Quiet start: TensorFlow's C++ start-up lines are hidden, every other stderr line is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tlcourse.quiet_start import hide_startup_lines, import_tensorflow, is_startup_line

ROOT = Path(__file__).resolve().parent.parent

# Seen on this project's machines (TensorFlow 2.21, no GPU), verbatim.
STARTUP_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796116114.725936   16387 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors from "
    "different computation orders. To turn them off, set the environment variable "
    "`TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1796116114.726247   16387 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.",
    "I0000 00:00:1796116114.781579   16387 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796116117.841072   16387 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]
# What each start-up line contains: none of these may reach stderr.
MARKERS = (
    "absl::InitializeLog",
    "oneDNN custom operations",
    "Could not find cuda drivers",
    "This TensorFlow binary is optimized",
    "To enable the following instructions",
    "failed call to cuInit",
)
OTHER_LINES = [
    "E0000 00:00:1796116117.841072   16387 cuda_platform.cc:52] CUDA_ERROR_OUT_OF_MEMORY",
    "W0000 00:00:1796116117.841072   16387 port.cc:153] something else from port.cc",
    "Traceback (most recent call last):",
    "UserWarning: oneDNN custom operations are on",  # not the C++ line itself
    "",
]


def _env(**extra) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **extra)
    # The root conftest sets it for the test logs; the point here is the default behaviour.
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


def _run(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=_env(**env),
    )


@pytest.mark.parametrize("line", STARTUP_LINES)
def test_known_startup_lines_are_recognised(line):
    assert is_startup_line(line) and is_startup_line(line + "\n")
    assert is_startup_line(line.encode() + b"\n")


@pytest.mark.parametrize("line", OTHER_LINES)
def test_other_lines_are_not(line):
    assert not is_startup_line(line)


def test_only_startup_lines_are_hidden_inside_the_block(capfd):
    with hide_startup_lines():
        os.write(2, "\n".join([*STARTUP_LINES, "a real error", ""]).encode())
        os.write(2, STARTUP_LINES[1].encode() + b"\nlast line without newline")
    os.write(2, b"\n" + STARTUP_LINES[0].encode() + b"\n")  # after the block: untouched
    err = capfd.readouterr().err
    assert err == f"a real error\nlast line without newline\n{STARTUP_LINES[0]}\n"


def test_the_block_restores_stderr_when_it_raises(capfd):
    with pytest.raises(RuntimeError), hide_startup_lines():
        os.write(2, b"before the error\n")
        raise RuntimeError("boom")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "before the error\nafter\n"


def test_import_tensorflow_returns_the_module_once_imported():
    import tensorflow as tf

    assert import_tensorflow() is tf


_IMPORT = """
import os, sys, warnings
before = list(warnings.filters)
import tlcourse
print("SAME FILTERS", warnings.filters == before)
os.write(2, b"AFTER-IMPORT\\n")
import tensorflow as tf
# Quieting the import must not start the runtime: logical devices can still be configured.
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
print("LOGICAL", len(tf.config.list_logical_devices("CPU")))
"""


@pytest.mark.slow
def test_import_tlcourse_prints_no_startup_lines_and_keeps_later_ones(tmp_path):
    result = _run(_IMPORT, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LOGICAL 2" in result.stdout
    # Neither tlcourse nor the TensorFlow import it makes leaves a warnings filter behind.
    assert "SAME FILTERS True" in result.stdout
    assert not [m for m in MARKERS if m in result.stderr], result.stderr
    assert result.stderr == "AFTER-IMPORT\n"
    assert list(tmp_path.iterdir()) == []


_UNKNOWN_LINE_DURING_IMPORT = """
import importlib.abc, os, sys

class Noisy(importlib.abc.MetaPathFinder):
    # Writes to fd 2 while TensorFlow is being imported, as a real error from its C++ would.
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow":
            sys.meta_path.remove(self)
            os.write(2, b"UNKNOWN LINE FROM THE IMPORT\\n")
            os.write(2, b"I0000 00:00:1.5  7 port.cc:153] oneDNN custom operations are on.\\n")
        return None

sys.meta_path.insert(0, Noisy())
import tlcourse
"""


@pytest.mark.slow
def test_an_unknown_line_printed_during_the_import_is_still_shown(tmp_path):
    result = _run(_UNKNOWN_LINE_DURING_IMPORT, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == "UNKNOWN LINE FROM THE IMPORT\n"


@pytest.mark.slow
def test_plain_tensorflow_does_print_them_here(tmp_path):
    # The control: without tlcourse, this machine does print start-up lines, so the tests
    # above show that tlcourse hides them (and did not pass by luck).
    result = _run("import tensorflow as tf; tf.config.list_physical_devices()", tmp_path)
    assert [m for m in MARKERS if m in result.stderr]


@pytest.mark.slow
def test_compare_command_prints_no_startup_lines(tmp_path, converted_cache):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "tlcourse.cli", "compare", "--fast"]
        + ["--strategies", "feature_extraction", "--image-size", "32", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=_env(TLCOURSE_CACHE_DIR=str(converted_cache)),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "feature_extraction" in result.stdout
    assert not [m for m in MARKERS if m in result.stderr], result.stderr
    assert result.stderr == ""


_COLLECTIONS = """
import gc, sys
runs = []
gc.callbacks.append(lambda phase, info: runs.append(phase) if phase == "start" else None)
if sys.argv[1] == "off":
    gc.disable()
import tlcourse.quiet_start
print("ENABLED", gc.isenabled(), "COLLECTIONS", len(runs), "FROZEN", gc.get_freeze_count())
"""


@pytest.mark.slow
@pytest.mark.parametrize("state", ["on", "off"])
def test_no_garbage_collection_during_the_tensorflow_import(tmp_path, state):
    # 840 collections (0.7 s) during the import before; the caller's setting is kept.
    script = tmp_path / "collections.py"
    script.write_text(_COLLECTIONS)
    result = subprocess.run(
        [sys.executable, str(script), state], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    words = result.stdout.split()
    enabled, collections, frozen = words[1], int(words[3]), int(words[5])
    assert enabled == str(state == "on")
    assert collections < 50
    assert frozen > 100_000  # what the import left: no later collection walks it
