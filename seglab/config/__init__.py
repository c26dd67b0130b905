"""Config files: MMSegmentation 0.x ``.py`` configs (and .json/.yaml), read without running code.

Public API: :class:`Config`, :class:`ConfigDict`, :class:`DictAction`, :func:`add_cfg_options_args`.
"""
from .config import Config
from .config_dict import ConfigDict
from .dict_action import DictAction, add_cfg_options_args
from .merge import BASE_KEY, DELETE_KEY, ConfigMergeError

__all__ = ["Config", "ConfigDict", "DictAction", "add_cfg_options_args", "ConfigMergeError",
           "BASE_KEY", "DELETE_KEY"]
