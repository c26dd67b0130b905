"""Which checkpoint a training run resumes from, read once.

``--resume-from FILE`` names the file; ``--auto-resume`` takes the newest readable checkpoint of
the work dir (``latest.pth``, then ``iter_N.pth`` by N descending). :func:`resolve_resume` answers
both with a :class:`ResumeSource` that already holds the loaded checkpoint, so tools/train.py
reads the seed from it and the runner restores its state from it, without reading the file again.
"""
from __future__ import annotations

import logging
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..errors import CheckpointError
from ..checkpoint.io import PathLike, load_checkpoint_file
from .latest import checkpoint_candidates


@dataclass
class ResumeSource:
    """The outcome of :func:`resolve_resume`.

    Attributes:
        path: the checkpoint to resume from; None: the run starts from scratch.
        checkpoint: its content (``torch.load`` result) until :meth:`take` hands it over.
        skipped: ``(path, reason)`` of the auto-resume candidates that could not be used.
    """

    path: Optional[str] = None
    checkpoint: Optional[Dict[str, Any]] = None
    skipped: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def seed(self) -> Optional[int]:
        """``meta['seed']`` of the resumed run (None when not resuming or not saved)."""
        meta = (self.checkpoint or {}).get("meta") or {}
        return meta.get("seed")

    def take(self) -> Optional[Dict[str, Any]]:
        """The checkpoint, forgotten here: its tensors are freed once the runner has used them,
        instead of staying alive for the whole training in the caller's ``ResumeSource``."""
        checkpoint, self.checkpoint = self.checkpoint, None
        return checkpoint


def check_resumable(checkpoint: Any, filename: str) -> Mapping[str, Any]:
    """``checkpoint``'s ``meta``, or a :class:`CheckpointError` if it cannot continue a run."""
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"Checkpoint '{filename}' holds a {type(checkpoint).__name__}, not a "
                              f"training checkpoint dict, so it cannot be resumed.")
    meta = checkpoint.get("meta") or {}
    if "iter" not in meta:
        raise CheckpointError(f"Checkpoint '{filename}' has no meta['iter'], so it cannot be "
                              f"resumed; use it with --load-from (weights only) instead.")
    return meta


def resolve_resume(resume_from: Optional[PathLike], auto_resume: bool, work_dir: Optional[str],
                   logger: Optional[logging.Logger] = None,
                   map_location: Any = "cpu") -> ResumeSource:
    """Find and load the checkpoint a run resumes from (``resume_from`` beats ``auto_resume``).

    Args:
        resume_from: an explicit file (``--resume-from``): it must load, or this raises.
        auto_resume: without ``resume_from``, take the newest readable checkpoint in ``work_dir``;
            unreadable ones (truncated, corrupt, unsafe pickle, no ``meta['iter']``) are skipped
            with a warning naming the file and the reason.
        work_dir: the run's work dir.
        logger: where the auto-resume messages go (default the ``seglab`` logger).
        map_location: as in ``torch.load``.

    Returns:
        The source; ``path`` is None when the run starts from scratch.

    Raises:
        CheckpointError: ``resume_from`` is missing, unreadable or not resumable.
    """
    logger = logger or logging.getLogger("seglab")
    if resume_from:
        path = os.fspath(resume_from)
        checkpoint = load_checkpoint_file(path, map_location)  # the user chose it: errors stop
        check_resumable(checkpoint, path)
        return ResumeSource(path, checkpoint)
    if not auto_resume:
        return ResumeSource()
    source, tried = ResumeSource(), set()
    for path in checkpoint_candidates(work_dir):
        real = osp.realpath(path)
        if real in tried:  # latest.pth links to this iter_N.pth, already rejected
            continue
        tried.add(real)
        try:
            checkpoint = load_checkpoint_file(path, map_location)
            check_resumable(checkpoint, path)
        except CheckpointError as err:
            name = f"{path} (-> {real})" if osp.islink(path) else path
            source.skipped.append((path, str(err)))
            logger.warning(f"auto-resume: skipped {name}: {err}")
            continue
        source.path, source.checkpoint = path, checkpoint
        skipped = f" (skipped: {', '.join(p for p, _ in source.skipped)})" if source.skipped else ""
        logger.info(f"auto-resume: resuming from {path}{skipped}")
        return source
    if source.skipped:
        logger.warning(f"auto-resume: no readable checkpoint in {work_dir} (skipped: "
                       f"{', '.join(p for p, _ in source.skipped)}); training starts from scratch.")
    else:
        logger.info(f"auto-resume: no checkpoint in {work_dir}; training starts from scratch.")
    return source
