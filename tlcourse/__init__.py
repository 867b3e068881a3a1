"""tlcourse: transfer learning, taught by measuring it.

The public API is flat: ``import tlcourse as tl`` then ``tl.load_backbone(...)``,
``tl.set_trainable(...)``, ``tl.compare(...)``.
"""

import warnings

# TensorFlow's dependencies (urllib3, requests, numpy) add warnings filters when first imported:
# imported here inside catch_warnings, so that `import tlcourse` leaves the filters as it found
# them.
with warnings.catch_warnings():
    import tensorflow  # noqa: F401

from tlcourse.backbones import (
    BackboneSpec,
    Block,
    backbone_blocks,
    find_backbone,
    get_spec,
    list_backbones,
    load_backbone,
)
from tlcourse.boundary import ActivationCache
from tlcourse.comparison import (
    FAST_BUDGET,
    Budget,
    compare,
    read_predictions,
    read_results,
    summarize,
)
from tlcourse.data import (
    IMAGE_EXTENSIONS,
    Dataset,
    SkippedImageWarning,
    list_datasets,
    load_dataset,
)
from tlcourse.deployment import deployment_columns, deployment_table
from tlcourse.diagnostics import SetupProblem, TransferSetupError, check_transfer_setup
from tlcourse.error_analysis import confusion_matrix, prediction_table
from tlcourse.errors import (
    DatasetError,
    InvalidParameterError,
    TLCourseError,
    UnsafeWeightsFileError,
    WeightsUnavailableError,
)
from tlcourse.finetune import FineTuneHistory, fine_tune
from tlcourse.freezing import recompile, set_trainable, trainable_summary
from tlcourse.gradcam import grad_cam
from tlcourse.groups import variable_groups
from tlcourse.imagenet import decode_predictions, imagenet_class_names, predict_image_files
from tlcourse.lr_finder import LRFindResult, lr_find
from tlcourse.models import (
    classification_head,
    parameter_counts,
    small_cnn,
    transfer_classifier,
)
from tlcourse.optimizers import layerwise_optimizer, learning_rates
from tlcourse.plots import (
    crossover_table,
    measured_crossover,
    plot_comparison,
    plot_confusion,
    plot_crossover,
    plot_data_efficiency,
    plot_deployment,
    plot_gallery,
    plot_grad_cam,
    plot_learning_curves,
    plot_learning_rates,
    plot_lr_find,
    plot_parameter_counts,
    plot_trainable_map,
    save_figure,
    write_figures,
)
from tlcourse.strategies import (
    STRATEGIES,
    Strategy,
    StrategyResult,
    list_strategies,
    register_strategy,
    unregister_strategy,
)
from tlcourse.tracking import EmissionsRecord, co2_equivalents, format_co2, track

__version__ = "0.1.0"

__all__ = [
    "FAST_BUDGET",
    "IMAGE_EXTENSIONS",
    "STRATEGIES",
    "ActivationCache",
    "BackboneSpec",
    "Block",
    "Budget",
    "Dataset",
    "DatasetError",
    "EmissionsRecord",
    "FineTuneHistory",
    "InvalidParameterError",
    "LRFindResult",
    "SetupProblem",
    "SkippedImageWarning",
    "Strategy",
    "StrategyResult",
    "TLCourseError",
    "TransferSetupError",
    "UnsafeWeightsFileError",
    "WeightsUnavailableError",
    "backbone_blocks",
    "check_transfer_setup",
    "classification_head",
    "co2_equivalents",
    "compare",
    "confusion_matrix",
    "crossover_table",
    "decode_predictions",
    "deployment_columns",
    "deployment_table",
    "find_backbone",
    "fine_tune",
    "format_co2",
    "get_spec",
    "grad_cam",
    "imagenet_class_names",
    "layerwise_optimizer",
    "learning_rates",
    "list_backbones",
    "list_datasets",
    "list_strategies",
    "load_backbone",
    "load_dataset",
    "lr_find",
    "measured_crossover",
    "parameter_counts",
    "plot_comparison",
    "plot_confusion",
    "plot_crossover",
    "plot_data_efficiency",
    "plot_deployment",
    "plot_gallery",
    "plot_grad_cam",
    "plot_learning_curves",
    "plot_learning_rates",
    "plot_lr_find",
    "plot_parameter_counts",
    "plot_trainable_map",
    "predict_image_files",
    "prediction_table",
    "read_predictions",
    "read_results",
    "recompile",
    "register_strategy",
    "save_figure",
    "set_trainable",
    "small_cnn",
    "summarize",
    "track",
    "trainable_summary",
    "transfer_classifier",
    "unregister_strategy",
    "variable_groups",
    "write_figures",
]
