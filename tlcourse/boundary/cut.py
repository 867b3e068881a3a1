"""Where a partly frozen classifier can be cut: its freeze boundary, and the model on each side.

With the lower blocks of a backbone frozen, BatchNorm frozen and no randomness before them
(augmentation, dropout), the frozen part is a fixed function of the image: its output, the
**boundary activations**, can be computed once per image, and only the part above the boundary
(the unfrozen blocks and the head) needs to run at every training step. The boundary is the
input of the first block that trains: :func:`find_boundary` finds it from the trainable flags of
any classifier built around a registered backbone, :func:`depth_boundary` from a depth.

A model is cut only where that is exactly the same computation: one tensor crosses from the
frozen part to the rest, every layer below it is frozen and behaves the same in training and in
inference, and the classifier is a chain of layers around the backbone. Anything else raises
:class:`NoBoundaryError`, whose message says why (callers then train the whole model).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import keras
from keras import tree

from tlcourse.backbones import backbone_blocks
from tlcourse.errors import TLCourseError, check_int, invalid_parameter
from tlcourse.groups import require_backbone

__all__ = [
    "Boundary",
    "BoundaryCacheWarning",
    "NoBoundaryError",
    "boundary_operation",
    "depth_boundary",
    "find_boundary",
    "lower_model",
]


class NoBoundaryError(TLCourseError, ValueError):
    """The model cannot be trained on boundary activations; the message says why."""


class BoundaryCacheWarning(UserWarning):
    """Training runs the whole model at every step, without the boundary cache: why."""


@dataclass(frozen=True, eq=False)
class Boundary:
    """A classifier cut at its freeze boundary (see the module).

    Attributes:
        model: the classifier that was cut.
        backbone: its registered backbone.
        layer: name of the backbone layer whose output is the boundary; None when the whole
            backbone is frozen (the boundary is the backbone's output, the pooled features).
        tensor: the boundary, a symbolic tensor of the backbone's graph.
        index: position in ``backbone.operations`` of the first operation above the boundary
            (the same in every copy of the backbone, unlike automatic names).
        shape: shape of one image's activations, e.g. ``(5, 5, 192)``.
        upper: ``keras.Model`` from boundary activations to the classifier's output, sharing its
            layers (and so its weights) with ``model``: training it trains ``model``.
        pre: the classifier's layers before the backbone, with their call arguments.
        backbone_arguments: the arguments the classifier calls the backbone with.
    """

    model: keras.Model
    backbone: keras.Model
    layer: str | None
    tensor: object
    index: int
    shape: tuple[int, ...]
    upper: keras.Model
    pre: tuple
    backbone_arguments: dict

    @property
    def lower(self) -> keras.Model:
        """``keras.Model`` from the classifier's input to the boundary (the frozen part)."""
        return lower_model(self)

    def __repr__(self) -> str:
        where = self.layer or f"{self.backbone.name} output"
        return f"Boundary(after {where!r}, activations {self.shape})"


# ---------------------------------------------------------------------------------------------
# Layers: what may sit below a boundary


def _leaves(layer: keras.layers.Layer) -> list:
    # Keras' own traversal (as tlcourse.freezing does), so nested layers are reached too.
    return [s for s in layer._flatten_layers(include_self=True, recursive=True) if not s._layers]


def _is_random(layer) -> bool:
    return bool(getattr(layer, "_seed_generators", None))


def _differs_in_training(layer: keras.layers.Layer, frozen: bool = False) -> str | None:
    """Why ``layer`` computes something else during ``fit`` than in inference, or None.

    ``frozen``: judge it as ``set_trainable`` leaves it below the boundary (BatchNorm frozen).
    """
    for leaf in _leaves(layer):
        if isinstance(leaf, keras.layers.BatchNormalization):
            if leaf.trainable and not frozen:
                return f"{leaf.name!r} (BatchNormalization) is trainable: it uses batch statistics"
            continue
        if _is_random(leaf):
            return (
                f"{leaf.name!r} ({type(leaf).__name__}) is random during training "
                "(augmentation or dropout): its output changes at every epoch"
            )
        takes_training = "training" in inspect.signature(leaf.call).parameters
        if takes_training and not isinstance(leaf, _DETERMINISTIC):
            return f"{leaf.name!r} ({type(leaf).__name__}) may behave differently in training"
    return None


# Layers whose call takes ``training`` but ignores it (no randomness, no statistics).
_DETERMINISTIC = (keras.layers.Resizing, keras.layers.CenterCrop, keras.layers.Rescaling)


def _trains(layer: keras.layers.Layer, trainable: set[int]) -> bool:
    """True if ``fit`` of the model whose trainable weights are ``trainable`` updates it."""
    return any(id(w) in trainable for w in layer.weights)


# ---------------------------------------------------------------------------------------------
# The classifier around the backbone: a chain of layers


def _graph_node(model: keras.Model, layer: keras.layers.Layer):
    """The node of ``layer`` inside ``model``'s graph (a layer may be used by several models)."""
    nodes = [
        node
        for index, node in enumerate(layer._inbound_nodes)
        if f"{id(layer)}_ib-{index}" in model._nodes
    ]
    return nodes[0] if len(nodes) == 1 else None


def _chain(model: keras.Model, backbone: keras.Model) -> tuple[list, dict, list]:
    """``(pre, backbone call arguments, post)``: the layers around the backbone, in order.

    Each of ``pre`` and ``post`` is a list of ``(layer, call keyword arguments)``.
    """
    if model is backbone:
        return [], {}, []
    if isinstance(model, keras.Sequential):
        layers = [(layer, {}) for layer in model.layers]
    else:
        layers, previous = [], list(model.inputs)
        for layer in model.layers:
            node = _graph_node(model, layer)
            if node is None:
                raise NoBoundaryError(f"layer {layer.name!r} is used more than once")
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if [id(t) for t in node.arguments.keras_tensors] != [id(t) for t in previous]:
                raise NoBoundaryError(
                    f"the classifier is not a chain of layers: {layer.name!r} does not take the "
                    "output of the layer before it (alone)"
                )
            layers.append((layer, dict(node.arguments.kwargs)))
            previous = list(node.outputs)
        if [id(t) for t in model.outputs] != [id(t) for t in previous]:
            raise NoBoundaryError("the classifier's output is not its last layer's")
    index = [layer for layer, _ in layers].index(backbone)
    return layers[:index], layers[index][1], layers[index + 1 :]


# ---------------------------------------------------------------------------------------------
# The backbone: one tensor from the frozen part to the rest


def _crossing(operations: list, start: int) -> list:
    """The tensors made before ``operations[start]`` (or graph inputs) used from it on.

    Operations, not layers: a graph also holds plain ops (``x + 3.0`` in MobileNetV3's hard
    sigmoid) that are in no layer list.
    """
    made_by = {id(t): i for i, op in enumerate(operations) for t in tree.flatten(op.output)}
    crossing = {}
    for op in operations[start:]:
        for tensor in tree.flatten(op.input):
            if made_by.get(id(tensor), -1) < start:
                crossing[id(tensor)] = tensor
    return list(crossing.values())


def _block_start(backbone: keras.Model, layer: keras.layers.Layer) -> keras.layers.Layer | None:
    for block in backbone_blocks(backbone):
        if any(member is layer for member in block.layers):
            return block.layers[0]
    return None


def _position(operations: list, layer) -> int:
    return next(i for i, op in enumerate(operations) if op is layer)


def _cut(backbone: keras.Model, first: int, trainable: set[int]):
    """``(tensor, name or None, index)`` of a cut before ``backbone.layers[first]``.

    ``backbone.operations[:index]`` are below the cut, and ``name`` is the operation making the
    boundary (None: the backbone's output). ``trainable`` holds the ids of the weights that
    train.
    """
    layers, operations = backbone.layers, backbone.operations
    if first >= len(layers):
        return backbone.output, None, len(operations)
    # The input of the block when nothing before ``first`` in its block trains: one cut per
    # block whatever layer of it trains first, and residual blocks have one input.
    start = _block_start(backbone, layers[first])
    candidates = [layers[first]]
    if start is not None and start is not layers[first]:
        begin = _position(layers, start)
        if not any(_trains(layer, trainable) for layer in layers[begin:first]):
            candidates = [start]
        else:
            candidates.append(start)
    for candidate in candidates:
        index = _position(operations, candidate)
        if not any(getattr(op, "weights", None) for op in operations[:index]):
            raise NoBoundaryError(
                "nothing is frozen below the first layer that trains (depth='all'?): there is "
                "no frozen computation to cache"
            )
        tensors = _crossing(operations, index)
        if len(tensors) == 1:
            made = tensors[0]
            producer = next(
                op for op in operations if any(t is made for t in tree.flatten(op.output))
            )
            if isinstance(producer, keras.layers.InputLayer):
                continue
            return made, producer.name, index
    raise NoBoundaryError(
        f"the graph of {backbone.name!r} cannot be cut at one tensor before {layers[first].name!r}"
    )


def _check_below(backbone: keras.Model, index: int, frozen: bool = False) -> None:
    for op in backbone.operations[:index]:
        if isinstance(op, keras.layers.Layer):
            reason = _differs_in_training(op, frozen)
            if reason:
                raise NoBoundaryError(reason)


def boundary_operation(backbone: keras.Model, name: str | None):
    """The operation of ``backbone`` whose output is the boundary ``name`` (None: the output).

    A boundary may be a plain op that is no layer, so ``get_layer`` cannot always find it.

    Example:
        >>> from tlcourse import load_backbone
        >>> base = load_backbone("efficientnet_lite0", input_shape=(32, 32, 3))
        >>> boundary_operation(base, "block_13_add").name
        'block_13_add'
    """
    if name is None:
        return backbone.operations[-1]
    for op in backbone.operations:
        if op.name == name:
            return op
    raise invalid_parameter(
        "name", "boundary_operation", f"an operation of {backbone.name!r}", name
    )


def _boundary(model, backbone, first: int, trainable: set[int]) -> Boundary:
    pre, arguments, post = _chain(model, backbone)
    for layer, _ in pre:
        if _trains(layer, trainable):
            raise NoBoundaryError(f"{layer.name!r}, before the backbone, trains")
        reason = _differs_in_training(layer)
        if reason:
            raise NoBoundaryError(reason)
    tensor, name, index = _cut(backbone, first, trainable)
    _check_below(backbone, index)
    shape = tuple(int(d) for d in tensor.shape[1:])
    inputs = keras.Input(shape, name="boundary_activations")
    x = inputs
    if name is not None:
        try:
            above = keras.Model(tensor, backbone.output, name=f"{backbone.name}_above_boundary")
        except ValueError as error:  # e.g. "Graph disconnected"
            raise NoBoundaryError(f"Keras cannot build the part above {name!r}: {error}") from None
        x = above(x, **arguments)
    for layer, kwargs in post:
        x = layer(x, **kwargs)
    upper = keras.Model(inputs, x, name=f"{model.name}_above_boundary")
    return Boundary(model, backbone, name, tensor, index, shape, upper, tuple(pre), arguments)


def find_boundary(model: keras.Model) -> Boundary:
    """Cut ``model`` at its freeze boundary: the input of the first backbone block that trains.

    The trainable flags decide (set them first, e.g. with :func:`tlcourse.set_trainable`); when
    no backbone layer trains, the boundary is the backbone's output (the head trains on pooled
    features).

    Args:
        model: a classifier containing a tlcourse backbone (a chain of layers around it, such
            as :func:`tlcourse.transfer_classifier` or a ``Sequential``), or the backbone.

    Returns:
        The :class:`Boundary`.

    Raises:
        InvalidParameterError: ``model`` holds no tlcourse backbone.
        NoBoundaryError: training above a boundary would not be the same computation; the
            message says why (augmentation before the backbone, dropout or trainable
            BatchNorm in the frozen part, a graph that cannot be cut at one tensor...).

    Example:
        >>> from tlcourse import set_trainable, transfer_classifier
        >>> model = transfer_classifier("efficientnet_lite0", 3, image_size=64, augment=False)
        >>> _ = set_trainable(model, 3)
        >>> find_boundary(model)
        Boundary(after 'block_13_add', activations (2, 2, 192))
        >>> flipped = transfer_classifier("efficientnet_lite0", 3, image_size=64)
        >>> _ = set_trainable(flipped, 3)
        >>> find_boundary(flipped)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tlcourse.boundary.cut.NoBoundaryError: 'augment_flip' (RandomFlip) is random during ...
    """
    backbone, _ = require_backbone(model, "find_boundary")
    trainable = {id(w) for w in model.trainable_weights}
    layers = backbone.layers
    first = next((i for i, layer in enumerate(layers) if _trains(layer, trainable)), len(layers))
    return _boundary(model, backbone, first, trainable)


def depth_boundary(backbone: keras.Model, depth: int) -> str | None:
    """The layer whose output is the boundary when the last ``depth`` blocks train.

    What :func:`find_boundary` finds after ``set_trainable(model, depth)``, without changing
    any flag: the comparison computes these activations in the same pass as the features.

    Args:
        backbone: a backbone from :func:`tlcourse.load_backbone`.
        depth: blocks that train, counted from the output (an int >= 0).

    Returns:
        The layer's name; None for depth 0 (the backbone's output).

    Raises:
        InvalidParameterError: not a backbone, or a bad ``depth``.
        NoBoundaryError: as :func:`find_boundary`.

    Example:
        >>> from tlcourse import load_backbone
        >>> depth_boundary(load_backbone("efficientnet_lite0", input_shape=(64, 64, 3)), 3)
        'block_13_add'
    """
    backbone, _ = require_backbone(backbone, "depth_boundary")
    blocks = backbone_blocks(backbone)
    depth = check_int("depth", depth, "depth_boundary", low=0, high=len(blocks))
    if depth == 0:
        return None
    first_layer = blocks[len(blocks) - depth].layers[0]
    first = next(i for i, layer in enumerate(backbone.layers) if layer is first_layer)
    # As after set_trainable: the blocks from ``first`` on train.
    trainable = {id(w) for layer in backbone.layers[first:] for w in layer.weights}
    _, name, index = _cut(backbone, first, trainable)
    _check_below(backbone, index, frozen=True)
    return name


def lower_model(*boundaries: Boundary) -> keras.Model:
    """One model from the classifier's input to the activations of every boundary given.

    Boundaries of the same classifier (e.g. the head's and the fine-tuning's) share one pass.

    Args:
        *boundaries: one or more :class:`Boundary` of the same model.

    Returns:
        A ``keras.Model`` with one output per boundary (a single output for one boundary).

    Raises:
        InvalidParameterError: no boundary, or boundaries of different models.

    Example:
        >>> from tlcourse import set_trainable, transfer_classifier
        >>> model = transfer_classifier("efficientnet_lite0", 3, image_size=64, augment=False)
        >>> head = find_boundary(model)
        >>> _ = set_trainable(model, 1)
        >>> lower_model(head, find_boundary(model)).output_shape
        [(None, 1280), (None, 2, 2, 320)]
    """
    if not boundaries or any(not isinstance(b, Boundary) for b in boundaries):
        raise invalid_parameter("boundaries", "lower_model", "one or more Boundary", boundaries)
    first = boundaries[0]
    if any(b.model is not first.model for b in boundaries):
        raise invalid_parameter("boundaries", "lower_model", "boundaries of one model", boundaries)
    backbone = first.backbone
    outputs = [b.tensor for b in boundaries]
    below = keras.Model(backbone.input, outputs[0] if len(outputs) == 1 else outputs)
    inputs = keras.Input(first.model.input_shape[1:], name="image")
    x = inputs
    for layer, kwargs in first.pre:
        x = layer(x, **kwargs)
    return keras.Model(inputs, below(x, **first.backbone_arguments), name="below_boundary")
