"""Load a Keras weights file into a model, with an error that says what does not fit."""

from __future__ import annotations

import os

import keras

from tlcourse.errors import TLCourseError, invalid_parameter
from tlcourse.keras_fixes import prime_saving_skipsets

__all__ = ["WeightsMismatchError", "load_weights_file"]


class WeightsMismatchError(TLCourseError, ValueError):
    """Weights that do not fit a model: missing, unused, or of the wrong shape."""


def load_weights_file(model: keras.Model, path: str | os.PathLike) -> None:
    """Load a Keras weights file into ``model``, with an error that says what does not fit.

    Args:
        model: the model to fill.
        path: a ``.weights.h5`` file saved from a model with the same layers.

    Raises:
        InvalidParameterError: ``model`` is not a Keras model or ``path`` not a path.
        WeightsMismatchError: the file does not fit the model (other architecture, top vs no
            top) or cannot be read.

    Example:
        >>> import tempfile
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     model.save_weights(f"{folder}/dense.weights.h5")
        ...     load_weights_file(model, f"{folder}/dense.weights.h5")
    """
    func = "load_weights_file"
    if not isinstance(model, keras.Model):
        raise invalid_parameter("model", func, "a keras.Model", type(model).__name__)
    if not isinstance(path, str | os.PathLike):
        raise invalid_parameter("path", func, "a path (str or os.PathLike)", path)
    prime_saving_skipsets()  # 0.3 s less for efficientnet_lite0 (see tlcourse.keras_fixes)
    try:
        model.load_weights(os.fspath(path))
    except Exception as error:  # h5py and Keras raise many types; one clear message instead.
        top = any(layer.name == "predictions" for layer in model.layers)
        raise WeightsMismatchError(
            f"The weights file {os.fspath(path)!r} does not fit model {model.name!r} "
            f"({'with' if top else 'without'} the classifier top, {len(model.weights)} weight "
            f"tensors): {type(error).__name__}: {str(error)[:300]}. A weights file fits only a "
            "model with the same layers: check include_top and the backbone name."
        ) from error
