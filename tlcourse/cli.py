"""The ``tlcourse`` command line.

Subcommands: ``doctor`` (what works on this machine), ``predict`` (ImageNet top-5 with the
offline backbone). Errors a user can fix are printed as one line, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

# TensorFlow's C++ start-up chatter (CPU instruction sets, oneDNN) buries the output students
# should read; the CLI owns the process, so it may quiet it. Set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _cmd_doctor(args) -> int:
    from tlcourse.doctor import doctor_report, format_report

    print(format_report(doctor_report()))
    return 0


def _cmd_predict(args) -> int:
    from tlcourse.imagenet import predict_image_files

    for path, predictions in zip(
        args.images, predict_image_files(args.images, top=args.top), strict=True
    ):
        print(path)
        for _, name, prob in predictions:
            print(f"  {prob:6.1%}  {name}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``tlcourse`` command."""
    parser = argparse.ArgumentParser(
        prog="tlcourse", description="Transfer learning, measured: tools for the course."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    doctor = sub.add_parser("doctor", help="versions, devices, caches, offline backbones, data")
    doctor.set_defaults(func=_cmd_doctor)

    predict = sub.add_parser(
        "predict", help="top-5 ImageNet classes of images (efficientnet_lite0, offline)"
    )
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--top", type=int, default=5, help="classes to show (default 5)")
    predict.set_defaults(func=_cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    from tlcourse.errors import TLCourseError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TLCourseError as error:
        print(f"tlcourse {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tlcourse {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
