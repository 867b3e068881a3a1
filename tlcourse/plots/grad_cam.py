"""Grad-CAM side by side: the same photos as each strategy's model sees them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
from matplotlib.figure import Figure

from tlcourse.errors import InvalidParameterError, invalid_parameter
from tlcourse.gradcam import grad_cam
from tlcourse.plots.style import (
    FIGSIZE,
    TITLE_FONTSIZE,
    new_figure,
    slide_style,
    wrap,
    wrap_to_width,
)
from tlcourse.strategies import strategy_label
from tlcourse.validation import Interval, Rule, validate_params

__all__ = ["plot_grad_cam"]

_MODELS = Rule(
    lambda m: isinstance(m, keras.Model) or (isinstance(m, Mapping) and bool(m) and all(
        isinstance(v, keras.Model) for v in m.values())),
    "a keras.Model or a non-empty {strategy: model}, e.g. {'scratch': cnn, "
    "'feature_extraction': base_and_head, 'fine_tuning': fine_tuned}",
    lambda m: {"model": m} if isinstance(m, keras.Model) else dict(m),
)  # fmt: skip


def _class_text(index: int, class_names) -> str:
    return str(class_names[index]) if class_names is not None else f"class {index}"


def _hide_frame(ax) -> None:
    ax.set(xticks=[], yticks=[])
    ax.spines[:].set_visible(False)


@validate_params({"models": [_MODELS], "alpha": [Interval(float, 0, 1, closed="right")],
                  "figsize": [None, FIGSIZE]})  # fmt: skip
@slide_style
def plot_grad_cam(models, images, *, labels: Sequence[int] | None = None,
                  class_names: Sequence[str] | None = None, layer=None, alpha: float = 0.5,
                  figsize=None) -> Figure:  # fmt: skip
    """Draw the same photos under each model, with its Grad-CAM heat, prediction and confidence.

    One row per photo (``images``: RGB 0..255), one column per model of ``{name: model}``
    (feature extraction: the base and the head together), the heat of :func:`tlcourse.grad_cam`
    (``layer``, or ``{name: layer}``) over it, and the predicted class (✓/✗ given ``labels``).

    Example:
        >>> from tlcourse.models import small_cnn
        >>> photos = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3))
        >>> fig = plot_grad_cam({"scratch": small_cnn(3, 32)}, photos, labels=[0, 2])
        >>> [ax.get_title() for ax in fig.axes[:2]]
        ['photo', 'From scratch']
    """
    func = "plot_grad_cam"
    images = np.asarray(images, dtype=np.float32)
    images = images[None] if images.ndim == 3 else images  # one photo
    if labels is not None and len(labels) != len(images):
        raise invalid_parameter(
            "labels", func, f"None or one label per image ({len(images)})", f"{len(labels)} labels"
        )
    if layer is not None and not (isinstance(layer, Mapping) and set(layer) <= set(models)):
        raise invalid_parameter("layer", func, f"None or {{name: layer}} for {list(models)}", layer)
    results = {}
    for name, model in models.items():
        heat = grad_cam(model, images, layer=(layer or {}).get(name))
        probabilities = model.predict(images, verbose=0)
        if probabilities.ndim != 2:
            raise InvalidParameterError(
                f"{func} needs models that output one score per class; {name!r} outputs "
                f"shape {probabilities.shape}."
            )
        results[name] = (heat, probabilities.argmax(axis=1), probabilities.max(axis=1))
    n, columns = len(images), 1 + len(models)
    figsize = figsize or (2.6 * columns, 2.9 * n + 0.9)
    fig, axes = new_figure(figsize, n, columns)
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
        title = name if column == 0 else wrap(strategy_label(name), 16)
        axes[0, column].set_title(title, fontsize=12)
    title = "Grad-CAM: where each model finds the evidence for the class it predicts"
    fig.suptitle(wrap_to_width(title, figsize[0], TITLE_FONTSIZE))
    return fig
