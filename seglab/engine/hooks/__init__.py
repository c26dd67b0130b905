"""Training-loop hooks (registered in ``seglab.registry.HOOKS`` under mmcv's names)."""
from .checkpoint import CheckpointHook
from .eval import EvalHook
from .hook import PRIORITIES, Hook, get_priority
from .logger import LoggerHook, TextLoggerHook
from .lr import LrUpdaterHook, build_lr_hook
from .progress import ProgressBarHook, add_progress_bar
from .tensorboard import TensorboardLoggerHook

__all__ = ["Hook", "PRIORITIES", "get_priority", "CheckpointHook", "EvalHook", "LoggerHook",
           "TextLoggerHook", "TensorboardLoggerHook", "LrUpdaterHook", "build_lr_hook",
           "ProgressBarHook", "add_progress_bar"]
