"""Discriminative learning rates for a transfer model: the head learns fast, early blocks slowly.

Fine-tuning a pretrained backbone works best when the layers that are already good (early,
generic features) move less than the layers being re-purposed (late blocks, the new head).
:func:`layerwise_optimizer` gives each trainable variable a multiplier ``factor ** -k`` (``k`` =
how many trainable groups of :func:`tlcourse.groups.variable_groups` it sits before the head)
and returns one of the ``Layerwise...`` optimizers of :mod:`tlcourse.optimizers.layerwise`,
which keeps the recipe (``factor`` or ``lr_range``, ``unit``) in its own configuration.
"""

from __future__ import annotations

import keras

from tlcourse.errors import InvalidParameterError, check_choice, invalid_parameter, is_real_number
from tlcourse.groups import HEAD, PREPROCESSING, UNITS, require_backbone, variable_groups
from tlcourse.optimizers.checks import check_factor, check_lr_range
from tlcourse.optimizers.layerwise import layerwise_class
from tlcourse.optimizers.support import _REFUSED, _SUPPORTED

__all__ = ["layerwise_optimizer"]

_FUNC = "layerwise_optimizer"


def _resolve_optimizer(optimizer) -> type:
    if isinstance(optimizer, str):
        name = optimizer.lower().replace("_", "")
        if name in _SUPPORTED:
            return _SUPPORTED[name]
        refused = {cls.__name__.lower(): cls for cls in _REFUSED}
        if name in refused:
            return layerwise_class(refused[name])  # raises, saying why
        check_choice("optimizer", optimizer, sorted(_SUPPORTED), _FUNC)
    if isinstance(optimizer, keras.Optimizer):
        raise invalid_parameter(
            "optimizer", _FUNC, "a name or an optimizer class, with its settings as keyword "
            "arguments, e.g. layerwise_optimizer(model, 1e-3, optimizer='sgd', momentum=0.9)",
            optimizer, f"That is an instance of {type(optimizer).__name__}.",
        )  # fmt: skip
    if isinstance(optimizer, type) and issubclass(optimizer, keras.Optimizer):
        return optimizer
    raise invalid_parameter(
        "optimizer",
        _FUNC,
        f"one of {sorted(_SUPPORTED)} or a keras.optimizers.Optimizer subclass",
        optimizer,
    )


def _check_base_lr(base_lr):
    if isinstance(base_lr, keras.optimizers.schedules.LearningRateSchedule):
        return base_lr
    if not (is_real_number(base_lr) and base_lr > 0):
        raise invalid_parameter(
            "base_lr", _FUNC,
            "a float > 0 or a keras.optimizers.schedules.LearningRateSchedule", base_lr,
        )  # fmt: skip
    return float(base_lr)


def _variable_owners(model: keras.Model, unit: str) -> dict[int, tuple[str, str, int | None]]:
    """``{id(variable): (layer name, group name, rank)}`` for every weight of ``model``.

    The rank orders the groups that learn more slowly than the head, input to output; the head
    has rank None. With ``unit="block"`` preprocessing shares the first block's rank (it is
    that block's input side); with ``unit="layer"`` every backbone layer is its own group.
    """
    owners: dict[int, tuple[str, str, int | None]] = {}
    next_rank = 0
    for group in variable_groups(model):
        if group.kind == HEAD:
            rank = None
        elif unit == "block":
            rank = next_rank
            next_rank += group.kind != PREPROCESSING
        for layer in group.layers:
            if group.kind != HEAD and unit == "layer":
                rank, next_rank = next_rank, next_rank + 1
            for variable in layer.weights:
                owners.setdefault(id(variable), (layer.name, group.name, rank))
    for variable in model.weights:  # a variable of the model itself, outside every layer
        owners.setdefault(id(variable), (variable.path.rsplit("/", 1)[0], HEAD, None))
    return owners


def _short_key(path: str, values: dict[str, float]) -> str:
    """The shortest ``layer/variable``-or-longer suffix of ``path`` that no other path ends with.

    Saved models keep layer and variable names but not always the leading scopes, so the key
    keeps only what identifies the variable.
    """
    parts = path.split("/")
    for start in range(max(len(parts) - 2, 0), -1, -1):
        key = "/".join(parts[start:])
        if not any(p != path and (p == key or p.endswith("/" + key)) for p in values):
            return key
    return path


def layerwise_optimizer(
    model: keras.Model,
    base_lr: float | keras.optimizers.schedules.LearningRateSchedule | None = None,
    factor: float = 3.0,
    optimizer: str | type = "adam",
    unit: str = "block",
    lr_range: tuple[float, float] | None = None,
    **optimizer_kwargs,
) -> keras.Optimizer:
    """Make an optimizer that trains the head at ``base_lr`` and earlier blocks ever slower.

    Groups are those of :func:`tlcourse.groups.variable_groups`, and only trainable ones
    count, input to output: the head (every layer outside the backbone, plus the backbone's own
    pooling/classifier layers) trains at ``base_lr``, the last trainable block at
    ``base_lr / factor``, the one before at ``base_lr / factor**2``... (the backbone's
    preprocessing layers, if ever trainable, go with the first block). Freeze and unfreeze
    first, then call this, then ``model.compile(optimizer=...)``: the optimizer knows the
    variables that were trainable when it was made, and refuses others; ``set_trainable`` and
    ``recompile`` make it again from its own ``factor``/``lr_range`` and ``unit``.

    ``optimizer.learning_rate`` is the head's (base) rate: callbacks and schedules that change
    it change every group in proportion. Decoupled weight decay scales with each group's rate.

    Args:
        model: a model containing a tlcourse backbone (see ``tlcourse.load_backbone``), with
            the parts to train set ``trainable``.
        base_lr: the head's learning rate, a float or a
            ``keras.optimizers.schedules.LearningRateSchedule``. Required unless ``lr_range`` is
            given. Defaults to None.
        factor: ratio between the rates of consecutive groups, a float >= 1 (the lecture's
            advice: 3 to 10). Ignored with ``lr_range``. Defaults to 3.0.
        optimizer: a name among ``adadelta, adagrad, adam, adamax, adamw, lamb, lion, nadam,
            rmsprop, sgd`` (case-insensitive), or a ``keras.optimizers.Optimizer`` subclass
            whose ``update_step`` uses its ``learning_rate`` argument. Defaults to ``"adam"``.
        unit: ``"block"`` (one group per backbone block, from the registry's block rules) or
            ``"layer"`` (one group per weighted layer). Defaults to ``"block"``.
        lr_range: ``(low, high)``: spread the rates geometrically from ``low`` (earliest
            trainable group) to ``high`` (head), like fast.ai's ``slice(low, high)``; replaces
            ``base_lr`` and ``factor``. Defaults to None.
        **optimizer_kwargs: passed to the optimizer class (``momentum=0.9``,
            ``weight_decay=1e-4``, ``clipnorm=1.0``...), never ``learning_rate``; also
            ``default_multiplier=m`` to train variables made trainable later at
            ``base_lr * m`` (with a warning) instead of refusing them.

    Returns:
        An instance of the ``Layerwise...`` subclass of the optimizer class (see
        :func:`~tlcourse.optimizers.layerwise_class`), with one multiplier per trainable
        variable, keyed by the shortest unique suffix of its path (``"block5_conv1/kernel"``,
        ``"dense/bias"``), and the recipe (``factor`` or ``lr_range``, ``unit``) in its
        configuration: saved with the model, and used to make it again for other blocks.

    Raises:
        InvalidParameterError: no backbone in ``model``, or no trainable variable; a bad
            ``base_lr``, ``factor``, ``lr_range``, ``unit`` or ``optimizer``; optimizer
            arguments the class refuses.

    Example:
        >>> import keras
        >>> from tlcourse.backbones import load_backbone
        >>> from tlcourse.optimizers import layerwise_optimizer, learning_rates
        >>> base = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
        >>> for layer in base.layers:
        ...     layer.trainable = layer.name.startswith(("block4", "block5"))
        >>> inputs = keras.Input((32, 32, 3))
        >>> model = keras.Model(inputs, keras.layers.Dense(3, name="head")(base(inputs)))
        >>> model.compile(layerwise_optimizer(model, 1e-3, factor=10), "mse")
        >>> print(learning_rates(model, by="block")[["block", "multiplier", "learning_rate"]])
            block  multiplier  learning_rate
        0  block4        0.01        0.00001
        1  block5        0.10        0.00010
        2    head        1.00        0.00100
        >>> model.optimizer.factor, model.optimizer.unit
        (10.0, 'block')
    """
    require_backbone(model, _FUNC)
    check_choice("unit", unit, UNITS, _FUNC)
    lr_range = check_lr_range(lr_range, _FUNC)
    if lr_range is not None:
        if base_lr is not None:
            raise invalid_parameter(
                "lr_range", _FUNC, "None when base_lr is given", lr_range,
                "lr_range's high end is the head's rate: pass either base_lr (with factor) or "
                "lr_range.",
            )  # fmt: skip
        base_lr, factor = lr_range[1], None
    elif base_lr is None:
        raise invalid_parameter(
            "base_lr", _FUNC, "a float > 0 or a LearningRateSchedule, unless lr_range is given",
            base_lr, "layerwise_optimizer needs the head's learning rate: pass base_lr (e.g. "
            "1e-3) or lr_range=(low, high).",
        )  # fmt: skip
    else:
        base_lr = _check_base_lr(base_lr)
        factor = check_factor(factor, _FUNC)
        if factor is None:
            raise invalid_parameter("factor", _FUNC, "a float >= 1", factor)
    parent = _resolve_optimizer(optimizer)
    optimizer_class = layerwise_class(parent)
    for reserved in ("learning_rate", "lr", "multipliers"):
        if reserved in optimizer_kwargs:
            raise invalid_parameter(
                reserved, _FUNC, "left out", optimizer_kwargs[reserved],
                f"layerwise_optimizer sets {reserved!r} itself: give the head's rate as base_lr "
                "(or lr_range).",
            )  # fmt: skip

    trainable = model.trainable_variables
    if not trainable:
        raise invalid_parameter(
            "model", _FUNC, "a model with a trainable variable", model,
            f"layerwise_optimizer found no trainable variable in model {model.name!r}: "
            "everything is frozen. Set layer.trainable = True on the head (and on the blocks "
            "to fine-tune) before calling it.",
        )  # fmt: skip
    # Only groups with a trainable variable count, so frozen blocks do not push the trainable
    # ones further down.
    owners = _variable_owners(model, unit)
    rank_of = {id(v): owners[id(v)][2] for v in trainable}
    used = sorted(set(rank_of.values()) - {None})
    depth = {rank: len(used) - i for i, rank in enumerate(used)}  # groups before the head
    if lr_range is not None:
        ratio = lr_range[0] / lr_range[1]
        scale = {rank: ratio ** (d / len(used)) for rank, d in depth.items()}
    else:
        scale = {rank: factor**-d for rank, d in depth.items()}
    values = {v.path: 1.0 if rank_of[id(v)] is None else scale[rank_of[id(v)]] for v in trainable}
    if len(values) < len(trainable):
        raise InvalidParameterError(
            f"Some trainable variables of model {model.name!r} share a path; give their layers "
            "distinct names."
        )
    multipliers = {_short_key(path, values): value for path, value in values.items()}
    try:
        return optimizer_class(
            learning_rate=base_lr,
            multipliers=multipliers,
            factor=factor,
            unit=unit,
            lr_range=lr_range,
            **optimizer_kwargs,
        )
    except (TypeError, ValueError) as error:
        raise InvalidParameterError(
            f"{parent.__name__} refused the arguments "
            f"{sorted(optimizer_kwargs)} passed by layerwise_optimizer: {error}"
        ) from None
