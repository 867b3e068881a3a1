"""Image classification datasets: the shipped photos and Fashion-MNIST, your folders, online sets.

A dataset is a folder with one subfolder per class (``root/cats/*.jpg``, ``root/dogs/*.jpg``).
:func:`load_dataset` decodes every image once with PIL into memory, splits the files per class
(stratified, seeded) into train / validation / test, and returns a :class:`Dataset` whose
``train``, ``val`` and ``test`` are batched ``tf.data`` pipelines ready for ``model.fit``.

Modules: ``sources`` (the named datasets, downloads), ``images`` (reading class folders,
decoding to RGB), ``idx`` (the IDX files of MNIST-like sets), ``dataset`` (the :class:`Dataset`
record), ``loading`` (:func:`load_dataset`: splits and pipelines).
"""

from tlcourse.data.dataset import SPLITS, Dataset
from tlcourse.data.idx import read_idx, write_idx
from tlcourse.data.images import IMAGE_EXTENSIONS, RESIZE_MODES, SkippedImageWarning, to_rgb
from tlcourse.data.loading import load_dataset
from tlcourse.data.sources import (
    FASHION_MNIST_CLASSES,
    MIRROR_ENV,
    DatasetSpec,
    list_datasets,
)

__all__ = [
    "FASHION_MNIST_CLASSES",
    "IMAGE_EXTENSIONS",
    "MIRROR_ENV",
    "RESIZE_MODES",
    "SPLITS",
    "Dataset",
    "DatasetSpec",
    "SkippedImageWarning",
    "list_datasets",
    "load_dataset",
    "read_idx",
    "to_rgb",
    "write_idx",
]
