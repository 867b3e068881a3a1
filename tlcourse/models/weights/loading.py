"""Load a Keras weights file into a model, with an error that says what does not fit."""

from __future__ import annotations

import os

import keras

from tlcourse.errors import TLCourseError
from tlcourse.validation import validate_params

__all__ = ["WeightsMismatchError", "load_weights_file"]


class WeightsMismatchError(TLCourseError, ValueError):
    """Weights that do not fit a model: missing, unused, or of the wrong shape."""


@validate_params({"model": [keras.Model], "path": [str, os.PathLike]})
def load_weights_file(model: keras.Model, path: str | os.PathLike) -> None:
    """Load a ``.weights.h5`` file into ``model``; ``WeightsMismatchError`` if it does not fit."""
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
