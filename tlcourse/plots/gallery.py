"""The gallery: test photos that training from scratch gets wrong and transfer learning right."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from tlcourse.data import to_rgb
from tlcourse.error_analysis import check_predictions, fixed_by_transfer
from tlcourse.errors import check_int, invalid_parameter
from tlcourse.plots.style import (
    TITLE_FONTSIZE,
    check_figsize,
    new_figure,
    ordered_strategies,
    slide_style,
    trains_backbone,
    wrap_to_width,
)
from tlcourse.plots.tables import largest_training_set
from tlcourse.strategies import strategy_label

__all__ = ["gallery_applies", "plot_gallery"]

_COLUMNS = 4
_SIDE = 160  # pixels of a thumbnail: enough to recognise the photo at slide size


def _baseline(strategies: list) -> str | None:
    """The first strategy that trains a network of its own (the figures' baseline)."""
    return next((s for s in strategies if not trains_backbone(s)), None)


def gallery_applies(predictions: pd.DataFrame) -> bool:
    """True when a predictions table has files, a baseline and a strategy to compare with.

    Example:
        >>> gallery_applies(pd.DataFrame({"strategy": ["scratch", "fine_tuning"],
        ...     "file": ["a.jpg", "a.jpg"], "true": "cat", "predicted": "cat"}))
        True
    """
    if "file" not in predictions.columns or predictions["file"].isna().all():
        return False
    strategies = ordered_strategies(predictions["strategy"])
    return _baseline(strategies) is not None and len(strategies) > 1


def _resolve(file: str, images_root) -> Path:
    path = Path(file).expanduser()
    if not path.is_absolute() and images_root is not None:
        path = Path(images_root).expanduser() / path
    return path


def _thumbnail(path: Path) -> np.ndarray | None:
    try:
        with Image.open(path) as image:
            image = to_rgb(image)
            image.thumbnail((_SIDE, _SIDE))
            return np.asarray(image)
    except (OSError, ValueError):  # moved or deleted since the run: say so in the panel
        return None


def _lower(label: str) -> str:
    return label[:1].lower() + label[1:]


def _verdict(share_right: float, runs: int) -> str:
    if not np.isfinite(share_right):
        return "not run on it"
    right = int(round(share_right * runs))
    return f"right in {right}/{runs}" if right * 2 > runs else f"wrong in {runs - right}/{runs}"


@slide_style
def plot_gallery(
    predictions: pd.DataFrame,
    *,
    baseline: str | None = None,
    transfer=None,
    max_images: int = 8,
    images_root: str | os.PathLike | None = None,
    figsize=None,
) -> Figure:
    """Show test photos that the baseline (from scratch) gets wrong and transfer gets right.

    A photo is shown when most of the baseline's runs (seeds) misclassify it and most runs of
    at least one transfer strategy classify it correctly (see
    :func:`tlcourse.error_analysis.fixed_by_transfer`): one class after another, the
    baseline's surest mistakes first within each.
    Under each photo: its true class, then what each strategy predicted most often and in how
    many of its runs it was right or wrong.

    Args:
        predictions: a predictions table with a ``file`` column (``predictions.csv`` of
            ``tlcourse compare``, read with pandas, or
            :func:`tlcourse.error_analysis.prediction_table` with ``files=``).
        baseline: the strategy without transfer; None takes the first strategy of the table
            that trains a network of its own (``"scratch"``). Defaults to None.
        transfer: the strategies compared with it; None for all the others. Defaults to None.
        max_images: photos shown at most (an int >= 1). Defaults to 8.
        images_root: folder that relative ``file`` paths are relative to; None reads them as
            given. Defaults to None.
        figsize: figure size in inches; None sizes it to the photos. Defaults to None.

    Returns:
        The figure: one axes per photo (a single note when no photo qualifies).

    Raises:
        InvalidParameterError: not a predictions table with files, no baseline, a strategy
            not in the table, or a bad ``max_images`` or ``figsize``.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> folder = Path(tempfile.mkdtemp())
        >>> Image.new("RGB", (32, 32), "orange").save(folder / "fox.png")
        >>> runs = pd.DataFrame({"strategy": ["scratch", "fine_tuning"], "file": "fox.png",
        ...     "true": "fox", "predicted": ["cat", "fox"]})
        >>> fig = plot_gallery(runs, images_root=folder)
        >>> fig.axes[0].get_title()
        'fox'
    """
    func = "plot_gallery"
    predictions = check_predictions(predictions, func, ("strategy", "true", "predicted", "file"))
    max_images = check_int("max_images", max_images, func, low=1)
    figsize = check_figsize(figsize, func, none_ok=True)
    if images_root is not None and not isinstance(images_root, str | os.PathLike):
        raise invalid_parameter("images_root", func, "None or a folder path", images_root)
    if "train_per_class" in predictions.columns:
        predictions, _ = largest_training_set(predictions)
    strategies = ordered_strategies(predictions["strategy"])
    baseline = _baseline(strategies) if baseline is None else baseline
    if baseline is None:
        raise invalid_parameter(
            "baseline", func, f"a strategy of the table {strategies}", None,
            "None of them trains a network of its own (from scratch): name one.",
        )  # fmt: skip
    if isinstance(transfer, str):
        transfer = [transfer]
    fixed = fixed_by_transfer(predictions, baseline, transfer)
    others = [c[: -len("_right")] for c in fixed.columns if c.endswith("_right")]
    others = [s for s in strategies if s in others]
    # Each seed draws its own split: a photo is in the test set of some runs only, and its
    # verdicts count those runs.
    runs = predictions.groupby(["strategy", "file"]).size()
    # One class after another (surest mistakes first within each): a gallery of one class
    # would say less than the same number of photos across classes.
    turn = fixed.groupby("true", sort=False).cumcount()
    shown = fixed.assign(turn=turn).sort_values("turn", kind="stable").head(max_images)
    title = (
        f"Test photos {_lower(strategy_label(baseline))} gets wrong and "
        f"{' / '.join(_lower(strategy_label(s)) for s in others)} gets right "
        f"({len(fixed)} photo{'s' if len(fixed) != 1 else ''}"
        f"{f', {len(shown)} shown' if len(shown) < len(fixed) else ''})"
    )
    if shown.empty:
        fig, axes = new_figure(figsize or (10, 3))
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, "No test photo qualifies.", ha="center", fontsize=14)
        fig.suptitle(wrap_to_width(title, fig.get_figwidth(), TITLE_FONTSIZE))
        return fig
    columns = min(_COLUMNS, len(shown))
    rows = -(-len(shown) // columns)
    lines = 1 + len(others)
    longest = max(len(strategy_label(s)) for s in [baseline, *others])
    # A verdict line is about the label plus 30 characters at 10 pt (0.075 in per character).
    width = max(3.5, 0.075 * (longest + 30))
    figsize = figsize or (width * columns, rows * (2.8 + 0.4 * lines) + 0.8)
    fig, axes = new_figure(figsize, rows, columns)
    for ax in axes.flat[len(shown) :]:
        ax.axis("off")
    for ax, (_, photo) in zip(axes.flat, shown.iterrows(), strict=False):
        # Ticks and frame hidden, not the axis: the verdicts are its x label, which
        # constrained layout keeps clear of the next row.
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        picture = _thumbnail(_resolve(photo["file"], images_root))
        if picture is None:
            ax.text(0.5, 0.5, f"not found:\n{Path(photo['file']).name}", ha="center",
                    va="center", fontsize=10, transform=ax.transAxes)  # fmt: skip
        else:
            ax.imshow(picture)
        ax.set_title(str(photo["true"]), fontsize=13, fontweight="bold")
        verdicts = [
            f"✗ {strategy_label(baseline)}: {photo['baseline_predicted']} "
            f"({_verdict(1 - photo['baseline_wrong'], runs[(baseline, photo['file'])])})"
        ]
        for name in others:
            mark = "✓" if photo[f"{name}_right"] > 0.5 else "✗"
            verdicts.append(
                f"{mark} {strategy_label(name)}: {photo[f'{name}_predicted']} "
                f"({_verdict(photo[f'{name}_right'], runs[(name, photo['file'])])})"
            )
        ax.set_xlabel("\n".join(verdicts), fontsize=10)
    fig.suptitle(wrap_to_width(title, figsize[0], TITLE_FONTSIZE))
    return fig
