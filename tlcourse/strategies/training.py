"""Training steps the strategies share: compile, fit, score, count what trains.

Every strategy compiles with the same loss and metric, fits without Keras's progress bar and
scores the test split the same way (:func:`score`: accuracy and loss from the very
probabilities written to ``predictions.csv``), so their numbers are comparable.
"""

from __future__ import annotations

import keras
import numpy as np

from tlcourse.inference import predict_batches

__all__ = [
    "DirectValidation",
    "compile_classifier",
    "evaluate",
    "fit",
    "join_histories",
    "score",
    "trainable_count",
]


def compile_classifier(model: keras.Model, optimizer) -> keras.Model:
    """Compile ``model`` for integer labels (sparse cross-entropy, accuracy) and return it.

    Args:
        model: a classifier ending in a softmax.
        optimizer: a Keras optimizer.

    Returns:
        ``model``, compiled.

    Example:
        >>> from tlcourse.models import classification_head
        >>> head = compile_classifier(classification_head(8, 2), keras.optimizers.Adam(1e-3))
        >>> head.loss
        'sparse_categorical_crossentropy'
    """
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(
    model, train, val, epochs: int, initial_epoch: int = 0, batch_size=None, callbacks=()
) -> dict:
    """Train ``epochs`` more epochs, silently; return the history of those epochs.

    Args:
        model: a compiled model.
        train: a ``tf.data`` pipeline (already shuffled per epoch, seeded) or ``(x, y)`` arrays
            (shuffled by ``fit``).
        val: validation data: ``(x, y)`` arrays, scored at the end of every epoch through the
            model's traced forward pass (:class:`DirectValidation`); or anything
            ``fit(validation_data=...)`` takes; or None.
        epochs: epochs to train.
        initial_epoch: epochs already done (the history's x axis continues from there).
            Defaults to 0.
        batch_size: batch size for arrays; ignored for a pipeline. Defaults to None.
        callbacks: Keras callbacks (e.g. the context's ``callbacks``). Defaults to ().

    Returns:
        ``{metric: [value per epoch]}`` of these epochs.

    Example:
        >>> from tlcourse.models import classification_head
        >>> head = compile_classifier(classification_head(4, 2), "adam")
        >>> x, y = np.ones((8, 4), "float32"), np.array([0, 1] * 4)
        >>> history = fit(head, (x, y), (x, y), epochs=2)
        >>> sorted(history), len(history["val_loss"])
        (['accuracy', 'loss', 'val_accuracy', 'val_loss'], 2)
    """
    if isinstance(train, tuple):
        kwargs = {"x": train[0], "y": train[1], "batch_size": batch_size}
    else:
        kwargs = {"x": train}
    callbacks = list(callbacks)
    if isinstance(val, tuple) and len(val) == 2 and isinstance(val[0], np.ndarray):
        # First: the callbacks after it (progress, History) see the validation numbers.
        callbacks.insert(0, DirectValidation(*val))
        val = None
    history = model.fit(
        **kwargs,
        validation_data=val,
        epochs=initial_epoch + epochs,
        initial_epoch=initial_epoch,
        verbose=0,
        shuffle=isinstance(train, tuple),
        callbacks=callbacks,
    )
    return history.history


class DirectValidation(keras.callbacks.Callback):
    """``val_loss`` and ``val_accuracy`` at the end of every epoch, computed by :func:`score`.

    The numbers of Keras's own validation (``fit(validation_data=...)``, a test checks it):
    Keras runs ``evaluate`` every epoch, with a new iterator, its own callbacks and a traced
    test step, which cost 40-60 ms per epoch on the 36 validation photos (the forward pass
    itself about 10 ms) and a second tracing per model. :func:`score` runs the model's one
    traced forward pass (:func:`tlcourse.inference.inference_function`). An empty split adds
    nothing.

    Args:
        inputs: validation inputs (an array the model takes).
        labels: their integer labels.
        batch_size: inputs per call. Defaults to 64.

    Example:
        >>> from tlcourse.models import classification_head
        >>> head = compile_classifier(classification_head(4, 2), "adam")
        >>> x, y = np.ones((8, 4), "float32"), np.array([0, 1] * 4)
        >>> logs = head.fit(x, y, epochs=1, verbose=0,
        ...                 callbacks=[DirectValidation(x, y)]).history
        >>> logs["val_accuracy"]
        [0.5]
    """

    def __init__(self, inputs, labels, batch_size: int = 64):
        super().__init__()
        self.inputs, self.labels, self.batch_size = inputs, np.asarray(labels), batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not len(self.labels):
            return
        accuracy, loss, _ = score(self.model, self.inputs, self.labels, self.batch_size)
        logs["val_loss"], logs["val_accuracy"] = loss, accuracy


def evaluate(model: keras.Model, test) -> tuple[float, float]:
    """Return ``(accuracy, loss)`` of a compiled model on a pipeline or ``(x, y)`` arrays.

    Example:
        >>> from tlcourse.models import classification_head
        >>> head = compile_classifier(classification_head(4, 2), "adam")
        >>> accuracy, loss = evaluate(head, (np.ones((4, 4), "float32"), np.array([0, 1] * 2)))
        >>> accuracy
        0.5
    """
    if isinstance(test, tuple):
        loss, accuracy = model.evaluate(*test, verbose=0)
    else:
        loss, accuracy = model.evaluate(test, verbose=0)
    return float(accuracy), float(loss)


def score(model: keras.Model, inputs, labels, batch_size: int = 64):
    """``(accuracy, loss, probabilities)`` of a model on test inputs (arrays), in their order.

    Accuracy and loss come from the returned probabilities (the argmax against the labels, and
    the mean sparse cross-entropy as ``evaluate`` computes it), so a table of predictions
    reproduces the accuracy exactly. Empty inputs give NaN accuracy and loss.

    Args:
        model: a classifier ending in a softmax.
        inputs: what it takes (images, features or boundary activations), an array.
        labels: integer labels.
        batch_size: images per prediction batch. Defaults to 64.

    Returns:
        ``(accuracy, loss, probabilities (n, num_classes))``.

    Example:
        >>> from tlcourse.models import classification_head
        >>> head = classification_head(4, 2)
        >>> accuracy, loss, p = score(head, np.ones((4, 4), "float32"), np.array([0, 1] * 2))
        >>> accuracy, p.shape
        (0.5, (4, 2))
    """
    labels = np.asarray(labels)
    if not len(labels):
        return float("nan"), float("nan"), np.zeros((0, model.output_shape[-1]), np.float32)
    # One traced function per model (tlcourse.inference): cheaper than Keras's `predict` or an
    # eager call on a split of a few dozen images, and traced once for every batch size.
    probabilities = predict_batches(model, inputs, batch_size)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
    losses = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    return accuracy, float(keras.ops.convert_to_numpy(keras.ops.mean(losses))), probabilities


def join_histories(*histories: dict) -> dict[str, list[float]]:
    """Concatenate per-epoch histories, stage after stage, as plain floats.

    Example:
        >>> join_histories({"loss": [2.0, 1.5]}, {"loss": [1.2]})
        {'loss': [2.0, 1.5, 1.2]}
    """
    joined: dict[str, list[float]] = {}
    for history in histories:
        for key, values in history.items():
            joined.setdefault(key, []).extend(float(v) for v in values)
    return joined


def trainable_count(model: keras.Model) -> int:
    """Number of parameters ``fit`` updates (BatchNorm moving statistics never count).

    Example:
        >>> from tlcourse.models import classification_head
        >>> trainable_count(classification_head(1280, 6))
        7686
    """
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
