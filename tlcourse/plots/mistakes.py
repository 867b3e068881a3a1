"""What each strategy makes of the photos: confusion matrices, the photos that training from
scratch gets wrong and transfer learning right, Grad-CAM side by side."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from tlcourse.comparison.error_analysis import class_order, confusion_matrix, fixed_by_transfer
from tlcourse.comparison.strategies import strategy_label
from tlcourse.data import to_rgb
from tlcourse.errors import InvalidParameterError, invalid_parameter
from tlcourse.models.grad_cam import grad_cam
from tlcourse.plots import style
from tlcourse.validation import Interval, Rule, frame_with, validate_params

__all__ = ["PREDICTIONS", "gallery_applies", "plot_confusion", "plot_gallery", "plot_grad_cam"]

PREDICTIONS = frame_with("strategy", "true", "predicted")
_COLUMNS, _SIDE = 4, 160  # photos per row; pixels of a thumbnail, recognisable on a slide


def _runs_text(rows: pd.DataFrame) -> str:
    if "seed" not in rows.columns:
        return f"{len(rows)} predictions"
    seeds = rows["seed"].nunique()
    return f"{seeds} seed{'s' if seeds != 1 else ''}, {len(rows)} predictions"


@validate_params({"predictions": [PREDICTIONS], "strategies": [None, str, list, tuple],
                  "figsize": [None, style.FIGSIZE]})  # fmt: skip
@style.slide_style
def plot_confusion(predictions: pd.DataFrame, *, strategies=None, figsize=None) -> Figure:
    """One confusion matrix per strategy, seeds pooled, each cell coloured by its share of
    the true class.

    Example:
        >>> from tlcourse.comparison.error_analysis import prediction_table
        >>> table = prediction_table([0, 1, 2, 2], [0, 1, 1, 2], ["cat", "dog", "fox"])
        >>> plot_confusion(table).axes[0].get_title()
        'model: 75% right\\n(1 seed, 4 predictions)'
    """
    predictions, size_text = style.largest_training_set(predictions)
    present = style.ordered_strategies(predictions["strategy"])
    strategies = present if strategies is None else strategies
    strategies = [strategies] if isinstance(strategies, str) else list(strategies)
    for name in strategies:
        if name not in present:
            raise invalid_parameter("strategies", "plot_confusion", f"None or names from {present}",
                                    name)  # fmt: skip
    classes = class_order(predictions)
    n, longest = len(strategies), max(len(c) for c in classes)
    # Square matrices 4 in wide, with room under them for the slanted class names.
    figsize = figsize or (4.2 * n + 2.0, 4.0 + 1.5 + 0.09 * longest)
    fig, axes = style.new_figure(figsize, 1, n)
    fig.set_layout_engine("compressed")  # constrained layout, aware of square (image) axes
    image = None
    for i, (ax, strategy) in enumerate(zip(axes[0], strategies, strict=True)):
        rows = predictions[predictions["strategy"] == strategy]
        counts = confusion_matrix(rows, classes=classes).to_numpy()
        totals = counts.sum(axis=1)[:, None]
        shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for (r, c), count in np.ndenumerate(counts):
            if count:
                color = "white" if shares[r, c] > 0.6 else "black"
                ax.text(c, r, str(count), ha="center", va="center", fontsize=11, color=color)
        right = np.trace(counts) / max(len(rows), 1)
        ax.set_title(f"{strategy_label(strategy)}: {right:.0%} right\n({_runs_text(rows)})")
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), classes if i == 0 else [])
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class" if i == 0 else "")
        ax.tick_params(labelsize=11)
        ax.spines[:].set_visible(False)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="share of the true class")
    where = ", ".join(filter(None, [style.context(predictions, "plot_confusion"), size_text]))
    pooled = "seed" in predictions.columns and predictions["seed"].nunique() > 1
    title = "Confusion matrices" if n > 1 else "Confusion matrix"
    title += f"{', seeds pooled' if pooled else ''}{': ' + where if where else ''}"
    fig.suptitle(style.wrap_to_width(title, figsize[0], style.TITLE_FONTSIZE))
    return fig


def _baseline(strategies: list) -> str | None:
    """The first strategy that trains a network of its own."""
    return next((s for s in strategies if not style.trains_backbone(s)), None)


def gallery_applies(predictions: pd.DataFrame) -> bool:
    """True when a predictions table has files, a baseline and another strategy."""
    if "file" not in predictions.columns or predictions["file"].isna().all():
        return False
    strategies = style.ordered_strategies(predictions["strategy"])
    return _baseline(strategies) is not None and len(strategies) > 1


def _thumbnail(file: str, images_root) -> np.ndarray | None:
    path = Path(file).expanduser()
    if not path.is_absolute() and images_root is not None:
        path = Path(images_root).expanduser() / path
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


@validate_params({"predictions": [frame_with("strategy", "true", "predicted", "file")],
                  "baseline": [None, str], "transfer": [None, str, list, tuple],
                  "max_images": [Interval(int, 1, None)], "images_root": [None, style.PATH],
                  "figsize": [None, style.FIGSIZE]})  # fmt: skip
@style.slide_style
def plot_gallery(predictions: pd.DataFrame, *, baseline: str | None = None, transfer=None,
                 max_images: int = 8, images_root: str | os.PathLike | None = None,
                 figsize=None) -> Figure:  # fmt: skip
    """Show test photos that most runs of ``baseline`` (from scratch) get wrong and most runs
    of a ``transfer`` strategy get right, with what each predicted.

    ``baseline``: default the first strategy that trains a network of its own; ``transfer``: default
    the others. Relative ``file`` paths start from ``images_root``."""
    predictions, _ = style.largest_training_set(predictions)
    strategies = style.ordered_strategies(predictions["strategy"])
    baseline = _baseline(strategies) if baseline is None else baseline
    if baseline is None:
        rule = f"a strategy of the table {strategies}"
        hint = "None of them trains a network of its own: name one."
        raise invalid_parameter("baseline", "plot_gallery", rule, None, hint)
    transfer = [transfer] if isinstance(transfer, str) else transfer
    fixed = fixed_by_transfer(predictions, baseline, transfer)
    others = [c[: -len("_right")] for c in fixed.columns if c.endswith("_right")]
    others = [s for s in strategies if s in others]
    # Each seed draws its own split: a photo's verdicts count the runs that tested it.
    runs = predictions.groupby(["strategy", "file"]).size()
    # One class after another (surest mistakes first within each), not one class only.
    turn = fixed.groupby("true", sort=False).cumcount()
    shown = fixed.assign(turn=turn).sort_values("turn", kind="stable").head(max_images)
    title = (
        f"Test photos {_lower(strategy_label(baseline))} gets wrong and "
        f"{' / '.join(_lower(strategy_label(s)) for s in others)} gets right "
        f"({len(fixed)} photo{'s' if len(fixed) != 1 else ''}"
        f"{f', {len(shown)} shown' if len(shown) < len(fixed) else ''})"
    )
    if shown.empty:
        fig, axes = style.new_figure(figsize or (10, 3))
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, "No test photo qualifies.", ha="center", fontsize=14)
        fig.suptitle(style.wrap_to_width(title, fig.get_figwidth(), style.TITLE_FONTSIZE))
        return fig
    columns = min(_COLUMNS, len(shown))
    rows, lines = -(-len(shown) // columns), 1 + len(others)
    longest = max(len(strategy_label(s)) for s in [baseline, *others])
    # A verdict line: the label plus about 30 characters at 10 pt (0.075 in each).
    width = max(3.5, 0.075 * (longest + 30))
    figsize = figsize or (width * columns, rows * (2.8 + 0.4 * lines) + 0.8)
    fig, axes = style.new_figure(figsize, rows, columns)
    for ax in axes.flat[len(shown) :]:
        ax.axis("off")
    for ax, (_, photo) in zip(axes.flat, shown.iterrows(), strict=False):
        # Not ax.axis("off"): the verdicts are the x label, kept clear of the next row.
        _hide_frame(ax)
        picture = _thumbnail(photo["file"], images_root)
        if picture is None:
            ax.text(0.5, 0.5, f"not found:\n{Path(photo['file']).name}", ha="center",
                    va="center", fontsize=10, transform=ax.transAxes)  # fmt: skip
        else:
            ax.imshow(picture)
        ax.set_title(str(photo["true"]), fontsize=13, fontweight="bold")
        file = photo["file"]
        verdicts = [("✗", baseline, photo["baseline_predicted"], 1 - photo["baseline_wrong"])]
        for name in others:
            right = photo[f"{name}_right"]
            verdicts.append(("✓" if right > 0.5 else "✗", name, photo[f"{name}_predicted"], right))
        text = [f"{mark} {strategy_label(s)}: {guess} ({_verdict(share, runs[(s, file)])})"
                for mark, s, guess, share in verdicts]  # fmt: skip
        ax.set_xlabel("\n".join(text), fontsize=10)
    fig.suptitle(style.wrap_to_width(title, figsize[0], style.TITLE_FONTSIZE))
    return fig


_MODELS = Rule(
    lambda m: isinstance(m, keras.Model) or (isinstance(m, Mapping) and bool(m) and all(
        isinstance(v, keras.Model) for v in m.values())),
    "a keras.Model or a non-empty {strategy: model}, e.g. {'scratch': cnn, "
    "'feature_extraction': base_and_head, 'fine_tuning': fine_tuned}",
    lambda m: {"model": m} if isinstance(m, keras.Model) else dict(m))  # fmt: skip


def _class_text(index: int, class_names) -> str:
    return str(class_names[index]) if class_names is not None else f"class {index}"


def _hide_frame(ax) -> None:
    ax.set(xticks=[], yticks=[])
    ax.spines[:].set_visible(False)


@validate_params({"models": [_MODELS], "alpha": [Interval(float, 0, 1, closed="right")],
                  "figsize": [None, style.FIGSIZE]})  # fmt: skip
@style.slide_style
def plot_grad_cam(models, images, *, labels: Sequence[int] | None = None,
                  class_names: Sequence[str] | None = None, layer=None, alpha: float = 0.5,
                  figsize=None) -> Figure:  # fmt: skip
    """Draw each photo under each model's Grad-CAM heat, with its prediction and confidence.

    One row per photo (``images``: RGB 0..255), one column per model of ``{name: model}``;
    ``layer``: ``{name: layer}`` for :func:`tlcourse.grad_cam`; ✓/✗ given ``labels``.

    Example:
        >>> from tlcourse.models.classifiers import small_cnn
        >>> photos = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3))
        >>> fig = plot_grad_cam({"scratch": small_cnn(3, 32)}, photos, labels=[0, 2])
        >>> [ax.get_title() for ax in fig.axes[:2]]
        ['photo', 'From scratch']
    """
    func = "plot_grad_cam"
    images = np.asarray(images, dtype=np.float32)
    images = images[None] if images.ndim == 3 else images  # one photo
    if labels is not None and len(labels) != len(images):
        rule = f"None or one label per image ({len(images)})"
        raise invalid_parameter("labels", func, rule, f"{len(labels)} labels")
    if layer is not None and not (isinstance(layer, Mapping) and set(layer) <= set(models)):
        raise invalid_parameter("layer", func, f"None or {{name: layer}} for {list(models)}", layer)
    results = {}
    for name, model in models.items():
        heat = grad_cam(model, images, layer=(layer or {}).get(name))
        probabilities = model.predict(images, verbose=0)
        if probabilities.ndim != 2:
            raise InvalidParameterError(f"{func} needs models that output one score per class; "
                                        f"{name!r} outputs shape "
                                        f"{probabilities.shape}.")  # fmt: skip
        results[name] = (heat, probabilities.argmax(axis=1), probabilities.max(axis=1))
    n, columns = len(images), 1 + len(models)
    figsize = figsize or (2.6 * columns, 2.9 * n + 0.9)
    fig, axes = style.new_figure(figsize, n, columns)
    photos = np.clip(images / 255.0, 0, 1)
    for row in range(n):
        ax = axes[row, 0]
        ax.imshow(photos[row])
        _hide_frame(ax)
        if labels is not None:
            ax.set_xlabel(f"true: {_class_text(int(labels[row]), class_names)}", fontsize=11)
        for column, (heat, predicted, confidence) in enumerate(results.values(), 1):
            ax = axes[row, column]
            ax.imshow(photos[row])
            ax.imshow(heat[row], cmap="jet", alpha=alpha, vmin=0, vmax=1)
            _hide_frame(ax)
            right = labels is not None and predicted[row] == int(labels[row])
            mark = "" if labels is None else "✓ " if right else "✗ "
            text = f"{mark}{_class_text(int(predicted[row]), class_names)} {confidence[row]:.0%}"
            ax.set_xlabel(text, fontsize=11)
    for column, name in enumerate(["photo", *results], 0):
        title = name if column == 0 else style.wrap(strategy_label(name), 16)
        axes[0, column].set_title(title, fontsize=12)
    title = "Grad-CAM: where each model finds the evidence for the class it predicts"
    fig.suptitle(style.wrap_to_width(title, figsize[0], style.TITLE_FONTSIZE))
    return fig
