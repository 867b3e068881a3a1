"""``tlcourse compare``: scratch vs feature extraction vs fine-tuning, measured.

Values go to :func:`tlcourse.compare` as typed (``--seeds 0,1``), which validates them.
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["add_parser", "format_summary"]


def _image_size(text: str | None):
    """``"96"`` -> 96, ``"96x128"`` or ``"96,128"`` -> (96, 128); anything else as typed."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*(?:[x,]\s*(\d+)\s*)?", text)
    if not match:
        return text  # compare names the bad value
    height, width = match.groups()
    return int(height) if width is None else (int(height), int(width))


def _run(args) -> int:
    from tlcourse.comparison import FAST_BUDGET, Budget, compare, summarize
    from tlcourse.comparison.strategies import list_strategies, strategy_names
    from tlcourse.plots import write_figures

    if args.list:
        print(list_strategies()[["label", "default", "description"]].to_string())
        return 0
    args.strategies = args.strategies or ",".join(strategy_names(default=True))
    budget = None
    if args.epochs is not None:
        budget = dataclasses.replace(FAST_BUDGET if args.fast else Budget(), epochs=args.epochs)
    print(f"tlcourse compare: {args.strategies} on {args.data} with {args.backbone}; results in "
          f"{args.out}/ (Ctrl-C keeps every finished run; --resume continues)")  # fmt: skip
    results, predictions = compare(
        data=args.data, backbone=args.backbone, strategies=args.strategies, seeds=args.seeds,
        budget=budget, image_size=_image_size(args.image_size),
        train_per_class=args.train_per_class, out=args.out, resume=args.resume,
        overwrite=args.overwrite, fast=args.fast, country=args.country,
        distribute=args.distribute, return_predictions=True)  # fmt: skip
    print(f"\n{format_summary(summarize(results))}")
    for path in write_figures(results, args.out, predictions if len(predictions) else None):
        print(f"figure: {path}")
    print(f"table:  {args.out}/results.csv")
    print(f"predictions: {args.out}/predictions.csv")
    return 0


def format_summary(summary) -> str:
    """Render :func:`tlcourse.summarize` as the table ``tlcourse compare`` prints.

    Example:
        >>> import pandas as pd
        >>> summary = pd.DataFrame({"train_per_class": ["all"], "strategy": ["scratch"],
        ...     "runs": [2], "accuracy_mean": [0.6], "accuracy_std": [0.1],
        ...     "seconds_mean": [11.0], "co2_g_mean": [0.02], "trainable_params": [98454]})
        >>> print(format_summary(summary))  # doctest: +NORMALIZE_WHITESPACE
        images/class strategy  runs  test accuracy time (s) CO2 (g) trainable
                 all  scratch     2 60.0% ± 10.0%     11.0   0.020    98,454
    """
    table = summary.copy()
    pairs = zip(table["accuracy_mean"], table["accuracy_std"], strict=True)
    table["test accuracy"] = [f"{m:.1%} ± {s:.1%}" if s == s else f"{m:.1%}" for m, s in pairs]
    table["time (s)"] = table["seconds_mean"].map("{:.1f}".format)
    table["CO2 (g)"] = table["co2_g_mean"].map(lambda g: "n/a" if g != g else f"{g:.3f}")
    if "co2_g_low_mean" in table:  # an estimate on a default CPU power: its stated range too
        ends = zip(table["CO2 (g)"], table["co2_g_low_mean"], table["co2_g_high_mean"], strict=True)
        table["CO2 (g)"] = [
            text if low != low or high != high else f"{text} ({low:.3f}-{high:.3f})"
            for text, low, high in ends
        ]
    table["trainable"] = table["trainable_params"].map("{:,.0f}".format)
    columns = ["train_per_class", "strategy", "runs", "test accuracy", "time (s)", "CO2 (g)",
               "trainable"]  # fmt: skip
    if "model_mb" in table:  # what the trained model costs to use
        table["model (MB)"] = table["model_mb"].map(lambda v: "n/a" if v != v else f"{v:.1f}")
        table["latency (ms)"] = table["latency_ms"].map(lambda v: "n/a" if v != v else f"{v:.1f}")
        columns += ["model (MB)", "latency (ms)"]
    return table[columns].rename(columns={"train_per_class": "images/class"}).to_string(index=False)


def add_parser(sub) -> None:
    """Add the ``compare`` subcommand (the strategies are listed by ``--list``, which imports
    TensorFlow: building the parser does not)."""
    about = "scratch vs feature extraction vs fine-tuning: accuracy, time, CO2"
    compare = sub.add_parser("compare", help=about)
    options = {
        "--data": {"default": "photos", "help": "'photos' (shipped), a dataset name or a folder "
                   "of class subfolders (default: photos)"},
        "--backbone": {"default": "efficientnet_lite0", "help": "pretrained network (default: "
                       "efficientnet_lite0, offline)"},
        "--strategies": {"metavar": "NAME[,NAME...]", "help": "comma-separated strategy "
                         "names (default: the four of the lecture; --list shows them all)"},
        "--list": {"action": "store_true", "help": "list the registered strategies and exit"},
        "--seeds": {"metavar": "N[,N...]", "help": "comma-separated seeds (default: 0,1,2; "
                    "--fast: 0)"},
        "--epochs": {"type": int, "help": "epochs from scratch and of the head (default 30; "
                     "--fast 3)"},
        "--image-size": {"metavar": "SIDE|HxW", "help": "image size in pixels, e.g. 96 or "
                         "96x128 (default 160; --fast 64)"},
        "--train-per-class": {"metavar": "N[,N...]", "help": "training images per class, e.g. "
                              "2,5,10,all: accuracy vs data"},
        "--out": {"default": "results", "help": "output folder (default: results)"},
        "--resume": {"action": "store_true", "help": "finish an interrupted comparison in --out"},
        "--overwrite": {"action": "store_true", "help": "start again even if --out holds "
                        "results"},
        "--fast": {"action": "store_true", "help": "a smoke run (seconds)"},
        "--country": {"help": "ISO-3 grid for the CO2 estimate, e.g. FRA (default: world mix)"},
        "--distribute": {"default": "default", "choices": ["default", "mirrored"],
                         "help": "'mirrored': tf.distribute.MirroredStrategy over local devices"},
    }  # fmt: skip
    for flag, settings in options.items():
        compare.add_argument(flag, **settings)
    compare.set_defaults(func=_run)
