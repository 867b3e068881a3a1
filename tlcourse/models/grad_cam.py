"""Grad-CAM (Selvaraju et al., 2017): where in a photo a classifier finds a class's evidence.

The keras-io recipe, ``keras.Model(model.inputs, [model.get_layer(name).output, model.output])``,
fails ("Graph disconnected", keras#16355) on a transfer classifier, whose backbone is one layer with
its own graph: here the model is split at the nested backbone instead."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tlcourse.errors import InvalidParameterError
from tlcourse.models.graph import layer_chain, nested_layers
from tlcourse.validation import BATCH_SIZE, Interval, Rule, validate_params

__all__ = ["feature_map_layer", "grad_cam"]

_CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


def _walk(model) -> list[tuple]:
    """Every layer of ``model`` but the models nested in it, as paths ``(outer, ..., layer)``."""
    return [path[1:] for path in nested_layers(model) if not isinstance(path[-1], keras.Model)]


def _rank(layer) -> int | None:
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError):  # a layer never called has no output
        return None


def _path_text(path) -> str:
    return "/".join(layer.name for layer in path)


def _paths(model: keras.Model, layer) -> list[tuple]:
    return [p for p in _walk(model) if layer in (p[-1], p[-1].name)]


def _find_path(model: keras.Model, layer) -> tuple:
    """The path to ``layer``, or to the last 4-D output after a convolution."""
    if layer is not None:
        return _paths(model, layer)[-1]
    found, after_conv = None, False
    for path in _walk(model):
        after_conv = after_conv or isinstance(path[-1], _CONVOLUTIONS)
        if after_conv and _rank(path[-1]) == 4:
            found = path
    if found is None:
        raise InvalidParameterError(
            "Grad-CAM needs a model with a convolutional feature map (a 4-D output after a "
            f"convolution); {model.name!r} has none (input shape {model.input_shape}). A head "
            "trained on cached features takes vectors: put the base and the head together "
            "first, e.g. tl.transfer_classifier(base, num_classes, head=head)."
        )
    return found


def _layer_rule(arguments) -> list:
    model = arguments["model"]
    four_d = [_path_text(p) for p in _walk(model) if _rank(p[-1]) == 4]

    def ok(layer) -> bool:
        found = isinstance(layer, str | keras.layers.Layer) and _paths(model, layer)
        return bool(found) and _rank(found[-1][-1]) == 4

    rule = "a layer of the model with a 4-D output (batch, height, width, channels), or its name"
    return [None, Rule(ok, rule, hint=lambda _: f"Its 4-D layers include {four_d[-3:]}.")]


@validate_params({"model": [keras.Model], "layer": _layer_rule})
def feature_map_layer(model: keras.Model, layer=None) -> str:
    """The feature map :func:`grad_cam` uses, as ``"outer/inner/layer"``."""
    return _path_text(_find_path(model, layer))


def _split_forward(model: keras.Model, path: tuple):
    """``forward(images) -> (feature_map, output)``: the model cut at ``path[-1]``."""
    if len(path) == 1:
        cut = keras.Model(model.inputs, [path[0].output, model.outputs[0]])
        return lambda x: cut(x, training=False)
    inner, inner_forward = path[0], _split_forward(path[0], path[1:])
    try:
        chain = [layer for layer, _ in layer_chain(model)]
    except Exception as error:  # not a chain, or a layer that cannot describe itself
        raise InvalidParameterError(
            f"Grad-CAM splits {model.name!r} at the nested model holding the feature map, which "
            f"needs a chain of layers, but {error}. Pass layer= a layer of {model.name!r} "
            "itself (not of a model nested in it)."
        ) from None

    def forward(x):
        feature_map = None
        for layer in chain:
            if layer is inner:
                feature_map, x = inner_forward(x)
            else:
                x = layer(x, training=False)
        return feature_map, x

    return forward


def _images_rule(arguments) -> list:
    expected = tuple(arguments["model"].input_shape[1:])

    def batch(images) -> np.ndarray:
        array = np.asarray(images, dtype=np.float32)
        return array[None] if array.ndim == len(expected) else array

    def ok(images) -> bool:
        try:
            array = batch(images)
        except (TypeError, ValueError):  # not numbers, or ragged lists
            return False
        same = array.ndim == len(expected) + 1 and len(array) > 0
        return same and all(e in (None, a) for e, a in zip(expected, array.shape[1:], strict=True))

    wanted = "(n, " + ", ".join("any" if e is None else str(e) for e in expected) + ")"
    return [Rule(ok, f"an array of images of shape {wanted} (or one image)", batch)]


def _class_rule(arguments) -> list:
    one = Interval(int, 0, arguments["model"].output_shape[-1] - 1)
    n = len(arguments["images"])

    def per_image(value) -> bool:
        listed = isinstance(value, list | tuple | np.ndarray) and len(value) == n
        return listed and all(one.accepts(v) for v in value)

    each = Rule(per_image, f"one such int per image ({n})", lambda v: [int(c) for c in v])
    return [None, one, each]


def _heat(forward, images, classes, size):
    """The maps of a batch for ``classes`` (-1: predicted), run eagerly: figures need few."""
    with tf.GradientTape() as tape:
        feature_map, output = forward(images)
        predicted = tf.argmax(output, axis=1, output_type=tf.int32)
        chosen = tf.gather(output, tf.where(classes < 0, predicted, classes), axis=1, batch_dims=1)
        # The log of a probability is better conditioned than the probability.
        sums = tf.reduce_sum(output, axis=1)
        probabilities = tf.reduce_all(output >= 0) & tf.reduce_all(tf.abs(sums - 1.0) < 1e-3)
        score = tf.where(probabilities, tf.math.log(chosen + 1e-12), chosen)
    gradients = tape.gradient(score, feature_map)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * feature_map, axis=-1))
    cam = tf.image.resize(cam[..., None], size, method="bilinear")[..., 0]
    return tf.math.divide_no_nan(cam, tf.reduce_max(cam, axis=(1, 2), keepdims=True))


_ONE_OUTPUT = Rule(lambda m: isinstance(m, keras.Model) and len(m.outputs) == 1,
                   "a keras.Model taking images, with one output (a score per class)")  # fmt: skip


@validate_params({"model": [_ONE_OUTPUT], "images": _images_rule, "class_index": _class_rule,
                  "layer": _layer_rule, "batch_size": [BATCH_SIZE]})  # fmt: skip
def grad_cam(model: keras.Model, images, class_index=None, layer=None, *,
             batch_size: int = 32) -> np.ndarray:  # fmt: skip
    """Grad-CAM heat maps: where each photo holds the evidence for a class.

    Each channel of the feature map ``layer`` (default: the last one after a convolution) is
    weighed by the mean gradient of the class score; the positive part of the sum, scaled up to the
    photo, is bright where the evidence is. ``class_index``: None for each image's predicted class,
    an int, or one int per image. Returns float32 ``(n, height, width)`` maps, each with maximum 1.

    Example:
        >>> from tlcourse.models.classifiers import transfer_classifier
        >>> model = transfer_classifier("mobilenet_v2", 3, image_size=64, weights=None)
        >>> heat = grad_cam(model, np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)))
        >>> heat.shape, bool(heat.min() >= 0 and heat.max() <= 1)
        ((2, 64, 64), True)
    """
    forward = _split_forward(model, _find_path(model, layer))
    classes = np.broadcast_to(-1 if class_index is None else class_index, len(images))
    maps = []
    for start in range(0, len(images), batch_size):
        batch = tf.convert_to_tensor(images[start : start + batch_size])
        chosen = tf.constant(classes[start : start + batch_size], tf.int32)
        maps.append(_heat(forward, batch, chosen, images.shape[1:3]).numpy())
    return np.clip(np.concatenate(maps), 0.0, 1.0).astype(np.float32)
