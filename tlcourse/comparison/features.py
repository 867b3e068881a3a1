"""Backbone features of every image, computed once and looked up by file path."""

from __future__ import annotations

import zlib
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tlcourse.errors import TLCourseError, check_choice, check_int, invalid_parameter

__all__ = ["BackboneChangedError", "FeatureCache"]

_SPLITS = ("train", "val", "test")


class BackboneChangedError(TLCourseError, RuntimeError):
    """The backbone of a :class:`FeatureCache` was trained after it computed features."""


def _fingerprint(model: keras.Model) -> int:
    checksum = 0
    for weights in model.get_weights():
        checksum = zlib.crc32(np.ascontiguousarray(weights).tobytes(), checksum)
    return checksum


class FeatureCache:
    """Backbone features of every image, computed once and looked up by file path.

    Feature extraction trains a head on these features for many epochs without running the
    backbone again. Every feature must come from the same weights: if the backbone is trained
    (fine-tuned) after the first features were computed, :meth:`add` refuses to mix the two
    networks and raises :class:`BackboneChangedError`. Give fine-tuning its own backbone.

    Args:
        backbone: the frozen backbone (pooled output), e.g. from :func:`tlcourse.load_backbone`.
        batch_size: images per prediction batch, an int >= 1. Defaults to 64.

    Raises:
        InvalidParameterError: ``backbone`` is not a Keras model, or a bad ``batch_size``.

    Example:
        >>> from tlcourse import load_backbone, load_dataset
        >>> data = load_dataset("photos", image_size=32)
        >>> cache = FeatureCache(load_backbone("efficientnet_lite0", input_shape=(32, 32, 3)))
        >>> cache.add(data)
        >>> len(cache), cache.split(data, "test")[0].shape
        (180, (46, 1280))
    """

    def __init__(self, backbone: keras.Model, batch_size: int = 64):
        if not isinstance(backbone, keras.Model):
            raise invalid_parameter(
                "backbone", "FeatureCache", "a Keras model (a backbone)", backbone
            )
        self.backbone = backbone
        self.batch_size = check_int("batch_size", batch_size, "FeatureCache", low=1)
        self._features: dict[Path, np.ndarray] = {}
        self._fingerprint: int | None = None

    def __len__(self) -> int:
        return len(self._features)

    def missing(self, data) -> list[Path]:
        """The files of ``data`` (every split) whose features are not computed yet.

        Example:
            >>> from tlcourse import load_backbone, load_dataset
            >>> cache = FeatureCache(load_backbone("mobilenet_v2", weights=None,
            ...                                    input_shape=(32, 32, 3)))
            >>> len(cache.missing(load_dataset("photos", image_size=32)))
            180
        """
        return [f for split in _SPLITS for f in data.files[split] if f not in self._features]

    def add(self, data) -> None:
        """Compute the features of every image of ``data`` not seen yet (one predict call).

        Args:
            data: a :class:`~tlcourse.data.Dataset`.

        Raises:
            BackboneChangedError: the backbone's weights changed since the first features.
        """
        files, images = [], []
        for split in _SPLITS:
            missing = [i for i, f in enumerate(data.files[split]) if f not in self._features]
            if missing:
                files += [data.files[split][i] for i in missing]
                images.append(data.as_arrays(split)[0][missing])
        if not files:
            return
        fingerprint = _fingerprint(self.backbone)
        if self._fingerprint is not None and fingerprint != self._fingerprint:
            raise BackboneChangedError(
                f"The backbone of this FeatureCache changed since its first {len(self)} "
                "features were computed (was it fine-tuned?): new features would come from "
                "other weights. Use a separate, untrained backbone for the cache."
            )
        self._fingerprint = fingerprint
        # One predict call for all splits: one traced function, not one per split shape.
        features = self.backbone.predict(
            np.concatenate(images), batch_size=self.batch_size, verbose=0
        )
        self._features.update(zip(files, features, strict=True))

    def split(self, data, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(features, labels)`` of one split, in the split's file order.

        Args:
            data: a :class:`~tlcourse.data.Dataset` whose images were added.
            split: ``"train"``, ``"val"`` or ``"test"``.

        Returns:
            ``(features (n, num_features), labels (n,))``.

        Raises:
            InvalidParameterError: unknown split, or images of ``data`` not added yet.
        """
        check_choice("split", split, _SPLITS, "FeatureCache.split")
        missing = [f for f in data.files[split] if f not in self._features]
        if missing:
            raise invalid_parameter(
                "data", "FeatureCache.split", "a dataset whose images were added first "
                "(cache.add(data))", data, f"{len(missing)} image(s) of {split!r} are missing.",
            )  # fmt: skip
        if not data.files[split]:
            width = next(iter(self._features.values())).shape[-1] if self._features else 0
            return np.zeros((0, width), np.float32), data.labels[split]
        return np.stack([self._features[f] for f in data.files[split]]), data.labels[split]

    def dataset(
        self, data, split: str, batch_size: int = 32, seed: int | None = None
    ) -> tf.data.Dataset | None:
        """Return one split as a batched ``tf.data`` pipeline (None when the split is empty).

        Keras iterates a ``tf.data`` pipeline about 4x faster than NumPy arrays, whose adapter
        costs ~50 ms per epoch: more than the head's whole epoch on a few hundred features.

        Args:
            data: the dataset whose split to take.
            split: ``"train"``, ``"val"`` or ``"test"``.
            batch_size: examples per batch. Defaults to 32.
            seed: reshuffle every epoch with this seed; None keeps the split's order.

        Returns:
            ``(features, labels)`` batches, or None for an empty split.

        Raises:
            InvalidParameterError: unknown split, bad ``batch_size`` or ``seed``, images of
                ``data`` not added yet.
        """
        check_choice("split", split, _SPLITS, "FeatureCache.dataset")
        batch_size = check_int("batch_size", batch_size, "FeatureCache.dataset", low=1)
        seed = check_int("seed", seed, "FeatureCache.dataset", low=0, none_ok=True)
        if not data.files[split]:
            return None
        pipeline = tf.data.Dataset.from_tensor_slices(self.split(data, split))
        if seed is not None:
            pipeline = pipeline.shuffle(len(data.files[split]), seed=seed)
        return pipeline.batch(batch_size).prefetch(tf.data.AUTOTUNE)
