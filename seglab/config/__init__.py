"""Config files: MMSegmentation 0.x ``.py`` configs (and .json/.yaml), read without running code.

Public API: :class:`Config`, :class:`ConfigDict`, :class:`DictAction`, :func:`add_cfg_options_args`;
MMSegmentation 1.x configs: :func:`is_1x_config`, :func:`convert_1x_config`, :func:`load_config`.
"""
from .config import Config
from .config_dict import ConfigDict
from .dict_action import DictAction, add_cfg_options_args
from .merge import BASE_KEY, DELETE_KEY, ConfigMergeError
from .v1x import V1xConfigError, convert_1x_config, is_1x_config, load_config

__all__ = ["Config", "ConfigDict", "DictAction", "add_cfg_options_args", "ConfigMergeError",
           "BASE_KEY", "DELETE_KEY", "is_1x_config", "convert_1x_config", "load_config",
           "V1xConfigError"]
