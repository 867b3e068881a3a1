"""The private Keras state tlcourse reads is still where tlcourse reads it (fails on an upgrade
that moves it), and nothing else in the package reaches into private framework internals."""

import re
from pathlib import Path

import keras
import numpy as np

import tlcourse
from tlcourse.keras_private import (
    all_layers,
    compile_arguments,
    compiled_flags,
    set_compiled_flags,
    variable_index,
)

PACKAGE = Path(tlcourse.__file__).parent


def small_model():
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="inner_dense")])
    return keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(1, name="dense")])


def test_compile_arguments_are_the_objects_compile_was_given():
    model = small_model()
    assert compile_arguments(model) is None and compiled_flags(model) is None
    loss = keras.losses.MeanSquaredError()
    model.compile(optimizer="sgd", loss=loss, metrics=["mae"])
    arguments = compile_arguments(model)
    assert arguments["loss"] is loss and arguments["metrics"] == ["mae"]


def test_compiled_flags_record_trainable_at_compile_time_and_can_be_set():
    model = small_model()
    model.compile(optimizer="sgd", loss="mse")
    dense = model.get_layer("dense")
    assert compiled_flags(model)[dense] is True
    dense.trainable = False  # not recompiled: the record keeps the flag of compile time
    assert compiled_flags(model)[dense] is True
    set_compiled_flags(model, {layer: layer.trainable for layer in all_layers(model)})
    assert compiled_flags(model)[dense] is False


def test_all_layers_include_the_model_and_nested_layers():
    model = small_model()
    names = [layer.name for layer in all_layers(model)]
    assert names[0] == model.name
    assert {"inner_dense", "dense"} <= set(names)


def test_variable_index_is_the_position_in_the_optimizer_and_keras_documents_it():
    assert "self._get_variable_index(variable)" in keras.optimizers.Optimizer.__doc__
    variables = [keras.Variable(np.zeros(2)), keras.Variable(np.ones(3))]
    optimizer = keras.optimizers.SGD()
    optimizer.build(variables)
    assert [variable_index(optimizer, v) for v in variables] == [0, 1]
    assert variable_index(optimizer, variables[1].value) == 1  # the raw backend variable


PRIVATE = re.compile(
    r"\._compile_config|\._compiled_trainable_state|\._get_variable_index|\._flatten_layers"
    r"|keras\.src|tf\.compat|tf\.__internal__|sys\._getframe|\bgc\.(disable|freeze|set_threshold)"
)


def test_no_other_module_reads_private_framework_internals():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "keras_private.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PRIVATE.search(line) and not line.lstrip().startswith(("#", ">>>"))
    ]
    assert offenders == []
