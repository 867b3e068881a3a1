"""``tlcourse figures``: the lecture's figures as PNG files."""

from __future__ import annotations

from pathlib import Path

__all__ = ["add_parser"]


def _predictions(args) -> Path | None:
    """``--predictions``, or the ``predictions.csv`` that ``tlcourse compare`` wrote beside
    ``--results``, if there is one."""
    if args.predictions is not None or args.results is None:
        return args.predictions
    beside = Path(args.results).expanduser().with_name("predictions.csv")
    return beside if beside.is_file() else None


def _run(args) -> int:
    from tlcourse.plots import lecture_figures

    predictions = _predictions(args)
    for path in lecture_figures(
        args.out, results=args.results, backbone=args.backbone, predictions=predictions
    ):
        print(f"figure: {path}")
    if args.results is None:
        print("(comparison figures: add --results OUT/results.csv from `tlcourse compare`)")
    return 0


def add_parser(sub) -> None:
    """Add the ``figures`` subcommand to ``sub`` (argparse subparsers)."""
    figures = sub.add_parser("figures", help="the lecture's figures as PNG files")
    figures.add_argument("--out", required=True, help="folder for the PNG files")
    figures.add_argument(
        "--results",
        default=None,
        help="a results.csv from `tlcourse compare`, for the comparison figures",
    )
    figures.add_argument(
        "--predictions",
        default=None,
        help="a predictions.csv from `tlcourse compare`, for the confusion matrices and the "
        "gallery (default: the one beside --results, if any)",
    )
    figures.add_argument(
        "--backbone",
        default="efficientnet_lite0",
        help="network of the trainable-blocks and learning-rate figures",
    )
    figures.set_defaults(func=_run)
