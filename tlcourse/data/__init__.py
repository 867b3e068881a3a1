"""Image datasets: the shipped photos and Fashion-MNIST, your folders, sets downloaded once."""

from tlcourse.data.idx import read_idx, write_idx
from tlcourse.data.images import IMAGE_EXTENSIONS, RESIZE_MODES, SkippedImageWarning, to_rgb
from tlcourse.data.loading import SPLITS, Dataset, load_dataset
from tlcourse.data.sources import FASHION_MNIST_CLASSES, MIRROR_ENV, DatasetSpec, list_datasets

__all__ = ["FASHION_MNIST_CLASSES", "IMAGE_EXTENSIONS", "MIRROR_ENV", "RESIZE_MODES", "SPLITS",
           "Dataset", "DatasetSpec", "SkippedImageWarning", "list_datasets", "load_dataset",
           "read_idx", "to_rgb", "write_idx"]  # fmt: skip
