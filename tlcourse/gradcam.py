"""Grad-CAM: where in a photo a classifier finds the evidence for a class.

Grad-CAM (Selvaraju et al., 2017) weighs each channel of the last convolutional feature map by
the average gradient of the class score with respect to it, sums the weighted channels, keeps
the positive part and scales it up to the photo: bright where the evidence is.

The keras-io example (and tf-keras-vis) builds ``keras.Model(model.inputs,
[model.get_layer(name).output, model.output])``. That breaks on the models transfer learning
makes: :func:`tlcourse.transfer_classifier` nests the backbone as *one* layer between the
augmentation layers and the head, and a layer inside the backbone belongs to the backbone's own
graph, not the outer one ("Graph disconnected", tensorflow#44462, keras#16355). Here the model
is split instead: the layers before the nested model that holds the feature map run as they
are, the nested model is cut at its feature map (one sub-model returning the map and its own
output), and the layers after it run on that output. Every layer runs with ``training=False``:
augmentation is off and BatchNorm uses its moving statistics, as in ``predict``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from tlcourse.errors import InvalidParameterError, check_int, invalid_parameter, is_real_number

__all__ = ["feature_map_layer", "grad_cam"]

_CONVOLUTIONS = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.Conv2DTranspose,
)


def _walk(model, path=()) -> Iterator[tuple]:
    """Every layer of ``model``, nested models opened in place: ``(outer, ..., layer)`` paths."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _walk(layer, (*path, layer))
        else:
            yield (*path, layer)


def _rank(layer) -> int | None:
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError):  # a layer never called has no output
        return None


def _path_text(path) -> str:
    return "/".join(layer.name for layer in path)


def _find_path(model: keras.Model, layer, func: str) -> tuple:
    if layer is None:
        found, after_conv = None, False
        for path in _walk(model):
            after_conv = after_conv or isinstance(path[-1], _CONVOLUTIONS)
            if after_conv and _rank(path[-1]) == 4:
                found = path
        if found is None:
            raise InvalidParameterError(
                f"{func} needs a model with a convolutional feature map (a 4-D output after a "
                f"convolution); {model.name!r} has none (input shape {model.input_shape}). A "
                "head trained on cached features takes vectors: put the base and the head "
                "together first, e.g. tl.transfer_classifier(base, num_classes, head=head)."
            )
        return found
    if isinstance(layer, str):
        matches = [p for p in _walk(model) if p[-1].name == layer]
    elif isinstance(layer, keras.layers.Layer):
        matches = [p for p in _walk(model) if p[-1] is layer]
    else:
        raise invalid_parameter(
            "layer", func, "None, a layer name or a keras layer of the model", layer
        )
    if not matches:
        names = [_path_text(p) for p in _walk(model) if _rank(p[-1]) == 4]
        raise invalid_parameter(
            "layer",
            func,
            "None or a layer of the model with a 4-D output",
            getattr(layer, "name", layer),
            f"Its 4-D layers include {names[-3:]}.",
        )
    path = matches[-1]
    if _rank(path[-1]) != 4:
        raise invalid_parameter(
            "layer",
            func,
            "a layer with a 4-D output (batch, height, width, channels)",
            _path_text(path),
            f"Its output has shape {tuple(path[-1].output.shape)}.",
        )
    return path


def feature_map_layer(model: keras.Model, layer=None) -> str:
    """The feature map :func:`grad_cam` uses, as ``"outer/inner/layer"`` names.

    Args:
        model: a Keras model taking images.
        layer: a layer name or layer to use instead; None finds the last 4-D output that
            follows a convolution, inside nested models too. Defaults to None.

    Returns:
        The layer's name, preceded by the nested models that hold it.

    Raises:
        InvalidParameterError: not a model, no 4-D feature map, or a ``layer`` not in it.

    Example:
        >>> from tlcourse.models import small_cnn, transfer_classifier
        >>> feature_map_layer(small_cnn(3, image_size=32))
        'conv_3_relu'
        >>> feature_map_layer(transfer_classifier("mobilenet_v2", 3, 64, weights=None))
        'mobilenet_v2/out_relu'
    """
    if not isinstance(model, keras.Model):
        raise invalid_parameter("model", "feature_map_layer", "a keras.Model", model)
    return _path_text(_find_path(model, layer, "feature_map_layer"))


# --------------------------------------------------------------------------------------------
# The forward pass, split at the feature map
# --------------------------------------------------------------------------------------------


def _tensor_sources(value) -> list[str]:
    """Names of the layers whose tensors a serialized call argument refers to."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return [value["config"]["keras_history"][0]]
        return [name for v in value.values() for name in _tensor_sources(v)]
    if isinstance(value, list | tuple):
        return [name for v in value for name in _tensor_sources(v)]
    return []


def _chain(model: keras.Model, func: str) -> list:
    """The layers of ``model`` in call order, if each takes the previous one's output alone."""
    if isinstance(model, keras.Sequential):
        return list(model.layers)
    problem = None
    try:
        config = model.get_config()  # the graph's public description: who feeds whom
        entries = config["layers"]
        previous = None
        for entry in entries:
            nodes = entry["inbound_nodes"]
            if not nodes and previous is None:
                previous = entry["name"]  # the input layer
                continue
            if len(nodes) != 1 or _tensor_sources(nodes[0]) != [previous]:
                problem = f"layer {entry['name']!r} does not take the previous layer's output alone"
                break
            previous = entry["name"]
        outputs = config.get("output_layers") or []
        # [name, node, tensor] for one output, a list of those for several
        outputs = [outputs[0]] if outputs and isinstance(outputs[0], str) else outputs
        if problem is None and outputs != [previous]:
            problem = "it has several outputs, or its last layer is not its output"
    except Exception as error:  # a layer that cannot describe itself
        problem = f"its graph cannot be read ({type(error).__name__}: {error})"
    if problem:
        raise InvalidParameterError(
            f"{func} splits {model.name!r} at the nested model holding the feature map, which "
            f"needs a chain of layers, but {problem}. Pass layer= a layer of {model.name!r} "
            "itself (not of a model nested in it)."
        )
    by_name = {layer.name: layer for layer in model.layers}
    return [by_name[entry["name"]] for entry in entries[1:]]


def _split_forward(model: keras.Model, path: tuple, func: str):
    """``forward(images) -> (feature_map, output)``: the model cut at ``path[-1]``."""
    if len(path) == 1:
        cut = keras.Model(model.inputs, [path[0].output, model.outputs[0]])
        return lambda x: cut(x, training=False)
    inner, inner_forward = path[0], _split_forward(path[0], path[1:], func)
    chain = _chain(model, func)

    def forward(x):
        feature_map = None
        for layer in chain:
            if layer is inner:
                feature_map, x = inner_forward(x)
            else:
                x = layer(x, training=False)
        return feature_map, x

    return forward


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


def _check_images(images, model: keras.Model, func: str) -> np.ndarray:
    array = np.asarray(images) if not isinstance(images, np.ndarray) else images
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise invalid_parameter(
            "images", func, "a numeric array of images (n, height, width, 3)", type(images).__name__
        )
    if array.ndim == 3:
        array = array[None]
    expected = tuple(model.input_shape[1:])
    shape_ok = array.ndim == 4 and len(array) > 0 and len(expected) == 3
    shape_ok = shape_ok and all(
        e is None or e == a for e, a in zip(expected, array.shape[1:], strict=True)
    )
    if not shape_ok:
        wanted = "(n, " + ", ".join("any" if e is None else str(e) for e in expected) + ")"
        raise InvalidParameterError(
            f"The 'images' parameter of {func} must be an array of shape {wanted} (one image "
            f"{expected}, or n >= 1 of them) for {model.name!r}. Got shape {array.shape} "
            "instead."
        )
    return array.astype(np.float32, copy=False)


def _check_class_index(class_index, n: int, num_classes: int, func: str):
    if class_index is None:
        return None
    if is_real_number(class_index) or isinstance(class_index, str):
        value = check_int("class_index", class_index, func, low=0, high=num_classes - 1)
        return np.full(n, value)
    if isinstance(class_index, Sequence | np.ndarray) and len(class_index) == n:
        return np.array(
            [check_int("class_index", v, func, low=0, high=num_classes - 1) for v in class_index]
        )
    raise invalid_parameter(
        "class_index",
        func,
        f"None (the predicted class), an int in [0, {num_classes - 1}] or one per image ({n})",
        class_index,
    )


def _scores(output, classes):
    """The score whose gradient is taken: log-probability when the model outputs
    probabilities (better conditioned than the probability itself), else the raw output."""
    chosen = tf.gather(output, classes, axis=1, batch_dims=1)
    sums = tf.reduce_sum(output, axis=1)
    probabilities = tf.reduce_all(output >= 0) & tf.reduce_all(tf.abs(sums - 1.0) < 1e-3)
    return tf.where(probabilities, tf.math.log(chosen + 1e-12), chosen)


def _heat_function(forward, size):
    """``(images, classes or -1) -> maps`` for one model cut.

    Run eagerly: tracing the backbone's forward and backward pass as a ``tf.function`` costs
    more than the few batches a figure or a notebook explains.
    """

    def heat(batch, classes):
        with tf.GradientTape() as tape:
            feature_map, output = forward(batch)
            predicted = tf.argmax(output, axis=1, output_type=tf.int32)
            chosen = tf.where(classes < 0, predicted, classes)
            score = _scores(output, chosen)
        gradients = tape.gradient(score, feature_map)
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * feature_map, axis=-1))
        cam = tf.image.resize(cam[..., None], size, method="bilinear")[..., 0]
        peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
        return tf.math.divide_no_nan(cam, peak)

    return heat


def grad_cam(
    model: keras.Model,
    images,
    class_index=None,
    layer=None,
    *,
    batch_size: int = 32,
) -> np.ndarray:
    """Grad-CAM heat maps: where each photo holds the evidence for a class.

    Works on a plain CNN (:func:`tlcourse.small_cnn`), a backbone with its ImageNet top
    (``tl.load_backbone(..., include_top=True)``) and on transfer classifiers that nest the
    backbone as one layer (:func:`tlcourse.transfer_classifier`): see the module for how the
    model is split at its feature map. Augmentation layers are inactive and BatchNorm is in
    inference mode.

    Args:
        model: a Keras model taking images and returning class probabilities (or scores).
        images: one image ``(height, width, 3)`` or a batch ``(n, height, width, 3)``, as the
            model takes them (tlcourse models take RGB 0..255).
        class_index: the class explained: None for each image's predicted class, an int for
            the same class in every image, or one int per image. Defaults to None.
        layer: the feature map to explain, a layer name or a layer (inside nested models
            too); None takes the last 4-D output that follows a convolution (see
            :func:`feature_map_layer`). Defaults to None.
        batch_size: images per forward pass (an int >= 1). Defaults to 32.

    Returns:
        float32 array ``(n, height, width)`` in [0, 1], at the images' size; each map is
        scaled so that its maximum is 1, and is all zeros where no region raises the score.

    Raises:
        InvalidParameterError: not a model; images of the wrong shape; a model with no 4-D
            feature map (a head alone takes vectors); a class index out of range; a
            ``layer`` that is not a 4-D layer of the model.

    Example:
        >>> import numpy as np
        >>> from tlcourse.models import transfer_classifier
        >>> model = transfer_classifier("mobilenet_v2", 3, image_size=64, weights=None)
        >>> heat = grad_cam(model, np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)))
        >>> heat.shape, bool(heat.min() >= 0 and heat.max() <= 1)
        ((2, 64, 64), True)
    """
    func = "grad_cam"
    if not isinstance(model, keras.Model):
        raise invalid_parameter("model", func, "a keras.Model taking images", model)
    batch_size = check_int("batch_size", batch_size, func, low=1)
    if len(model.outputs) != 1:
        raise invalid_parameter(
            "model", func, "a model with one output (a score per class)", model.name,
            f"It has {len(model.outputs)} outputs.",
        )  # fmt: skip
    path = _find_path(model, layer, func)
    images = _check_images(images, model, func)
    num_classes = model.output_shape[-1]
    classes = _check_class_index(class_index, len(images), num_classes, func)
    heat = _heat_function(_split_forward(model, path, func), images.shape[1:3])
    if classes is None:
        classes = np.full(len(images), -1)
    maps = []
    for start in range(0, len(images), batch_size):
        batch = tf.convert_to_tensor(images[start : start + batch_size])
        chosen = tf.constant(classes[start : start + batch_size], tf.int32)
        maps.append(heat(batch, chosen).numpy())
    return np.clip(np.concatenate(maps), 0.0, 1.0).astype(np.float32)
