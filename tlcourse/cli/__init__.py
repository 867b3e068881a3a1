"""The ``tlcourse`` command line: one module per subcommand, each with ``add_parser``.

Errors a user can fix are printed as one line, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from tlcourse.cli import compare, doctor, figures, grade

__all__ = ["build_parser", "main"]

_COMMANDS = (doctor, compare, figures, grade)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``tlcourse`` command.

    Example:
        >>> build_parser().parse_args(["doctor"]).command
        'doctor'
    """
    parser = argparse.ArgumentParser(
        prog="tlcourse", description="Transfer learning, measured: tools for the course."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    # Only an entry point chooses a matplotlib backend: the CLI writes files, never windows.
    import matplotlib

    matplotlib.use("Agg")
    # Every run builds and traces new models, and TensorFlow's notes about retracing ("5 out of
    # the last 11 calls ... triggered tf.function retracing") are for library authors, not for
    # someone reading the progress of a comparison. Errors still show.
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
