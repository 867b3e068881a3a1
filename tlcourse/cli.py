"""The ``tlcourse`` command line.

Subcommands: ``doctor`` (what works on this machine), ``predict`` (ImageNet top-5 with the
offline backbone), ``compare``, ``figures``, ``assign`` and ``grade`` (the graded notebooks).
Errors a user can fix are printed as one line, without a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
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


def _cmd_compare(args) -> int:
    from tlcourse.compare import Budget, compare, summarize, write_figures

    budget = None
    if args.epochs is not None or args.fast:
        from tlcourse.compare import FAST_BUDGET

        budget = FAST_BUDGET if args.fast else Budget()
        if args.epochs is not None:
            budget = dataclasses.replace(budget, epochs=args.epochs)
    sizes = None
    if args.train_per_class:
        sizes = [None if s.strip() == "all" else s for s in args.train_per_class.split(",")]
    print(
        f"tlcourse compare: {args.strategies} on {args.data} with {args.backbone}; "
        f"results in {args.out}/ (Ctrl-C keeps every finished run; --resume continues)"
    )
    results = compare(
        data=args.data,
        backbone=args.backbone,
        strategies=args.strategies,
        seeds=args.seeds if args.seeds else ((0,) if args.fast else (0, 1, 2)),
        budget=budget,
        image_size=args.image_size or (64 if args.fast else 160),
        train_per_class=sizes,
        out=args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        country=args.country,
        distribute=args.distribute,
    )
    print()
    print(format_summary(summarize(results)))
    for path in write_figures(results, args.out):
        print(f"figure: {path}")
    print(f"table:  {args.out}/results.csv")
    return 0


def _cmd_figures(args) -> int:
    from tlcourse.figures import lecture_figures

    for path in lecture_figures(args.out, results=args.results, backbone=args.backbone):
        print(f"figure: {path}")
    if args.results is None:
        print("(comparison figures: add --results OUT/results.csv from `tlcourse compare`)")
    return 0


def _cmd_assign(args) -> int:
    from tlcourse.grading import assign_all

    assigned = assign_all(
        args.masters,
        args.out,
        args.student_dir,
        run_tests=args.run_tests,
        colab=args.colab or args.colab_install is not None,
        colab_install=args.colab_install,
    )
    print(
        f"{len(assigned)} notebook(s): student versions in {args.student_dir}/, "
        f"autograders in {args.out}/NAME/autograder/NAME-autograder.zip"
    )
    return 0


def _cmd_grade(args) -> int:
    from tlcourse.grading import FAST_ENV, STATUSES, grade_folder

    if args.fast:
        os.environ[FAST_ENV] = "1"
    table = grade_folder(
        args.submissions,
        args.autograder,
        args.out,
        timeout=args.timeout,
        jobs=args.jobs,
        dist=args.dist,
        logs=args.logs,
    )
    counts = table["status"].value_counts()
    statuses = ", ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts)
    print(f"scores: {args.out} ({len(table)} submission(s): {statuses})")
    return 0


def format_summary(summary) -> str:
    """Render :func:`tlcourse.compare.summarize` as the table ``tlcourse compare`` prints."""
    table = summary.copy()
    table["test accuracy"] = [
        f"{m:.1%} ± {s:.1%}" if s == s else f"{m:.1%}"
        for m, s in zip(table["accuracy_mean"], table["accuracy_std"], strict=True)
    ]
    table["time (s)"] = table["seconds_mean"].map("{:.1f}".format)
    table["CO2 (g)"] = table["co2_g_mean"].map(lambda g: "n/a" if g != g else f"{g:.3f}")
    table["trainable"] = table["trainable_params"].map("{:,.0f}".format)
    columns = [
        "train_per_class",
        "strategy",
        "runs",
        "test accuracy",
        "time (s)",
        "CO2 (g)",
        "trainable",
    ]
    return table[columns].rename(columns={"train_per_class": "images/class"}).to_string(index=False)


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


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

    compare = sub.add_parser(
        "compare", help="scratch vs feature extraction vs fine-tuning: accuracy, time, CO2"
    )
    compare.add_argument(
        "--data",
        default="photos",
        help="'photos' (shipped), 'flowers', 'cats_vs_dogs' or a folder of "
        "class subfolders (default: photos)",
    )
    compare.add_argument(
        "--backbone",
        default="efficientnet_lite0",
        help="pretrained network (default: efficientnet_lite0, offline)",
    )
    compare.add_argument(
        "--strategies",
        default="scratch,feature_extraction,fine_tuning,fine_tuning_dlr",
        help="comma-separated (also: scratch_backbone)",
    )
    compare.add_argument(
        "--seeds",
        type=_ints,
        default=None,
        help="comma-separated seeds (default: 0,1,2; --fast: 0)",
    )
    compare.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs from scratch and of the head (default 30; --fast 3)",
    )
    compare.add_argument(
        "--image-size", type=int, default=None, help="image side in pixels (default 160; --fast 64)"
    )
    compare.add_argument(
        "--train-per-class",
        default=None,
        metavar="N[,N...]",
        help="training images per class, e.g. 2,5,10,all: accuracy vs data",
    )
    compare.add_argument("--out", default="results", help="output folder (default: results)")
    compare.add_argument(
        "--resume", action="store_true", help="finish an interrupted comparison in --out"
    )
    compare.add_argument(
        "--overwrite", action="store_true", help="start again even if --out holds results"
    )
    compare.add_argument("--fast", action="store_true", help="a smoke run (seconds)")
    compare.add_argument(
        "--country",
        default=None,
        help="ISO-3 grid for the CO2 estimate, e.g. FRA (default: world mix)",
    )
    compare.add_argument(
        "--distribute",
        default="default",
        choices=["default", "mirrored"],
        help="'mirrored': tf.distribute.MirroredStrategy over local devices",
    )
    compare.set_defaults(func=_cmd_compare)

    figures = sub.add_parser("figures", help="the lecture's figures as PNG files")
    figures.add_argument("--out", required=True, help="folder for the PNG files")
    figures.add_argument(
        "--results",
        default=None,
        help="a results.csv from `tlcourse compare`, for the comparison figures",
    )
    figures.add_argument(
        "--backbone",
        default="efficientnet_lite0",
        help="network of the trainable-blocks and learning-rate figures",
    )
    figures.set_defaults(func=_cmd_figures)

    assign = sub.add_parser(
        "assign", help="student notebooks and autograders from the master notebooks (otter)"
    )
    assign.add_argument(
        "--masters",
        default="notebooks/masters",
        help="folder of master notebooks (default: notebooks/masters)",
    )
    assign.add_argument(
        "--out",
        default="dist",
        help="build folder for otter's output and the autograder zips (default: dist)",
    )
    assign.add_argument(
        "--student-dir",
        default="notebooks/student",
        help="where the student notebooks are written (default: notebooks/student)",
    )
    assign.add_argument(
        "--run-tests",
        action="store_true",
        help="let otter execute each solutions notebook against its tests "
        "(slow; set TLCOURSE_FAST=1 for the fast mode)",
    )
    assign.add_argument(
        "--colab",
        action="store_true",
        help="also build Colab versions (notebook + tests/ folder + zip) in OUT/colab/",
    )
    assign.add_argument(
        "--colab-install",
        default=None,
        metavar="REQUIREMENT",
        help="pip requirement the Colab versions install tlcourse from, e.g. "
        "'tlcourse @ git+https://github.com/ORG/REPO' (implies --colab)",
    )
    assign.set_defaults(func=_cmd_assign)

    grade = sub.add_parser(
        "grade", help="grade a folder of submitted notebooks offline (otter run) into a CSV"
    )
    grade.add_argument(
        "submissions",
        metavar="SUBMISSIONS",
        help="folder of submitted .ipynb (or otter .zip) files, one per student",
    )
    grade.add_argument(
        "--autograder",
        required=True,
        help="autograder zip, or a notebook name such as 02 or "
        "02_training_from_scratch, looked up in --dist",
    )
    grade.add_argument(
        "--out",
        default="scores.csv",
        help="CSV of scores, one row per student (default: scores.csv)",
    )
    grade.add_argument(
        "--timeout",
        type=float,
        default=600,
        help="seconds per submission before it is stopped (default: 600)",
    )
    grade.add_argument(
        "--jobs", type=int, default=1, help="submissions graded at the same time (default: 1)"
    )
    grade.add_argument(
        "--dist", default="dist", help="build folder of `tlcourse assign` (default: dist)"
    )
    grade.add_argument(
        "--logs", default=None, metavar="DIR", help="keep otter's output per student in DIR"
    )
    grade.add_argument(
        "--fast",
        action="store_true",
        help="run the notebooks in fast mode (TLCOURSE_FAST=1): same tests, "
        "minutes less per student",
    )
    grade.set_defaults(func=_cmd_grade)
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
