"""The ``tlcourse`` command line: one module per subcommand, each with ``add_parser``.

Errors a user can fix are one line, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile

from tlcourse.cli import compare, doctor, figures, grade

__all__ = ["build_parser", "main"]

_COMMANDS = (doctor, compare, figures, grade)
# What TensorFlow's C++ side prints while it loads on a machine without a GPU (TF_CPP_MIN_LOG_LEVEL
# does not reach the lines logged before absl is initialised): noise for a user of the command.
_START_UP = re.compile(
    r"absl::InitializeLog|cudart_stub|cuda_platform|cpu_feature_guard|"
    r"rebuild TensorFlow with the appropriate compiler flags|oneDNN custom"
)


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up lines held back; anything else it prints is shown."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        held.seek(0)
        lines = held.read().decode(errors="replace").splitlines()
    for line in lines:
        if not _START_UP.search(line):
            print(line, file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tlcourse`` command."""
    description = "Transfer learning, measured: tools for the course."
    parser = argparse.ArgumentParser(prog="tlcourse", description=description)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    import matplotlib  # only an entry point chooses a backend: the CLI writes files

    matplotlib.use("Agg")
    if args.command in ("compare", "doctor", "figures", "predict"):
        _import_tensorflow_quietly()
    # TensorFlow's retracing notes are for library authors, not for a comparison's reader.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from tlcourse.errors import TLCourseError

    try:
        return args.func(args)
    except TLCourseError as error:
        print(f"tlcourse {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tlcourse {args.command}: interrupted", file=sys.stderr)
        return 130
