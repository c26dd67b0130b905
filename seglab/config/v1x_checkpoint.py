"""MMSegmentation 1.x checkpoints: their class names, and what resuming from one restores.

mmengine's ``Runner.save_checkpoint`` writes ``meta`` (``iter`` = finished iterations,
``dataset_meta = dict(classes, palette)``), ``state_dict`` (MMSeg's keys, which seglab's models
share), ``optimizer`` (the torch optimizer's state, with each group's ``initial_lr``),
``param_schedulers`` (the schedulers' states) and ``message_hub`` (logging history: mmengine
``HistoryBuffer`` objects whose statistics methods are pickled as ``getattr(HistoryBuffer,
'mean')``).

seglab unpickles with ``weights_only=True``; those two mmengine globals get harmless stand-ins
(:mod:`seglab.checkpoint.mmengine_stand_ins`). Resuming then restores the weights, the optimizer
state and the iteration; the learning rate is recomputed from the groups' ``initial_lr`` and the
iteration by the config's schedule (for the same ``param_scheduler`` it equals what the saved
scheduler states would give); the message hub and the random states (1.x saves none) are not
restored.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional


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
