"""Where a partly frozen classifier can be cut: its freeze boundary, the input of the first
block that trains, and the models on each side.

Below the boundary the model is a fixed function of the image, so only the part above it needs to
run at every step. A model is cut only where that is exactly the same computation; anything else
raises :class:`NoBoundaryError`, saying why."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import keras
from keras import tree

from tlcourse.errors import TLCourseError
from tlcourse.models.backbones import backbone_blocks, find_backbone
from tlcourse.models.backbones.registry import MODEL_WITH_BACKBONE
from tlcourse.models.graph import layer_chain, nested_layers
from tlcourse.validation import validate_params

__all__ = ["Boundary", "BoundaryCacheWarning", "NoBoundaryError", "depth_boundary", "find_boundary",
           "lower_model"]  # fmt: skip


class NoBoundaryError(TLCourseError, ValueError):
    """The model cannot be trained on boundary activations; the message says why."""


class BoundaryCacheWarning(UserWarning):
    """Training runs the whole model at every step, without cached activations: why."""


@dataclass(frozen=True, eq=False)
class Boundary:
    """A classifier cut at its freeze boundary.

    ``layer`` names the operation whose output is the boundary (None: the backbone's output);
    ``index`` is the first operation above it in ``backbone.operations``; ``upper`` runs from the
    boundary activations to the output, sharing ``model``'s layers, so training it trains ``model``;
    ``pre`` holds the classifier's layers before the backbone."""

    model: keras.Model
    backbone: keras.Model
    layer: str | None
    tensor: object
    index: int
    upper: keras.Model
    pre: tuple
    backbone_arguments: dict

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one image's activations, e.g. ``(5, 5, 192)``."""
        return tuple(int(d) for d in self.tensor.shape[1:])

    @property
    def frozen_weights(self) -> list:
        """The weights the activations depend on."""
        below = self.backbone.operations[: self.index]
        layers = [layer for layer, _ in self.pre] + below
        return [w for layer in layers for w in getattr(layer, "weights", [])]

    def __repr__(self) -> str:
        where = self.layer or f"{self.backbone.name} output"
        return f"Boundary(after {where!r}, activations {self.shape})"


# Layers whose call takes ``training`` but ignores it (no randomness, no statistics).
_DETERMINISTIC = (keras.layers.Resizing, keras.layers.CenterCrop, keras.layers.Rescaling)


def _differs_in_training(layer, frozen: bool = False) -> str | None:
    """Why ``layer`` computes something else in ``fit`` than in inference, or None."""
    leaves = [path[-1] for path in nested_layers(layer) if not isinstance(path[-1], keras.Model)]
    for leaf in leaves:
        if isinstance(leaf, keras.layers.BatchNormalization):
            if leaf.trainable and not frozen:
                return f"{leaf.name!r} (BatchNormalization) is trainable: it uses batch statistics"
            continue
        # Dropout, noise and random augmentation layers draw from a keras.random.SeedGenerator.
        if any(isinstance(v, keras.random.SeedGenerator) for v in vars(leaf).values()):
            return (
                f"{leaf.name!r} ({type(leaf).__name__}) is random during training "
                "(augmentation or dropout): its output changes at every epoch"
            )
        takes_training = "training" in inspect.signature(leaf.call).parameters
        if takes_training and not isinstance(leaf, _DETERMINISTIC):
            return f"{leaf.name!r} ({type(leaf).__name__}) may behave differently in training"
    return None


def _trains(layer, trainable: set[int]) -> bool:
    return any(id(w) in trainable for w in layer.weights)


def _chain(model: keras.Model, backbone: keras.Model) -> tuple[list, dict, list]:
    """``(pre, backbone call arguments, post)``, each layer with its call keyword arguments."""
    if model is backbone:
        return [], {}, []
    try:
        layers = layer_chain(model)
    except ValueError as error:
        raise NoBoundaryError(f"the classifier is not a chain of layers: {error}") from None
    index = [layer for layer, _ in layers].index(backbone)
    return layers[:index], layers[index][1], layers[index + 1 :]


def _position(items: list, item) -> int:
    return next(i for i, candidate in enumerate(items) if candidate is item)


def _cut(backbone: keras.Model, first: int, trainable: set[int]):
    """``(tensor, name or None, index)`` of a cut before ``backbone.layers[first]``."""
    layers, operations = backbone.layers, backbone.operations
    if first >= len(layers):
        return backbone.output, None, len(operations)
    # The block's input when nothing before ``first`` in it trains: residual blocks have one.
    block = next((b for b in backbone_blocks(backbone) if layers[first] in b.layers), None)
    candidates = [layers[first]]
    if block is not None and block.layers[0] is not layers[first]:
        begin = _position(layers, block.layers[0])
        if any(_trains(layer, trainable) for layer in layers[begin:first]):
            candidates.append(block.layers[0])
        else:
            candidates = [block.layers[0]]
    made_by = {id(t): i for i, op in enumerate(operations) for t in tree.flatten(op.output)}
    for candidate in candidates:
        index = _position(operations, candidate)
        if not any(getattr(op, "weights", None) for op in operations[:index]):
            raise NoBoundaryError(
                "nothing is frozen below the first layer that trains (depth='all'?): there is "
                "no frozen computation to cache"
            )
        # The tensors made below the cut (or inputs) that the operations above it use.
        crossing = {
            id(t): t for op in operations[index:] for t in tree.flatten(op.input)
            if made_by.get(id(t), -1) < index
        }  # fmt: skip
        if len(crossing) == 1:
            (tensor,) = crossing.values()
            producer = operations[made_by[id(tensor)]]
            if not isinstance(producer, keras.layers.InputLayer):
                return tensor, producer.name, index
    raise NoBoundaryError(
        f"the graph of {backbone.name!r} cannot be cut at one tensor before {layers[first].name!r}"
    )


def _boundary(model, backbone, first: int, trainable: set[int], frozen: bool) -> Boundary:
    pre, arguments, post = _chain(model, backbone)
    for layer, _ in pre:
        if _trains(layer, trainable):
            raise NoBoundaryError(f"{layer.name!r}, before the backbone, trains")
        if reason := _differs_in_training(layer):
            raise NoBoundaryError(reason)
    tensor, name, index = _cut(backbone, first, trainable)
    for op in backbone.operations[:index]:
        if reason := isinstance(op, keras.layers.Layer) and _differs_in_training(op, frozen):
            raise NoBoundaryError(reason)
    x = inputs = keras.Input(tensor.shape[1:], name="boundary_activations")
    if name is not None:
        try:
            above = keras.Model(tensor, backbone.output, name=f"{backbone.name}_above_boundary")
        except ValueError as error:  # e.g. "Graph disconnected"
            raise NoBoundaryError(f"Keras cannot build the part above {name!r}: {error}") from None
        x = above(x, **arguments)
    for layer, kwargs in post:
        x = layer(x, **kwargs)
    upper = keras.Model(inputs, x, name=f"{model.name}_above_boundary")
    return Boundary(model, backbone, name, tensor, index, upper, tuple(pre), arguments)


@validate_params({"model": [MODEL_WITH_BACKBONE]})
def find_boundary(model: keras.Model) -> Boundary:
    """Cut ``model`` at its freeze boundary, as its trainable flags set it.

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
        tlcourse.transfer.boundary.cut.NoBoundaryError: 'augment_flip' (RandomFlip) is random ...
    """
    backbone, _ = find_backbone(model)
    trainable = {id(w) for w in model.trainable_weights}
    layers = backbone.layers
    first = next((i for i, layer in enumerate(layers) if _trains(layer, trainable)), len(layers))
    return _boundary(model, backbone, first, trainable, frozen=False)


def depth_boundary(backbone: keras.Model, depth: int) -> Boundary:
    """The boundary of ``backbone`` when its last ``depth`` blocks train (flags untouched)."""
    blocks, layers = backbone_blocks(backbone), backbone.layers
    first = len(layers) if depth == 0 else _position(layers, blocks[-depth].layers[0])
    trainable = {id(w) for layer in layers[first:] for w in layer.weights}
    return _boundary(backbone, backbone, first, trainable, frozen=True)


def lower_model(*boundaries: Boundary) -> keras.Model:
    """One model from the classifier's input to the activations of every boundary given."""
    first = boundaries[0]
    outputs = [b.tensor for b in boundaries]
    below = keras.Model(first.backbone.input, outputs[0] if len(outputs) == 1 else outputs)
    x = inputs = keras.Input(first.model.input_shape[1:], name="image")
    for layer, kwargs in first.pre:
        x = layer(x, **kwargs)
    return keras.Model(inputs, below(x, **first.backbone_arguments), name="below_boundary")
