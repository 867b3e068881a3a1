"""The ``tlcourse`` command line: one module per subcommand, each with ``add_parser``.

Errors a user can fix are one line, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from tlcourse.cli import compare, doctor, figures, grade

__all__ = ["build_parser", "main"]

_COMMANDS = (doctor, compare, figures, grade)


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
