"""MMSegmentation 1.x checkpoints: their class names, and loading them without mmengine.

mmengine's ``Runner.save_checkpoint`` writes ``meta`` (``iter`` = finished iterations,
``dataset_meta = dict(classes, palette)``), ``state_dict`` (MMSeg's keys, which seglab's models
share), ``optimizer`` (the torch optimizer's state, with each group's ``initial_lr``),
``param_schedulers`` (the schedulers' states) and ``message_hub`` (logging history: mmengine
``HistoryBuffer`` objects whose statistics methods are pickled as ``getattr(HistoryBuffer,
'mean')``).

seglab unpickles with ``weights_only=True``, so those two mmengine globals get harmless stand-ins
(:data:`MMENGINE_STAND_INS`): a buffer holds the pickled state as plain attributes, and the
``getattr`` stand-in answers only for the buffer class or one of its objects (with the method's
name), so it cannot reach anything else. Resuming then restores the weights, the optimizer state and the iteration; the
learning rate is recomputed from the groups' ``initial_lr`` and the iteration by the config's
schedule (for the same ``param_scheduler`` it equals what the saved scheduler states would
give); the message hub and the random states (1.x saves none) are not restored.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional


class HistoryBufferStandIn:
    """Unpickled in place of ``mmengine.logging.history_buffer.HistoryBuffer``: its state
    (``_log_history``, ``_count_history``, ``max_length``, ``statistics_methods``) as data."""

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self.__dict__.update(dict(state))


def getattr_stand_in(obj: Any, name: str) -> str:
    """Unpickled in place of ``builtins.getattr``, which 1.x checkpoints use only to pickle a
    HistoryBuffer's bound statistics methods: anything else is refused."""
    buffer = obj is HistoryBufferStandIn or isinstance(obj, HistoryBufferStandIn)
    if buffer and isinstance(name, str):  # its statistics methods, by name
        return f"HistoryBuffer.{name}"
    from ..errors import CheckpointError

    raise CheckpointError(f"the checkpoint pickles getattr({type(obj).__name__}, {name!r}); "
                          f"seglab only allows it on mmengine's HistoryBuffer (MMSeg 1.x "
                          f"checkpoints' message_hub), so it refuses this file.")


MMENGINE_STAND_INS = {
    "mmengine.logging.history_buffer.HistoryBuffer": HistoryBufferStandIn,
    "builtins.getattr": getattr_stand_in,
}


def checkpoint_meta(meta: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """A checkpoint's ``meta`` with 0.x's ``CLASSES`` / ``PALETTE``, also for 1.x checkpoints.

    MMSegmentation 1.x saves them as ``meta['dataset_meta'] = dict(classes=..., palette=...)``;
    a 0.x (or seglab) meta is returned as it is.
    """
    meta = dict(meta or {})
    dataset_meta = meta.get("dataset_meta")
    if meta.get("CLASSES") is None and isinstance(dataset_meta, Mapping):
        if dataset_meta.get("classes") is not None:
            meta["CLASSES"] = list(dataset_meta["classes"])
        if dataset_meta.get("palette") is not None:
            meta["PALETTE"] = [list(c) for c in dataset_meta["palette"]]
    return meta


def resume_note(checkpoint: Mapping[str, Any]) -> Optional[str]:
    """What resuming from a MMSegmentation 1.x checkpoint restores and what not (None for a
    seglab or 0.x checkpoint)."""
    if not isinstance(checkpoint, Mapping) or "message_hub" not in checkpoint:
        return None
    return ("MMSegmentation 1.x checkpoint: the weights, the optimizer state and the iteration "
            "are restored; the lr follows the config's schedule from that iteration (from each "
            "group's saved initial_lr); its param_schedulers states, message_hub (logging "
            "history) and random states (1.x saves none) are not restored, so the data order "
            "differs from an uninterrupted 1.x run.")
