"""Import TensorFlow without its C++ start-up chatter on stderr, keeping every other line.

TensorFlow 2.21 prints a handful of lines while it loads and at the first device query, on every
machine: absl's "WARNING: All log messages before absl::InitializeLog() is called...", "oneDNN
custom operations are on", "Could not find cuda drivers", "This TensorFlow binary is optimized
to use available CPU instructions" and, on a machine without a GPU, an ``E0000 ...
cuda_platform.cc ... failed call to cuInit`` that reads like an error. They are written by C++
straight to file descriptor 2 before absl is initialised, so ``TF_CPP_MIN_LOG_LEVEL`` does not
hide them.

:func:`import_tensorflow` imports TensorFlow and lists the physical devices (which prints the
cuInit line) with file descriptor 2 pointed at an anonymous temporary file, then restores it
and writes back every captured line that is not one of the known start-up lines in
``STARTUP_PATTERNS``: a real error printed during the import stays visible, and nothing printed
afterwards is touched. Listing the physical devices does not start TensorFlow's runtime: logical
devices, memory growth and thread counts can still be configured afterwards.

The import is also made cheaper: the garbage collector is paused while TensorFlow imports, and
the objects alive afterwards (modules and functions, which live as long as the process) are
moved to its permanent generation with ``gc.freeze()``, so no later collection walks them again
(about 1 s less per process on 2 cores; see :func:`_collections_paused`).

``tlcourse/__init__.py`` imports this module first, so ``import tlcourse`` and every ``tlcourse``
command start quietly. Importing it changes no other global state than that freeze: no
environment variable, no logging level, no file left behind, and the warnings filters that
TensorFlow's own imports install are put back as they were.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator

from tlcourse.errors import invalid_parameter

__all__ = ["STARTUP_PATTERNS", "hide_startup_lines", "import_tensorflow", "is_startup_line"]

# glog/absl prefix: severity and date, time, thread id, source file and line, then the message.
_PREFIX = r"[IWEF]\d{4} [\d:.]+\s+\d+ "

# Lines TensorFlow prints while it loads and at its first device query, and only those: each
# names its C++ source file and the start of its message, so another line from the same file
# (or any other file) is still shown.
STARTUP_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
        r"STDERR$",
        _PREFIX + r"port\.cc:\d+\] oneDNN custom operations are on\.",
        _PREFIX + r"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine",
        _PREFIX + r"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized to use",
        # The second line of the cpu_feature_guard message.
        r"To enable the following instructions: .*rebuild TensorFlow with the appropriate "
        r"compiler flags\.$",
        _PREFIX + r"cuda_platform\.cc:\d+\] failed call to cuInit",
        # Printed by CUDA builds of TensorFlow (Colab, tensorflow[and-cuda]) at import.
        _PREFIX + r"cuda_(dnn|fft|blas)\.cc:\d+\] Unable to register cu(DNN|FFT|BLAS) factory",
        _PREFIX + r"computation_placer\.cc:\d+\] computation placer already registered",
        _PREFIX + r"py_utils\.cc:\d+\] TF-TRT Warning: Could not find TensorRT",
    )
)

_imported = False


def is_startup_line(line: str | bytes) -> bool:
    """Tell whether one stderr line is a known TensorFlow start-up line (see ``STARTUP_PATTERNS``).

    Args:
        line: the line, with or without its newline; bytes are decoded as UTF-8.

    Returns:
        True for a known start-up line, False for anything else.

    Example:
        >>> is_startup_line("E0000 00:00:1796.5  12 cuda_platform.cc:52] failed call to cuInit: x")
        True
        >>> is_startup_line("E0000 00:00:1796.5  12 cuda_platform.cc:52] out of memory")
        False
    """
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    if not isinstance(line, str):
        raise invalid_parameter("line", "is_startup_line", "a str or bytes", line)
    text = line.rstrip("\r\n")
    return any(pattern.match(text) for pattern in STARTUP_PATTERNS)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@contextlib.contextmanager
def hide_startup_lines() -> Iterator[None]:
    """Within the block, hide TensorFlow's start-up lines from file descriptor 2; keep the rest.

    Everything written to file descriptor 2 inside the block (by C++ or by Python's
    ``sys.stderr``) goes to an anonymous temporary file; on exit, the descriptor is restored and
    every line that :func:`is_startup_line` does not recognise is written back, in order. Where
    there is no file descriptor 2 (some embedded interpreters), the block runs unchanged.

    Yields:
        None.

    Example:
        >>> line = b"I0000 00:00:1.0  1 port.cc:153] oneDNN custom operations are on.\\n"
        >>> with hide_startup_lines():
        ...     _ = os.write(2, line)  # hidden; any other line is written back on exit
    """
    _flush_stderr()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                _flush_stderr()
                os.dup2(saved, 2)
                capture.seek(0)
                kept = [
                    line for line in capture.read().splitlines(True) if not is_startup_line(line)
                ]
                if kept:
                    _write_all(2, b"".join(kept))
    finally:
        os.close(saved)


def _flush_stderr() -> None:
    # Python's own stderr buffers: flush it so its lines land on the side of the switch they
    # were written on.
    with contextlib.suppress(Exception):
        sys.stderr.flush()


@contextlib.contextmanager
def _collections_paused():
    """No cyclic garbage collection while TensorFlow imports, then those objects frozen.

    The import leaves about 350,000 objects tracked by the collector, and the collector ran 840
    times during it (0.7 s of a 3.5-5 s import on 2 cores) to free 2,900 objects: modules and
    functions live as long as the process. Afterwards they go to the collector's permanent
    generation (``gc.freeze()``, Python's own tool for long-lived objects): without it, the
    first collections after the import walked all of them (0.45 s) and every full collection
    later did again (0.35 s each; 0.12 s frozen). Objects frozen are still freed by reference
    counting; only a reference cycle among them would stay (``gc.unfreeze()`` undoes it). The
    caller's setting (enabled or not) is kept.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if enabled:
            gc.enable()


def import_tensorflow():
    """Import TensorFlow and list its devices with the start-up lines hidden (once per process).

    Returns:
        The ``tensorflow`` module.

    Example:
        >>> import_tensorflow().__name__
        'tensorflow'
    """
    global _imported
    if not _imported:
        # TensorFlow's import of requests installs four warnings filters (urllib3's
        # DependencyWarning...); catch_warnings puts the filters back as they were, so that
        # importing tlcourse leaves warnings.filters unchanged.
        with hide_startup_lines(), warnings.catch_warnings(), _collections_paused():
            import tensorflow as tf

            tf.config.list_physical_devices()
        _imported = True
    import tensorflow as tf

    return tf


# Importing this module is its purpose: tlcourse/__init__.py imports it before any module that
# imports TensorFlow.
import_tensorflow()
