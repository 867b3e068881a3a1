"""Backbone activations of every image, computed once and looked up by file path.

The pooled features (what feature extraction trains a head on) and, in the same pass, the
activations at named layers of the backbone: the freeze boundaries that fine-tuning trains
above (:mod:`tlcourse.boundary`). Everything comes from one backbone whose weights never change.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tlcourse.boundary.batches import shuffled_batches
from tlcourse.boundary.cut import boundary_operation
from tlcourse.boundary.memory import activation_bytes, check_fits, format_bytes
from tlcourse.errors import TLCourseError, check_choice, check_int, invalid_parameter
from tlcourse.inference import inference_function

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

    With ``layers``, the same pass also keeps the activations of those backbone layers (the
    freeze boundaries of :func:`tlcourse.boundary.find_boundary`), so fine-tuning can train its
    unfrozen blocks on them. So everything cached is keyed by the backbone's weights (checked),
    the layer, the image size (the backbone's input) and the file, and looked up per split.
    Memory: float32, computed batch by batch; a pass whose new activations would not fit
    raises :class:`~tlcourse.boundary.memory.CacheMemoryError` before computing anything.

    Args:
        backbone: the frozen backbone (pooled output), e.g. from :func:`tlcourse.load_backbone`.
        batch_size: images per prediction batch, an int >= 1. Defaults to 64.
        layers: names of backbone layers (or operations) whose activations to keep too.
            Defaults to ().

    Raises:
        InvalidParameterError: ``backbone`` is not a Keras model, a bad ``batch_size``, or a
            name in ``layers`` that is not a layer of the backbone.

    Example:
        >>> from tlcourse import load_backbone, load_dataset
        >>> data = load_dataset("photos", image_size=32)
        >>> cache = FeatureCache(load_backbone("efficientnet_lite0", input_shape=(32, 32, 3)),
        ...                      layers=["block_13_add"])
        >>> cache.add(data)
        >>> len(cache), cache.split(data, "test")[0].shape
        (180, (46, 1280))
        >>> cache.split(data, "test", layer="block_13_add")[0].shape
        (46, 1, 1, 192)
    """

    def __init__(self, backbone: keras.Model, batch_size: int = 64, layers: Iterable[str] = ()):
        if not isinstance(backbone, keras.Model):
            raise invalid_parameter(
                "backbone", "FeatureCache", "a Keras model (a backbone)", backbone
            )
        self.backbone = backbone
        self.batch_size = check_int("batch_size", batch_size, "FeatureCache", low=1)
        self._store: dict[str | None, dict[Path, np.ndarray]] = {None: {}}
        self._fingerprint: int | None = None
        self._models: dict[tuple, keras.Model] = {}
        for layer in layers:
            self.add_layer(layer)

    @property
    def layers(self) -> tuple[str, ...]:
        """The backbone layers whose activations are kept besides the features."""
        return tuple(k for k in self._store if k is not None)

    def add_layer(self, layer: str) -> None:
        """Keep the activations of ``layer`` too, from the next :meth:`add` on.

        Raises:
            InvalidParameterError: not the name of a backbone layer.
        """
        names = [op.name for op in self.backbone.operations]
        check_choice("layer", layer, names, "FeatureCache.add_layer")
        self._store.setdefault(layer, {})

    def drop_layer(self, layer: str) -> None:
        """Stop keeping ``layer``'s activations, and free them (no error if not kept)."""
        if layer is not None:
            self._store.pop(layer, None)

    def __len__(self) -> int:
        return len(self._store[None])

    def missing(self, data, layer: str | None = None) -> list[Path]:
        """The files of ``data`` (every split) whose features (or ``layer``'s) are not computed.

        Example:
            >>> from tlcourse import load_backbone, load_dataset
            >>> cache = FeatureCache(load_backbone("mobilenet_v2", weights=None,
            ...                                    input_shape=(32, 32, 3)))
            >>> len(cache.missing(load_dataset("photos", image_size=32)))
            180
        """
        store = self._store.get(layer, {})
        return [f for split in _SPLITS for f in data.files[split] if f not in store]

    def nbytes(self) -> int:
        """Bytes held by the cache (features and layer activations).

        Example:
            >>> from tlcourse import load_backbone
            >>> FeatureCache(load_backbone("mobilenet_v2", weights=None,
            ...                            input_shape=(32, 32, 3))).nbytes()
            0
        """
        return sum(a.nbytes for store in self._store.values() for a in store.values())

    def _model(self, keys: tuple) -> keras.Model:
        if keys not in self._models:
            outputs = [self.backbone.output if k is None else self._output(k) for k in keys]
            self._models[keys] = keras.Model(self.backbone.input, outputs)
        return self._models[keys]

    def _output(self, layer: str):
        output = boundary_operation(self.backbone, layer).output
        if isinstance(output, list | tuple):
            raise invalid_parameter(
                "layer", "FeatureCache", "a backbone layer with one output", layer
            )
        return output

    def add(self, data) -> None:
        """Compute what is missing for ``data``'s images: features and kept layers, one pass.

        Args:
            data: a :class:`~tlcourse.data.Dataset`.

        Raises:
            BackboneChangedError: the backbone's weights changed since the first features.
            CacheMemoryError: the new activations would not fit in memory (nothing computed).
        """
        keys = tuple(k for k in self._store if self.missing(data, k))
        if not keys:
            return
        todo = {f for k in keys for f in self.missing(data, k)}
        fingerprint = _fingerprint(self.backbone)
        if self._fingerprint is not None and fingerprint != self._fingerprint:
            raise BackboneChangedError(
                f"The backbone of this FeatureCache changed since its first {len(self)} "
                "features were computed (was it fine-tuned?): new features would come from "
                "other weights. Use a separate, untrained backbone for the cache."
            )
        self._fingerprint = fingerprint
        model = self._model(keys)
        shapes = [tuple(int(d) for d in s[1:]) for s in _shapes(model)]
        needed = sum(activation_bytes(len(todo), s) for s in shapes)
        check_fits(
            needed + self.nbytes(),
            f"the cache of {len(todo)} more images ({', '.join(_names(keys))}; "
            f"{format_bytes(self.nbytes())} held already)",
            "Use smaller images, fewer images or fewer unfrozen blocks (a smaller depth moves "
            "the boundary up, where activations are smaller).",
        )
        # One traced function for every batch size (the short last batch of a split too).
        infer = inference_function(model)
        for split in _SPLITS:
            files = data.files[split]
            rows = [i for i, f in enumerate(files) if f in todo]
            # The uint8 images in memory: a float32 copy of the split would be 4x larger.
            images = data._images[split]
            for start in range(0, len(rows), self.batch_size):
                chunk = rows[start : start + self.batch_size]
                outputs = infer(images[chunk])
                if not isinstance(outputs, list | tuple):
                    outputs = [outputs]
                outputs = [output.numpy() for output in outputs]
                for key, output in zip(keys, outputs, strict=True):
                    store = self._store[key]
                    for i, row in enumerate(chunk):
                        if files[row] not in store:
                            store[files[row]] = np.array(output[i], copy=True)

    def split(self, data, split: str, layer: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(features, labels)`` of one split, in the split's file order.

        Args:
            data: a :class:`~tlcourse.data.Dataset` whose images were added.
            split: ``"train"``, ``"val"`` or ``"test"``.
            layer: a kept layer's activations instead of the features. Defaults to None.

        Returns:
            ``(features (n, num_features), labels (n,))``, or ``(n, *shape)`` for a layer.

        Raises:
            InvalidParameterError: unknown split or layer, or images of ``data`` not added yet.
        """
        check_choice("split", split, _SPLITS, "FeatureCache.split")
        if layer is not None:
            check_choice("layer", layer, self.layers, "FeatureCache.split")
        store = self._store[layer]
        missing = [f for f in data.files[split] if f not in store]
        if missing:
            raise invalid_parameter(
                "data", "FeatureCache.split", "a dataset whose images were added first "
                "(cache.add(data))", data, f"{len(missing)} image(s) of {split!r} are missing.",
            )  # fmt: skip
        if not data.files[split]:
            model = self._model((layer,))
            return np.zeros((0, *model.output_shape[1:]), np.float32), data.labels[split]
        return np.stack([store[f] for f in data.files[split]]), data.labels[split]

    def dataset(
        self,
        data,
        split: str,
        batch_size: int = 32,
        seed: int | None = None,
        layer: str | None = None,
    ) -> tf.data.Dataset | None:
        """Return one split as a batched ``tf.data`` pipeline (None when the split is empty).

        Keras iterates a ``tf.data`` pipeline about 4x faster than NumPy arrays, whose adapter
        costs ~50 ms per epoch: more than the head's whole epoch on a few hundred features.
        With a seed, the order of every epoch depends only on the seed and the split's size, so
        the same images in another form (activations at a layer, the images themselves) come in
        the same order (see :func:`tlcourse.boundary.batches.shuffled_batches`).

        Args:
            data: the dataset whose split to take.
            split: ``"train"``, ``"val"`` or ``"test"``.
            batch_size: examples per batch. Defaults to 32.
            seed: reshuffle every epoch with this seed; None keeps the split's order.
            layer: a kept layer's activations instead of the features. Defaults to None.

        Returns:
            ``(features, labels)`` batches, or None for an empty split.

        Raises:
            InvalidParameterError: unknown split or layer, bad ``batch_size`` or ``seed``,
                images of ``data`` not added yet.
        """
        check_choice("split", split, _SPLITS, "FeatureCache.dataset")
        batch_size = check_int("batch_size", batch_size, "FeatureCache.dataset", low=1)
        seed = check_int("seed", seed, "FeatureCache.dataset", low=0, none_ok=True)
        if not data.files[split]:
            return None
        return shuffled_batches(self.split(data, split, layer), batch_size, seed)


def _shapes(model) -> list:
    shape = model.output_shape
    return list(shape) if isinstance(shape, list) else [shape]


def _names(keys) -> list[str]:
    return ["features" if k is None else f"activations of {k!r}" for k in keys]
