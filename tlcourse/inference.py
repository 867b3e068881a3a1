"""One traced forward pass per model, for every batch size: predictions without Keras's loop.

Scoring a split, validating after an epoch and computing features call a model on a few
batches. Each way Keras offers costs more than those batches: ``predict`` makes an iterator
and callbacks at every call; ``predict_on_batch`` traces again for each new batch size (the
test split after the validation split, a split's short last batch: 1.3 s for
efficientnet_lite0 at 160 px); and a model called eagerly costs about 1 ms of Python per layer
(34 ms against 12 ms traced for the small CNN on the 36 validation photos, at every epoch).
:func:`inference_function` traces ``model(x, training=False)`` once per model, the batch
dimension left open, and keeps it as long as the model lives.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import keras
import tensorflow as tf

from tlcourse.errors import invalid_parameter

__all__ = ["inference_function", "predict_batches"]

# Keyed by the model itself; the functions hold it weakly, so a model still goes with its last
# reference (and its traced graph with it).
_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def inference_function(model: keras.Model) -> Callable:
    """``model(x, training=False)`` as a traced function, traced once for every batch size.

    Args:
        model: a Keras model with one input.

    Returns:
        ``infer(x) -> outputs`` (tensors, as the model returns them). ``x`` is cast to the
        model's input dtype, as Keras does (uint8 images into a float32 model).

    Raises:
        InvalidParameterError: ``model`` is not a Keras model with one input.

    Example:
        >>> import numpy as np
        >>> from tlcourse.models import classification_head
        >>> head = classification_head(4, 2)
        >>> infer = inference_function(head)
        >>> infer(np.ones((3, 4))).shape, infer(np.ones((5, 4))).shape
        (TensorShape([3, 2]), TensorShape([5, 2]))
        >>> inference_function(head) is infer
        True
    """
    function = _FUNCTIONS.get(model) if isinstance(model, keras.Model) else None
    if function is None:
        function = _traced(model)
        _FUNCTIONS[model] = function
    return function


def _traced(model) -> Callable:
    inputs = getattr(model, "inputs", None) if isinstance(model, keras.Model) else None
    if not inputs or len(inputs) != 1:
        raise invalid_parameter(
            "model", "inference_function", "a built Keras model with one input", model
        )
    shape, dtype = (None, *inputs[0].shape[1:]), tf.as_dtype(inputs[0].dtype)
    owner = weakref.ref(model)
    forward = tf.function(
        lambda x: owner()(x, training=False), input_signature=[tf.TensorSpec(shape, dtype)]
    )

    def infer(x):
        return forward(tf.cast(x, dtype))

    infer.traced = forward  # its tracing count is what a test checks
    return infer


def predict_batches(model: keras.Model, inputs, batch_size: int = 64):
    """The model's outputs for ``inputs`` (an array), batch by batch, as one NumPy array.

    Args:
        model: a Keras model with one input and one output.
        inputs: an array (or tensor) of inputs, at least one.
        batch_size: inputs per call. Defaults to 64.

    Returns:
        The outputs, concatenated in the order of ``inputs``.

    Example:
        >>> import numpy as np
        >>> from tlcourse.models import classification_head
        >>> predict_batches(classification_head(4, 2), np.ones((70, 4)), batch_size=32).shape
        (70, 2)
    """
    infer = inference_function(model)
    starts = range(0, len(inputs), batch_size)
    return tf.concat([infer(inputs[i : i + batch_size]) for i in starts], axis=0).numpy()
