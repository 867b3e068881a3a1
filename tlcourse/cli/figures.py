"""``tlcourse figures``: the lecture's figures as PNG files."""

from __future__ import annotations

from pathlib import Path

__all__ = ["add_parser"]


def _predictions(args) -> Path | None:
    """``--predictions``, or the ``predictions.csv`` beside ``--results`` if there is one."""
    if args.predictions is not None or args.results is None:
        return args.predictions
    beside = Path(args.results).expanduser().with_name("predictions.csv")
    return beside if beside.is_file() else None


def _run(args) -> int:
    from tlcourse.plots import lecture_figures

    paths = lecture_figures(args.out, results=args.results, backbone=args.backbone,
                            predictions=_predictions(args))  # fmt: skip
    for path in paths:
        print(f"figure: {path}")
    if args.results is None:
        print("(comparison figures: add --results OUT/results.csv from `tlcourse compare`)")
    return 0


def add_parser(sub) -> None:
    """Add the ``figures`` subcommand."""
    figures = sub.add_parser("figures", help="the lecture's figures as PNG files")
    figures.add_argument("--out", required=True, help="folder for the PNG files")
    options = {
        "--results": {"help": "a results.csv from `tlcourse compare`, for the comparison figures"},
        "--predictions": {"help": "a predictions.csv from `tlcourse compare`, for the confusion "
                          "matrices and the gallery (default: the one beside --results, if any)"},
        "--backbone": {"default": "efficientnet_lite0", "help": "network of the trainable-blocks "
                       "and learning-rate figures"}}  # fmt: skip
    for flag, settings in options.items():
        figures.add_argument(flag, **settings)
    figures.set_defaults(func=_run)
