"""Keras model files from a submission: inspected before Keras reads them, loaded with Keras's
global settings checked afterwards.

Keras's ``safe_mode=True`` refuses the bytecode of lambdas, nothing more: a ``.keras`` file
whose ``config.json`` names a public Keras function or class is deserialised, and may run at
load time, in the checker, before the hidden tests (which then compute their reference values
under whatever global settings the model left). So, before anything is deserialised, the file
must be a small zip (:func:`.archive.zip_problem`) whose ``config.json`` is at most
:data:`MAX_CONFIG_BYTES`, and every object it names is looked at: layers that run code they
were given (``Lambda``, ``TFSMLayer``, the JAX, Flax and torch wrappers) are refused, and so is
any serialised ``function`` but Keras's activations and losses; classes come from Keras or are
ones tlcourse registers (``tlcourse>...``). Then :func:`load_model` loads it with
``safe_mode=True``, requires a ``keras.Model``, and compares Keras's global settings
(``keras.config``: float type, epsilon, image format, dtype policy...) before and after: a model
that changed any is refused and the settings are put back. The random generators of Python and
NumPy are put back after every load.
"""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path

from tlcourse.grading.archive import zip_problem

__all__ = ["MAX_CONFIG_BYTES", "config_problem", "load_model"]

MAX_CONFIG_BYTES = 16 << 20  # the transfer classifier's is 155 kB
_MAX_MEMBERS = 64
_MAX_OBJECTS = 200_000
# Layers that call code given to them (a function, a SavedModel, a JAX or torch module).
_REFUSED_CLASSES = frozenset({"Lambda", "TFSMLayer", "JaxLayer", "FlaxLayer",
                              "TorchModuleWrapper", "__lambda__"})  # fmt: skip
# Keras modules with global effects or file access: never a part of a model.
_REFUSED_MODULES = ("keras.config", "keras.utils", "keras.saving", "keras.backend",
                    "keras.callbacks", "keras.export", "keras.distribution")  # fmt: skip
# Serialised functions Keras looks up by name: only activations and losses, by these modules.
_FUNCTION_MODULES = ("builtins", "keras.activations", "keras.losses")
_NOT_MODEL_FUNCTIONS = frozenset({"get", "serialize", "deserialize"})


def _allowed_functions() -> frozenset[str]:
    import inspect

    import keras

    return frozenset(
        name for module in (keras.activations, keras.losses) for name in dir(module)
        if not name.startswith("_") and name not in _NOT_MODEL_FUNCTIONS
        and inspect.isfunction(getattr(module, name))
    )  # fmt: skip


def _object_problem(item: dict, functions: frozenset[str]) -> str | None:
    """Why one serialised object (a dict with a ``class_name``) is refused, or None."""
    class_name, module = item.get("class_name"), item.get("module")
    registered = item.get("registered_name")
    if not isinstance(class_name, str) or not isinstance(module, str | type(None)):
        return "an object with a malformed class name or module"
    if class_name in _REFUSED_CLASSES:
        return f"it holds a {class_name} layer, which runs code given to it"
    if class_name == "function":
        name = item.get("config")
        if module not in _FUNCTION_MODULES or not isinstance(name, str) or name not in functions:
            return f"it names the function {module}.{name}, not a Keras activation or loss"
        return None
    if module is None or module == "builtins":  # tensors, byte strings, slices: data
        return None
    if module.startswith(_REFUSED_MODULES):
        return f"it names {module}.{class_name}, which is not a part of a model"
    if module == "keras" or module.startswith("keras."):
        return None
    if isinstance(registered, str) and registered.startswith("tlcourse>"):
        return None  # looked up among the classes tlcourse registers, never imported
    return f"it names {module}.{class_name}, a class from outside Keras"


def config_problem(config) -> str | None:
    """Why a model's parsed ``config.json`` must not be deserialised, or None.

    Example:
        >>> config_problem({"class_name": "Sequential", "module": "keras", "config": {
        ...     "layers": [{"class_name": "Lambda", "module": "keras.layers", "config": {}}]}})
        'it holds a Lambda layer, which runs code given to it'
        >>> config_problem({"class_name": "Dense", "module": "keras.layers",
        ...                 "config": {"activation": "relu"}}) is None
        True
    """
    functions = _allowed_functions()
    stack, seen = [config], 0
    while stack:  # not recursive: a deep config cannot exhaust the stack
        item = stack.pop()
        seen += 1
        if seen > _MAX_OBJECTS:
            return f"its config holds more than {_MAX_OBJECTS:,} objects"
        if isinstance(item, dict):
            if "class_name" in item:
                problem = _object_problem(item, functions)
                if problem:
                    return problem
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _read_config(path: Path):
    problem = zip_problem(path, max_members=_MAX_MEMBERS, max_directory_bytes=1 << 20)
    if problem:
        raise ValueError(f"not a model file: {problem}")
    with zipfile.ZipFile(path) as archive:
        try:
            info = archive.getinfo("config.json")
        except KeyError:
            raise ValueError("not a model file: no config.json") from None
        if info.file_size > MAX_CONFIG_BYTES:
            raise ValueError(f"its config.json is over {MAX_CONFIG_BYTES >> 20} MiB")
        with archive.open(info) as member:
            data = member.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(f"its config.json is over {MAX_CONFIG_BYTES >> 20} MiB")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ValueError(f"its config.json is unreadable ({type(error).__name__})") from None


# keras.config's global settings, as (getter, setter) names; the dtype policy by its name.
_SETTINGS = (("floatx", "set_floatx"), ("epsilon", "set_epsilon"),
             ("image_data_format", "set_image_data_format"), ("max_epochs", "set_max_epochs"),
             ("max_steps_per_epoch", "set_max_steps_per_epoch"), ("backend", None))  # fmt: skip
_FLAGS = (
    ("is_interactive_logging_enabled", "enable_interactive_logging", "disable_interactive_logging"),
    ("is_traceback_filtering_enabled", "enable_traceback_filtering", "disable_traceback_filtering"),
)


def keras_settings() -> dict:
    """Keras's global settings that trusted computations read (``keras.config``).

    Example:
        >>> keras_settings()["floatx"]
        'float32'
    """
    import keras

    config = keras.config
    settings = {g: getattr(config, g)() for g, _ in _SETTINGS if hasattr(config, g)}
    settings |= {g: bool(getattr(config, g)()) for g, _, _ in _FLAGS if hasattr(config, g)}
    settings["dtype_policy"] = config.dtype_policy().name
    return settings


def _restore_settings(settings: dict) -> None:
    import keras

    for getter, setter in _SETTINGS:
        if setter and getter in settings:
            getattr(keras.config, setter)(settings[getter])
    for getter, enable, disable in _FLAGS:
        if getter in settings:
            getattr(keras.config, enable if settings[getter] else disable)()
    keras.config.set_dtype_policy(settings["dtype_policy"])


def load_model(path: str | Path):
    """Load a submission's ``.keras`` file after the checks the module docstring lists."""
    import keras
    import numpy as np

    problem = config_problem(_read_config(Path(path)))
    if problem:
        raise ValueError(f"this model is refused: {problem}")
    before = keras_settings()
    generators = random.getstate(), np.random.get_state()
    model, error = None, None
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as caught:  # checked below, after the settings
        error = caught
    finally:
        random.setstate(generators[0])
        np.random.set_state(generators[1])
    after = keras_settings()
    if after != before:
        _restore_settings(before)
        changed = sorted(k for k in before if before[k] != after.get(k))
        raise ValueError(f"loading this model changed Keras's global settings {changed}")
    if error is not None:
        raise error
    if not isinstance(model, keras.Model):
        raise ValueError(f"a {type(model).__name__} is not a keras.Model")
    return model
