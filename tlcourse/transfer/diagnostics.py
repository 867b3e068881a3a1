"""Spot the classic transfer-learning mistakes in a model before a long ``fit``."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from tlcourse.errors import InvalidParameterError, TLCourseError
from tlcourse.keras_private import compiled_flags
from tlcourse.models.backbones import find_backbone
from tlcourse.models.graph import nested_layers
from tlcourse.transfer.optimizers import is_layerwise, learning_rates
from tlcourse.validation import Interval, validate_params

__all__ = ["SetupProblem", "TransferSetupError", "check_transfer_setup"]


class TransferSetupError(TLCourseError, ValueError):
    """Raised by ``check_transfer_setup(..., raise_on_error=True)``; lists every problem."""


@dataclass(frozen=True)
class SetupProblem:
    """One mistake found in a model: a stable ``check`` identifier, ``problem`` and ``fix``."""

    check: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.problem}\n  Fix: {self.fix}"


def _names(layers) -> str:
    names = [repr(layer.name) for layer in layers]
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def _flatten(layer) -> list:
    return [path[-1] for path in nested_layers(layer)][1:]


def _nested_backbone(model) -> tuple:
    """``(backbone, spec)`` of the tlcourse backbone inside ``model``, or ``(None, None)``."""
    try:
        backbone, spec = find_backbone(model)
    except InvalidParameterError:
        return None, None
    return (None, None) if backbone is model else (backbone, spec)


def _bases(model: keras.Model) -> list[keras.Model]:
    """The pretrained part(s): the tlcourse backbone, else any model nested in ``model``."""
    try:
        return [find_backbone(model)[0]]
    except InvalidParameterError:
        return [layer for layer in model.layers if isinstance(layer, keras.Model)]


# The checks: each takes (model, num_classes) and returns a SetupProblem or None.


def _check_nothing_trainable(model, num_classes):
    if model.weights and not model.trainable_weights:
        return SetupProblem(
            "nothing_trainable",
            f"Nothing in model {model.name!r} is trainable: fit would not change a single weight.",
            "Unfreeze at least the head: tlcourse.set_trainable(model, 0) trains the head with "
            "the backbone frozen.",
        )


def _check_frozen_parent(model, num_classes):
    for base in _bases(model):
        if base.trainable:
            continue
        if flagged := [layer for layer in _flatten(base) if layer.trainable and layer.weights]:
            return SetupProblem(
                "trainable_inside_frozen_base",
                f"Layers {_names(flagged)} are marked trainable, but their parent model "
                f"{base.name!r} has trainable=False, which switches off every layer inside it: "
                "they will not train.",
                f"Set {base.name}.trainable = True first, then freeze layer by layer (or use "
                "tlcourse.set_trainable(model, depth)), and compile again.",
            )


def _check_batchnorm(model, num_classes):
    trainable_ids = {id(w) for w in model.trainable_weights}
    batchnorm = keras.layers.BatchNormalization
    for base in _bases(model):
        live = [sub for sub in _flatten(base) if isinstance(sub, batchnorm) and sub.trainable]
        if not live:
            continue
        frozen = [
            sub for sub in _flatten(base) if sub.weights and not isinstance(sub, batchnorm)
            and not any(id(v) in trainable_ids for v in sub.weights)
        ]  # fmt: skip
        where = "while other layers of it are frozen" if frozen else (
            "with the whole backbone trainable (as in the keras.io guide's last step)"
        )  # fmt: skip
        return SetupProblem(
            "batchnorm_trainable",
            f"{len(live)} BatchNormalization layer(s) of {base.name!r} are trainable "
            f"({_names(live)}) {where}. During fit they re-estimate their statistics from your "
            "small batches and shift the features the pretrained layers rely on: accuracy often "
            "drops sharply when fine-tuning starts (base(x, training=False) does not prevent it).",
            "Use tlcourse.set_trainable(model, depth), or set trainable = False on every "
            "BatchNormalization layer of the backbone and compile again (ignore this if you "
            "chose it: train_batchnorm=True with large batches, or random weights).",
        )


def _training_layers(model, flag) -> set:
    """The layers with weights that train when each layer's own flag is ``flag(layer)``."""
    return {path[-1] for path in nested_layers(model) if path[-1].weights and all(map(flag, path))}


def _check_trainable_changed(model, num_classes):
    snapshot = compiled_flags(model)
    if snapshot is None:
        return None
    then = _training_layers(model, lambda layer: snapshot.get(layer, False))
    if not (changed := then ^ _training_layers(model, lambda layer: layer.trainable)):
        return None
    return SetupProblem(
        "trainable_changed_after_compile",
        "Which layers are trainable changed after model.compile(...) (e.g. "
        f"{_names([layer for layer in _flatten(model) if layer in changed])}). Keras fixes "
        "the trainable weights at compile time: fit keeps training the old set, or fails "
        "with 'This optimizer can only be called for the variables it was originally built with'.",
        "Compile again (with a new optimizer) after every change of trainable, or use "
        "tlcourse.set_trainable(model, depth), which recompiles for you.",
    )


def _is_preprocessing(layer) -> bool:
    if isinstance(layer, keras.layers.Rescaling | keras.layers.Normalization):
        return True
    function = getattr(layer, "function", None)  # a Lambda around preprocess_input
    named = f"{layer.name} {getattr(function, '__name__', '')}".lower()
    return isinstance(layer, keras.layers.Lambda) and "preprocess" in named


def _check_double_preprocessing(model, num_classes):
    backbone, spec = _nested_backbone(model)
    before = model.layers[: model.layers.index(backbone)] if backbone else []
    if not (extra := [layer for layer in before if _is_preprocessing(layer)]):
        return None
    return SetupProblem(
        "preprocessing_twice",
        f"Layer(s) {_names(extra)} rescale or normalise the images before the backbone "
        f"{backbone.name!r}, which already preprocesses them itself ({spec.preprocessing}). "
        "The images are transformed twice, so the pretrained layers see values they were "
        "never trained on: accuracy suffers silently.",
        f"Remove {_names(extra)} and give the model RGB images with values in 0..255; tlcourse "
        "backbones preprocess inside the model.",
    )


def _check_imagenet_head(model, num_classes):
    backbone, _ = _nested_backbone(model)
    if backbone is None or "predictions" not in [layer.name for layer in backbone.layers]:
        return None
    return SetupProblem(
        "imagenet_head_kept",
        f"The backbone {backbone.name!r} still ends with its 1000-class ImageNet classifier "
        "('predictions'): your layers after it see 1000 ImageNet probabilities instead of "
        "image features.",
        f"Load it without that head: tlcourse.load_backbone({backbone.name!r}, "
        "include_top=False) (the default), then add your own Dense layer.",
    )


def _check_equal_rates(model, num_classes):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not is_layerwise(optimizer):
        return None
    try:
        rates = learning_rates(model).dropna(subset=["multiplier"])
    except TLCourseError:
        return None
    if rates["block"].nunique() < 2 or rates["multiplier"].nunique() != 1:
        return None
    return SetupProblem(
        "layerwise_rates_equal",
        f"The layer-wise optimizer trains every group ({rates['block'].nunique()} blocks and "
        f"the head) at the same learning rate ({rates['learning_rate'].iloc[0]:.3g}), so it "
        "is not discriminative: the pretrained blocks move as fast as the new head.",
        "Give it a factor > 1 (the lecture's advice: 3 to 10), e.g. "
        "layerwise_optimizer(model, base_lr, factor=3), and compile again.",
    )


def _single_output_units(model):
    outputs = getattr(model, "outputs", None)
    return tuple(outputs[0].shape) if outputs and len(outputs) == 1 else None


def _check_num_outputs(model, num_classes):
    shape = _single_output_units(model)
    if num_classes is None or shape is None:
        return None
    if len(shape) != 2:
        return SetupProblem(
            "wrong_number_of_outputs",
            f"The model outputs a tensor of shape {shape}, not one score per class: the "
            "backbone's feature map reaches the output without pooling.",
            "Use load_backbone(..., pooling='avg') (the default) or add "
            f"keras.layers.GlobalAveragePooling2D(), then keras.layers.Dense({num_classes}).",
        )
    units = shape[-1]
    if units == num_classes or (num_classes == 2 and units == 1):
        return None
    why = "the head was made for another dataset."
    return SetupProblem(
        "wrong_number_of_outputs",
        f"The model outputs {units} values per image but the data has {num_classes} classes: "
        + ("that is the ImageNet classifier's 1000 outputs." if units == 1000 else why),
        f"End the model with keras.layers.Dense({num_classes}) (or, for 2 classes, "
        "Dense(1, activation='sigmoid') with a binary cross-entropy loss).",
    )


def _final_activation(model) -> str | None:
    last = model.layers[-1] if model.layers else None
    if isinstance(last, keras.layers.Softmax):
        return "softmax"
    return getattr(getattr(last, "activation", None), "__name__", None)


def _crossentropy_from_logits(loss) -> tuple[str, bool] | None:
    if isinstance(loss, str):
        return (loss, False) if "crossentropy" in loss.lower() else None
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
        if "from_logits" in config:
            return config.get("name", type(loss).__name__), bool(config["from_logits"])
        return None
    name = getattr(loss, "__name__", "")
    return (name, False) if "crossentropy" in name else None


def _check_activation_loss(model, num_classes):
    activation = _final_activation(model)
    shape = _single_output_units(model)
    if activation == "softmax" and shape is not None and shape[-1] == 1:
        return SetupProblem(
            "softmax_single_output",
            "The last layer is a softmax over a single output, which is always 1.0: the model "
            "cannot learn anything.",
            "For two classes use Dense(1, activation='sigmoid') with "
            "loss='binary_crossentropy', or Dense(2) with a softmax and "
            "loss='sparse_categorical_crossentropy'.",
        )
    info = _crossentropy_from_logits(getattr(model, "loss", None))
    if info is None or activation is None:
        return None
    name, from_logits = info
    if activation in ("softmax", "sigmoid") and from_logits:
        return SetupProblem(
            "activation_loss_mismatch",
            f"The model ends with a {activation}, but its loss {name!r} has from_logits=True "
            f"and applies a {activation} again: the loss and its gradients are wrong and "
            "training is slow or stalls.",
            f"Either remove the {activation} (a last Dense layer without activation) and keep "
            f"from_logits=True, or keep the {activation} and use from_logits=False.",
        )
    if activation == "linear" and not from_logits:
        return SetupProblem(
            "activation_loss_mismatch",
            f"The model outputs raw scores (its last layer has no softmax or sigmoid), but its "
            f"loss {name!r} expects probabilities (from_logits=False): it clips the scores "
            "into [0, 1] and training goes wrong.",
            "Use e.g. keras.losses.SparseCategoricalCrossentropy(from_logits=True), or add "
            "activation='softmax' to the last Dense layer.",
        )


_CHECKS = (_check_nothing_trainable, _check_frozen_parent, _check_batchnorm,
           _check_trainable_changed, _check_double_preprocessing, _check_imagenet_head,
           _check_equal_rates, _check_num_outputs, _check_activation_loss)  # fmt: skip


@validate_params({"model": [keras.Model], "num_classes": [Interval(int, 2, None), None],
                  "raise_on_error": ["boolean"]})  # fmt: skip
def check_transfer_setup(model: keras.Model, num_classes: int | None = None,
                         raise_on_error: bool = False) -> list[SetupProblem]:  # fmt: skip
    """List the classic transfer-learning mistakes found in ``model``, each with its fix.

    Each :class:`SetupProblem` has a ``check`` identifier such as ``"batchnorm_trainable"`` or
    ``"wrong_number_of_outputs"`` (with ``num_classes``). With ``raise_on_error``, a
    :class:`TransferSetupError` lists every problem instead.

    Example:
        >>> from tlcourse.models.backbones import load_backbone
        >>> base = load_backbone("mobilenet_v2", weights=None, input_shape=(64, 64, 3))
        >>> base.trainable = False
        >>> layers = [keras.Input((64, 64, 3)), keras.layers.Rescaling(1 / 255), base]
        >>> model = keras.Sequential([*layers, keras.layers.Dense(5)])
        >>> [p.check for p in check_transfer_setup(model, num_classes=3)]
        ['preprocessing_twice', 'wrong_number_of_outputs']
    """
    problems = [p for check in _CHECKS if (p := check(model, num_classes)) is not None]
    if problems and raise_on_error:
        listed = "\n".join(f"{i}. {p}" for i, p in enumerate(problems, 1))
        raise TransferSetupError(
            f"check_transfer_setup found {len(problems)} problem(s) in model "
            f"{model.name!r}:\n{listed}"
        )
    return problems
