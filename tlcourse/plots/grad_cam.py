"""Grad-CAM side by side: the same photos as each strategy's model sees them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
from matplotlib.figure import Figure

from tlcourse.errors import InvalidParameterError, check_real, invalid_parameter
from tlcourse.gradcam import grad_cam
from tlcourse.plots.style import (
    TITLE_FONTSIZE,
    check_figsize,
    new_figure,
    slide_style,
    wrap,
    wrap_to_width,
)
from tlcourse.strategies import strategy_label

__all__ = ["plot_grad_cam"]


def _models(models) -> dict:
    if isinstance(models, keras.Model):
        return {"model": models}
    if (
        isinstance(models, Mapping)
        and models
        and all(isinstance(m, keras.Model) for m in models.values())
    ):
        return dict(models)
    raise invalid_parameter(
        "models", "plot_grad_cam",
        "a keras.Model or a non-empty {strategy: model}, e.g. {'scratch': cnn, "
        "'feature_extraction': base_and_head, 'fine_tuning': fine_tuned}",
        type(models).__name__,
    )  # fmt: skip


def _class_text(index: int, class_names) -> str:
    return str(class_names[index]) if class_names is not None else f"class {index}"


def _hide_frame(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


@slide_style
def plot_grad_cam(
    models,
    images,
    *,
    labels: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    layer=None,
    alpha: float = 0.5,
    figsize=None,
) -> Figure:
    """Draw the same photos under each model, with its Grad-CAM heat, prediction and confidence.

    One row per photo: the photo, then one column per model with the heat of
    :func:`tlcourse.grad_cam` over the photo (bright: where the evidence for the predicted
    class is), and below it the predicted class and its probability (✓ or ✗ when ``labels``
    are given). The columns are named by the strategy labels of the registry (any other key
    as given), so ``{"scratch": ..., "feature_extraction": ..., "fine_tuning": ...}`` puts
    the lecture's three strategies side by side.

    Args:
        models: a keras.Model or ``{name: model}``; each takes the images as they are. For
            feature extraction pass the base and the head together
            (``tl.transfer_classifier(base, num_classes, head=head)``), not the head alone.
        images: ``(n, height, width, 3)``, RGB 0..255 (``data.as_arrays("test")[0][:4]``).
        labels: the true class of each photo; None draws no ✓/✗. Defaults to None.
        class_names: names of the classes (``data.class_names``); None writes indices.
            Defaults to None.
        layer: the feature map, as :func:`tlcourse.grad_cam` takes it: None (found), or
            ``{name: layer}`` per model. Defaults to None.
        alpha: opacity of the heat over the photo, in (0, 1]. Defaults to 0.5.
        figsize: figure size in inches; None gives 2.6 in per photo. Defaults to None.

    Returns:
        The figure: one row of axes per photo, the photo then one column per model.

    Raises:
        InvalidParameterError: bad ``models``, ``images``, ``labels``, ``layer``, ``alpha``
            or ``figsize``; and what :func:`tlcourse.grad_cam` refuses.

    Example:
        >>> import numpy as np
        >>> from tlcourse.models import small_cnn
        >>> photos = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3))
        >>> fig = plot_grad_cam({"scratch": small_cnn(3, 32)}, photos, labels=[0, 2])
        >>> [ax.get_title() for ax in fig.axes[:2]]
        ['photo', 'From scratch']
    """
    func = "plot_grad_cam"
    models = _models(models)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or not len(images):
        raise invalid_parameter(
            "images", func, "an array of images (n, height, width, 3)", f"shape {images.shape}"
        )
    if labels is not None and len(labels) != len(images):
        raise invalid_parameter(
            "labels", func, f"None or one label per image ({len(images)})", f"{len(labels)} labels"
        )
    if layer is not None and not (isinstance(layer, Mapping) and set(layer) <= set(models)):
        raise invalid_parameter("layer", func, f"None or {{name: layer}} for {list(models)}", layer)
    alpha = check_real("alpha", alpha, func, low=0, high=1, low_open=True)
    figsize = check_figsize(figsize, func, none_ok=True)
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
            mark = ""
            if labels is not None:
                mark = "✓ " if predicted[row] == int(labels[row]) else "✗ "
            text = f"{mark}{_class_text(int(predicted[row]), class_names)} {confidence[row]:.0%}"
            ax.set_xlabel(text, fontsize=11)
    for column, name in enumerate(["photo", *results], 0):
        title = name if column == 0 else wrap(strategy_label(name), 16)
        axes[0, column].set_title(title, fontsize=12)
    title = "Grad-CAM: where each model finds the evidence for the class it predicts"
    fig.suptitle(wrap_to_width(title, figsize[0], TITLE_FONTSIZE))
    return fig
