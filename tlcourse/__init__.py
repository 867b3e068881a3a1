"""tlcourse: transfer learning, taught by measuring it.

``import tlcourse as tl``: the verbs students type are at the top level (``tl.fine_tune``...);
the figures in ``tl.plots``, the backbone registry in ``tl.backbones``, exceptions in ``tl.errors``.
"""

import warnings

# TensorFlow's dependencies add warnings filters when first imported: not ours to leave.
with warnings.catch_warnings():
    import tensorflow  # noqa: F401

from tlcourse import errors, plots
from tlcourse.comparison import FAST_BUDGET, Budget, compare, read_results, summarize
from tlcourse.data import list_datasets, load_dataset
from tlcourse.measure import co2_equivalents, format_co2, track
from tlcourse.models import backbones
from tlcourse.models.backbones import list_backbones, load_backbone
from tlcourse.models.classifiers import (
    classification_head,
    parameter_counts,
    small_cnn,
    transfer_classifier,
)
from tlcourse.models.grad_cam import grad_cam
from tlcourse.models.imagenet import imagenet_class_names, predict_image_files
from tlcourse.transfer.boundary import ActivationCache
from tlcourse.transfer.diagnostics import check_transfer_setup
from tlcourse.transfer.fine_tune import fine_tune
from tlcourse.transfer.freezing import set_trainable, trainable_summary
from tlcourse.transfer.lr_find import lr_find
from tlcourse.transfer.optimizers import layerwise_optimizer, learning_rates

__version__ = "0.1.0"

__all__ = ["FAST_BUDGET", "ActivationCache", "Budget", "backbones",
           "check_transfer_setup", "classification_head", "co2_equivalents", "compare",
           "errors", "fine_tune", "format_co2", "grad_cam", "imagenet_class_names",
           "layerwise_optimizer", "learning_rates", "list_backbones", "list_datasets",
           "load_backbone", "load_dataset", "lr_find", "parameter_counts", "plots",
           "predict_image_files", "read_results", "set_trainable", "small_cnn",
           "summarize", "track", "trainable_summary", "transfer_classifier"]  # fmt: skip
