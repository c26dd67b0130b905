"""Training engine: optimizer and lr schedule, the iteration-based runner and hooks.

Importing it registers the optimizers (``OPTIMIZERS``), lr policies (``LR_SCHEDULERS``), hooks
(``HOOKS``) and ``IterBasedRunner`` (``RUNNERS``).
"""
from ..checkpoint import (apply_checkpoint, convert_checkpoint, get_state_dict, load_checkpoint,
                          load_checkpoint_file, load_checkpoint_with_prefix, load_state_dict,
                          resolve_checkpoint_path, save_checkpoint, weights_to_cpu)
from .builder import build_runner, runner_from_config
from .ddp import SegDistributedDataParallel
from .dist import all_gather_object, all_reduce_dict, broadcast_object
from .env import collect_env, format_env
from .hooks import (CheckpointHook, EvalHook, Hook, LoggerHook, LrUpdaterHook, TensorboardLoggerHook,
                    TextLoggerHook, build_lr_hook)
from .latest import find_latest_checkpoint, update_latest
from .log_buffer import LogBuffer
from .logging import get_root_logger
from .lr_schedule import CosineAnnealing, Exp, Fixed, Inv, LrSchedule, Poly, Step
from .optim_step import OptimStep, parse_optimizer_config
from .optimizer import DefaultOptimizerConstructor, build_optimizer, load_optimizer_state
from .param_scheduler import ParamSchedulerChain  # 1.x param_scheduler lists (LR_SCHEDULERS)
from .resume import ResumeSource, resolve_resume
from .runner import IterBasedRunner, NonFiniteLossError
from .seed import get_rng_state, set_random_seed, set_rng_state

__all__ = [
    "build_runner", "runner_from_config", "get_state_dict", "load_checkpoint", "load_checkpoint_file", "load_checkpoint_with_prefix",
    "load_state_dict", "save_checkpoint", "weights_to_cpu", "convert_checkpoint",
    "SegDistributedDataParallel", "all_gather_object", "all_reduce_dict", "broadcast_object", "collect_env", "format_env",
    "CheckpointHook", "EvalHook", "Hook", "LoggerHook", "LrUpdaterHook", "TensorboardLoggerHook",
    "TextLoggerHook", "build_lr_hook", "find_latest_checkpoint", "update_latest", "LogBuffer",
    "get_root_logger", "LrSchedule", "Fixed", "Step", "Exp", "Poly", "Inv", "CosineAnnealing",
    "resolve_checkpoint_path", "OptimStep", "parse_optimizer_config", "DefaultOptimizerConstructor",
    "build_optimizer", "load_optimizer_state", "IterBasedRunner", "NonFiniteLossError", "get_rng_state", "set_random_seed",
    "set_rng_state", "apply_checkpoint", "ResumeSource", "resolve_resume",
    "ParamSchedulerChain",
]
