"""The preprocessing layer every backbone carries inside its model.

Keeping preprocessing in the model (not in a ``preprocess_input`` the user must remember) removes
the classic silent bugs: forgetting it, or applying it twice.
"""

from __future__ import annotations

import keras
from keras import ops

from tlcourse.errors import check_choice

__all__ = ["MODES", "ImagePreprocessing"]

# ImageNet channel means in BGR order, as keras.applications' "caffe" mode subtracts them.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

MODES = {
    "lite": "(rgb - 127) / 128, the EfficientNet-Lite convention",
    "tf": "rgb / 127.5 - 1, into [-1, 1]",
    "caffe": "RGB -> BGR, minus the ImageNet channel means, 0..255 scale",
}


@keras.saving.register_keras_serializable(package="tlcourse")
class ImagePreprocessing(keras.layers.Layer):
    """Map RGB images in 0..255 to what a backbone was trained on.

    Args:
        mode: one of ``"lite"``, ``"tf"``, ``"caffe"`` (see ``MODES``).
        **kwargs: standard layer arguments (``name``...).

    Example:
        >>> layer = ImagePreprocessing("tf")
        >>> float(layer(ops.full((1, 2, 2, 3), 255.0))[0, 0, 0, 0])
        1.0
    """

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, MODES, "ImagePreprocessing")

    def call(self, images):
        images = ops.cast(images, self.compute_dtype)
        if self.mode == "lite":
            return (images - 127.0) / 128.0
        if self.mode == "tf":
            return images / 127.5 - 1.0
        bgr = ops.flip(images, axis=-1)
        return bgr - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
