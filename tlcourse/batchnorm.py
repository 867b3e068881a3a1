"""BatchNormalization with TensorFlow's fused training kernel: the same layer, 2-3x cheaper.

Keras 3 computes BatchNormalization in training from generic operations (mean, variance, then
the normalisation, and their gradients one by one). TensorFlow has one fused kernel for the
whole step (``FusedBatchNormV3``, what Keras 2 used by default). In the scratch CNN at 160 px,
BatchNormalization was about half of each training step on these 2-core machines; the fused
kernel makes it 2-3x cheaper. Same weights, same configuration, same moving statistics (up to
float rounding): only the training step of 4-D float32 inputs on the TensorFlow backend is
fused; everything else (inference, frozen layers, masks, renorm, other backends) is Keras's own.
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["FusedBatchNormalization"]

# The fused kernel raises epsilon to this floor; below it, Keras's own code is used.
_MIN_EPSILON = 1.001e-5


@keras.saving.register_keras_serializable(package="tlcourse")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` whose training step uses TensorFlow's fused kernel.

    Takes exactly the arguments of ``keras.layers.BatchNormalization`` (see the module for
    when the fused kernel is used). Saved models keep it as ``tlcourse>FusedBatchNormalization``
    (import tlcourse before loading one).

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(2, 3, (8, 4, 4, 2)).astype("float32")
        >>> fused, plain = FusedBatchNormalization(), keras.layers.BatchNormalization()
        >>> bool(np.allclose(fused(x, training=True), plain(x, training=True), atol=1e-5))
        True
        >>> bool(np.allclose(fused.moving_variance, plain.moving_variance, atol=1e-6))
        True
    """

    def _fusable(self, inputs, training, mask) -> bool:
        return (
            training is True
            and self.trainable
            and mask is None
            and keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and self.center
            and self.scale
            and not self.renorm
            and not self.synchronized
            and self.epsilon >= _MIN_EPSILON
            and keras.backend.standardize_dtype(inputs.dtype) == "float32"
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            tf.cast(self.gamma, inputs.dtype),
            tf.cast(self.beta, inputs.dtype),
            epsilon=self.epsilon,
            is_training=True,
            exponential_avg_factor=1.0,  # the batch's statistics, as Keras computes them
        )
        # The kernel returns the unbiased variance; Keras's moving variance uses the biased one.
        count = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], variance.dtype)
        variance = variance * (count - 1.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
        )
        return outputs
