"""``tlcourse compare``: scratch vs feature extraction vs fine-tuning, measured."""

from __future__ import annotations

import dataclasses

__all__ = ["add_parser", "format_summary"]


def _run(args) -> int:
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


def add_parser(sub) -> None:
    """Add the ``compare`` subcommand to ``sub`` (argparse subparsers)."""
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
    compare.set_defaults(func=_run)
