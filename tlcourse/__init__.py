"""tlcourse: transfer learning, taught by measuring it.

``import tlcourse as tl``: the verbs students type are at the top level (``tl.fine_tune``...);
the figures in ``tl.plots``, the backbone registry in ``tl.backbones``, exceptions in ``tl.errors``.
Each name is imported from its home on first use (PEP 562), so that ``import tlcourse`` itself is
instant and the processes that need no TensorFlow (the grader's, ``tlcourse gradebook``) never
load it.
"""

import importlib
import warnings

__version__ = "0.1.0"

# Each top-level name and the module that is its home.
_HOMES = {
    "comparison": ["FAST_BUDGET", "Budget", "compare", "read_results", "summarize"],
    "data": ["list_datasets", "load_dataset"],
    "measure": ["co2_equivalents", "format_co2", "track"],
    "models.backbones": ["list_backbones", "load_backbone"],
    "models.classifiers": [
        "classification_head", "parameter_counts", "small_cnn", "transfer_classifier",
    ],
    "models.grad_cam": ["grad_cam"],
    "models.imagenet": ["imagenet_class_names", "predict_image_files"],
    "transfer.boundary": ["ActivationCache"],
    "transfer.diagnostics": ["check_transfer_setup"],
    "transfer.fine_tune": ["fine_tune"],
    "transfer.freezing": ["set_trainable", "trainable_summary"],
    "transfer.lr_find": ["lr_find"],
    "transfer.optimizers": ["layerwise_optimizer", "learning_rates"]}  # fmt: skip
_NAMES = {name: f"tlcourse.{home}" for home, names in _HOMES.items() for name in names}
_NAMESPACES = {"backbones": "tlcourse.models.backbones", "errors": "tlcourse.errors",
               "plots": "tlcourse.plots"}  # fmt: skip

__all__ = sorted([*_NAMES, *_NAMESPACES], key=lambda n: (not n.isupper(), n[0].islower(), n))


def __getattr__(name: str):
    home = _NAMES.get(name) or _NAMESPACES.get(name)
    if home is None:
        raise AttributeError(f"module 'tlcourse' has no attribute {name!r}")
    # TensorFlow's dependencies add warnings filters when first imported: not ours to leave.
    with warnings.catch_warnings():
        module = importlib.import_module(home)
    value = module if name in _NAMESPACES else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
