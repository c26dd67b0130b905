"""The environment summary written at the top of the logs (first line of the json log)."""
from __future__ import annotations

import platform
import sys
from collections import OrderedDict
from typing import Dict


def collect_env() -> Dict[str, str]:
    """Versions and devices that matter when comparing or reproducing runs.

    Returns:
        An ordered dict: ``sys.platform``, ``Python``, ``CUDA available``, ``GPU <ids>`` (device
        names, grouped), ``CUDA`` (runtime version), ``cuDNN``, ``PyTorch``, ``TorchVision`` (when
        installed), ``OpenCV``, ``NumPy``, ``seglab``, ``CPU`` (machine and thread count).
    """
    import numpy as np
    import torch

    from ..version import __version__

    env: Dict[str, str] = OrderedDict()
    env["sys.platform"] = sys.platform
    env["Python"] = sys.version.replace("\n", "")
    cuda = torch.cuda.is_available()
    env["CUDA available"] = str(cuda)
    if cuda:
        groups: Dict[str, list] = OrderedDict()
        for i in range(torch.cuda.device_count()):
            groups.setdefault(torch.cuda.get_device_name(i), []).append(str(i))
        for name, ids in groups.items():
            env[f"GPU {','.join(ids)}"] = name
        env["CUDA"] = str(torch.version.cuda)
        env["cuDNN"] = str(torch.backends.cudnn.version())
    env["PyTorch"] = torch.__version__
    try:
        import torchvision

        env["TorchVision"] = torchvision.__version__
    except ImportError:
        pass
    try:
        import cv2

        env["OpenCV"] = cv2.__version__
    except ImportError:
        env["OpenCV"] = "not installed"
    env["NumPy"] = np.__version__
    env["seglab"] = __version__
    env["CPU"] = f"{platform.machine()}, torch threads: {torch.get_num_threads()}"
    return env


def format_env(env: Dict[str, str]) -> str:
    """``key: value`` lines, the ``env_info`` string MMSeg puts in its logs."""
    return "\n".join(f"{k}: {v}" for k, v in env.items())
