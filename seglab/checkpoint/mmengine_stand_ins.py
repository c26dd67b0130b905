"""Stand-ins for the mmengine objects that MMSegmentation 1.x checkpoints pickle.

mmengine's ``Runner.save_checkpoint`` saves the ``message_hub``: logging history as mmengine
``HistoryBuffer`` objects, whose statistics methods are pickled as ``getattr(HistoryBuffer,
'mean')``. seglab unpickles with ``weights_only=True``, so these two globals get harmless
stand-ins (:data:`MMENGINE_STAND_INS`, used by :func:`seglab.checkpoint.io.load_checkpoint_file`):
a buffer holds the pickled state as plain attributes, and the ``getattr`` stand-in answers only
for the buffer class or one of its objects (with the method's name), so it cannot reach anything
else. What resuming from such a checkpoint restores: :mod:`seglab.config.v1x_checkpoint`.
"""
from __future__ import annotations

from typing import Any

from ..errors import CheckpointError


_BUFFER_STATE_KEYS = frozenset({"_log_history", "_count_history", "max_length",
                                "statistics_methods"})


class HistoryBufferStandIn:
    """Unpickled in place of ``mmengine.logging.history_buffer.HistoryBuffer``: its state
    (``_log_history``, ``_count_history``, ``max_length``, ``statistics_methods``) as data.

    Anything else a pickle could hand it (constructor arguments, a state that is no dict, other
    attribute names such as ``__setstate__``) is refused with a :class:`CheckpointError`."""

    def __new__(cls, *args: Any) -> "HistoryBufferStandIn":
        if args:
            raise CheckpointError(f"the checkpoint builds mmengine's HistoryBuffer with "
                                  f"arguments {args!r:.80}; MMSeg 1.x checkpoints pickle none, "
                                  f"so seglab refuses this file.")
        return super().__new__(cls)

    def __setstate__(self, state: Any) -> None:
        unknown = (sorted(map(repr, set(state) - _BUFFER_STATE_KEYS))
                   if isinstance(state, dict) else None)
        if unknown is None or unknown:
            what = f"the keys {', '.join(unknown)}" if unknown else f"a {type(state).__name__}"
            raise CheckpointError(
                f"the checkpoint's mmengine HistoryBuffer state holds {what:.200}; MMSeg 1.x "
                f"checkpoints only save {', '.join(sorted(_BUFFER_STATE_KEYS))}, so seglab "
                f"refuses this file.")
        self.__dict__.update(state)


def getattr_stand_in(obj: Any, name: str) -> str:
    """Unpickled in place of ``builtins.getattr``, which 1.x checkpoints use only to pickle a
    HistoryBuffer's bound statistics methods: anything else is refused."""
    buffer = obj is HistoryBufferStandIn or isinstance(obj, HistoryBufferStandIn)
    if buffer and isinstance(name, str):  # its statistics methods, by name
        return f"HistoryBuffer.{name}"
    raise CheckpointError(f"the checkpoint pickles getattr({type(obj).__name__}, {name!r}); "
                          f"seglab only allows it on mmengine's HistoryBuffer (MMSeg 1.x "
                          f"checkpoints' message_hub), so it refuses this file.")


MMENGINE_STAND_INS = {
    "mmengine.logging.history_buffer.HistoryBuffer": HistoryBufferStandIn,
    "builtins.getattr": getattr_stand_in,
}
