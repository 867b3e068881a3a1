"""Work-arounds for defects of the installed Keras, each one small, harmless once fixed upstream.

**Saving and loading build a reference layer per layer** (seen in Keras 3.15.1). Keras's
``saving_lib.get_attr_skipset`` computes, per kind of object, the attribute names to skip when it
walks a model (``dir()`` of a freshly made ``Layer()``...), and means to keep them: it stores
the set under ``saving_attr_skipset_<kind>`` but looks it up under ``saving_attr_skiplist_<kind>``,
so every layer of every ``save``, ``save_weights`` and ``load_weights`` makes a new reference
object. Loading efficientnet_lite0's ImageNet weights took 0.63 s, 0.4 s of it in those objects;
saving its ``.keras`` file (:func:`tlcourse.deployment.model_size_mb`) the same.
:func:`prime_saving_skipsets` stores each set under the name Keras looks up: the same sets, only
made once per thread (Keras keeps its global state per thread, and ``clear_session`` empties
it, so callers prime before each save or load; it costs nothing once primed).
"""

from __future__ import annotations

__all__ = ["prime_saving_skipsets"]

# The kinds of object `_walk_saveable` asks about (Keras 3.15's `get_attr_skipset` accepts more).
_KINDS = ("Operation", "Layer", "Functional", "Sequential", "Metric", "Optimizer", "Loss")


def prime_saving_skipsets() -> None:
    """Make Keras's saving and loading find the attribute sets it computed (see the module).

    Does nothing where the sets are found already, or where Keras's internals differ (another
    Keras version): saving and loading then work as Keras makes them.

    Example:
        >>> prime_saving_skipsets()
        >>> from keras.src.backend.common import global_state
        >>> "trainable" in global_state.get_global_attribute("saving_attr_skiplist_Layer")
        True
    """
    try:
        from keras.src.backend.common import global_state
        from keras.src.saving import saving_lib

        for kind in _KINDS:
            looked_up = f"saving_attr_skiplist_{kind}"
            if global_state.get_global_attribute(looked_up) is None:
                global_state.set_global_attribute(looked_up, saving_lib.get_attr_skipset(kind))
    except Exception:  # noqa: BLE001 (an optimisation only: Keras's own path still works)
        return
