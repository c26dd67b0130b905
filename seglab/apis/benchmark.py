"""Inference speed, memory and FLOPs of a segmentor (MMSegmentation 0.x ``tools/benchmark.py``).

Method (MMSeg's): the test set at batch size 1, the first ``num_warmup`` (5) images untimed,
then the mean time per image of the network forward plus post-processing (resize to the original
size and argmax) over ``num_images`` images. Data loading (file decoding, the pipeline) is not
timed; moving the image to the device and normalising it there (``prepare_batch``) is, as MMSeg
timed its host-to-device scatter. On CUDA the clock stops after ``torch.cuda.synchronize``.
MMSeg counted its 5 warm-up images inside the 200; here ``num_images`` are all timed. A dataset
with fewer images is cycled.

Also reported: fps, peak memory (CUDA ``max_memory_allocated``; on the CPU the process's peak
resident set size, which includes everything the process ever held), the device name, the torch
version and GFLOPs of one forward (``torch.utils.flop_counter.FlopCounterMode``: a
multiply-add counts 2 FLOPs; mmcv's ``get_flops`` reported multiply-adds).
"""
from __future__ import annotations

import platform
import resource
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..datasets import prepare_batch
from ..errors import DatasetError
from .test import model_device, unwrap_model


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor()
    if not name or name == platform.machine():  # Linux often says only 'x86_64'
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                for line in f:
                    if line.lower().startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
    return name or platform.machine() or "cpu"


def peak_cpu_rss_bytes() -> int:
    """Peak resident set size of this process (``getrusage``; KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def count_flops(model: nn.Module, img: torch.Tensor) -> int:
    """FLOPs of one network forward (``forward_dummy`` / ``encode_decode``) on ``img``."""
    from torch.utils.flop_counter import FlopCounterMode

    net = unwrap_model(model)
    forward = getattr(net, "forward_dummy", None) or (lambda x: net.encode_decode(x, None))
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        forward(img)
    return int(counter.get_total_flops())


def _cycle(data_loader: DataLoader) -> Iterator[Any]:
    while True:
        empty = True
        for batch in data_loader:
            empty = False
            yield batch
        if empty:
            raise DatasetError("The benchmark's test dataset is empty; check data.test in the "
                               "config.")


def _first_image(batch: Dict[str, Any]) -> torch.Tensor:
    img = batch["img"]
    return img[0] if isinstance(img, list) else img


def benchmark_segmentor(model: nn.Module, data_loader: DataLoader, num_images: int = 200,
                        num_warmup: int = 5, log_interval: int = 50,
                        device: Optional[Union[str, torch.device]] = None,
                        log: Callable[[str], None] = print,
                        count_flops_once: bool = True) -> Dict[str, Any]:
    """Time ``num_images`` test forwards after ``num_warmup`` untimed ones.

    Args:
        model: the segmentor (eval mode is set).
        data_loader: the test loader (batch size 1 for MMSeg's numbers).
        num_images: timed images.
        num_warmup: untimed images first (cuDNN autotuning, allocator warm-up, lazy init).
        log_interval: log the running fps every this many images.
        device: default: the model's device.
        log: where progress lines go.
        count_flops_once: also count the FLOPs of one forward of the first image.

    Returns:
        ``dict(fps, mean_time_ms, num_images, device, device_name, torch_version,
        peak_memory_mb, peak_memory_kind, gflops, flops_input_shape)``.
    """
    if num_images < 1 or num_warmup < 0:
        raise ValueError(f"num_images must be >= 1 and num_warmup >= 0, got {num_images}, "
                         f"{num_warmup}")
    device = torch.device(device) if device is not None else model_device(model)
    cuda = device.type == "cuda"
    model.eval()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else (lambda: None)
    times: List[float] = []
    batches = _cycle(data_loader)
    flops, flops_shape = None, None
    for i in range(num_warmup + num_images):
        batch = next(batches)
        sync()
        start = time.perf_counter()
        with torch.inference_mode():
            prepared = prepare_batch(batch, device)
            model(return_loss=False, rescale=True, **prepared)
        sync()
        elapsed = time.perf_counter() - start
        if i >= num_warmup:
            times.append(elapsed / len(_first_image(prepared)))
            done = len(times)
            if log_interval and done % log_interval == 0:
                log(f"Done image [{done:<3}/ {num_images}], fps: {done / sum(times):.2f} img / s")
        if count_flops_once and flops is None:
            img = _first_image(prepared)[:1]
            flops, flops_shape = count_flops(model, img), list(img.shape)
    mean_time = float(np.mean(times))
    if cuda:
        peak, kind = torch.cuda.max_memory_allocated(device), "cuda_max_memory_allocated"
    else:
        peak, kind = peak_cpu_rss_bytes(), "cpu_peak_rss"
    return dict(fps=1.0 / mean_time, mean_time_ms=mean_time * 1000.0, num_images=num_images,
                num_warmup=num_warmup, device=str(device), device_name=device_name(device),
                torch_version=torch.__version__, peak_memory_mb=peak / 2**20,
                peak_memory_kind=kind,
                gflops=None if flops is None else flops / 1e9, flops_input_shape=flops_shape)
