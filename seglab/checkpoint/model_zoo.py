"""Where checkpoint names such as ``open-mmlab://resnet50_v1c`` live on this machine.

seglab never downloads anything: a remote name resolves to a file in the local cache (the directory
mmcv and ``torch.hub`` use, so files they downloaded are found), or the user is told exactly which
URL to fetch and where to put it. Loading a missing file must fail at once, never hang offline.
"""
from __future__ import annotations

import glob
import os
import os.path as osp
from typing import Dict, List, Optional
from urllib.parse import urlparse

from ..errors import CheckpointError

# ``open-mmlab://<name>``: the pre-trained weights OpenMMLab configs refer to (mmcv's model zoo
# table).
OPEN_MMLAB_URLS: Dict[str, str] = {
    name: f"https://download.openmmlab.com/pretrain/third_party/{file}"
    for name, file in {
        "vgg16_caffe": "vgg16_caffe-292e1171.pth",
        "detectron/resnet50_caffe": "resnet50_caffe-788b5fa3.pth",
        "detectron2/resnet50_caffe": "resnet50_msra-5891d200.pth",
        "detectron/resnet101_caffe": "resnet101_caffe-3ad79236.pth",
        "detectron2/resnet101_caffe": "resnet101_msra-6cc46731.pth",
        "detectron2/resnext101_32x8d": "resnext101_32x8d-1516f1aa.pth",
        "resnext50_32x4d": "resnext50-32x4d-0ab1a123.pth",
        "resnext101_32x4d": "resnext101_32x4d-a5af3160.pth",
        "resnext101_64x4d": "resnext101_64x4d-ee2c6f71.pth",
        "contrib/resnet50_gn": "resnet50_gn_thangvubk-ad1730dd.pth",
        "detectron/resnet50_gn": "resnet50_gn-9186a21c.pth",
        "detectron/resnet101_gn": "resnet101_gn-cac0ab98.pth",
        "jhu/resnet50_gn_ws": "resnet50_gn_ws-15beedd8.pth",
        "jhu/resnet101_gn_ws": "resnet101_gn_ws-3e3c308c.pth",
        "msra/hrnetv2_w18_small": "hrnetv2_w18_small-b5a04e21.pth",
        "msra/hrnetv2_w18": "hrnetv2_w18-00eb2006.pth",
        "msra/hrnetv2_w32": "hrnetv2_w32-dc9eeb4f.pth",
        "msra/hrnetv2_w40": "hrnetv2_w40-ed0b031c.pth",
        "msra/hrnetv2_w48": "hrnetv2_w48-d2186c55.pth",
        "res2net101_v1d_26w_4s": "res2net101_v1d_26w_4s_mmdetv2-f0a600f9.pth",
        "resnet18_v1c": "resnet18_v1c-b5776b93.pth",
        "resnet50_v1c": "resnet50_v1c-2cccc1ad.pth",
        "resnet101_v1c": "resnet101_v1c-e67eebb6.pth",
        "contrib/mobilenet_v3_large": "mobilenet_v3_large-bc2c3fd3.pth",
        "contrib/mobilenet_v3_small": "mobilenet_v3_small-47085aa1.pth",
        "resnest50": "resnest50_d2-7497a55b.pth",
        "resnest101": "resnest101_d2-f3b931b2.pth",
        "resnest200": "resnest200_d2-ca88e41f.pth",
        "darknet53": "darknet53-a628ea1b.pth",
    }.items()
}
OPEN_MMLAB_URLS["mmedit/mobilenet_v2"] = (
    "https://download.openmmlab.com/mmediting/third_party/mobilenet_v2.pth")

# ``mmcls://<name>``: MMClassification v0 ImageNet weights (MMSeg uses e.g. mmcls://mobilenet_v2).
_MMCLS = "https://download.openmmlab.com/mmclassification/v0/"
MMCLS_URLS: Dict[str, str] = {
    "resnet18": _MMCLS + "resnet/resnet18_batch256_imagenet_20200708-34ab8f90.pth",
    "resnet34": _MMCLS + "resnet/resnet34_batch256_imagenet_20200708-32ffb4f7.pth",
    "resnet50": _MMCLS + "resnet/resnet50_batch256_imagenet_20200708-cfb998bf.pth",
    "resnet101": _MMCLS + "resnet/resnet101_batch256_imagenet_20200708-753f3608.pth",
    "resnet152": _MMCLS + "resnet/resnet152_batch256_imagenet_20200708-ec25b1f9.pth",
    "resnet50_v1d": _MMCLS + "resnet/resnetv1d50_batch256_imagenet_20200708-1ad0ce94.pth",
    "resnet101_v1d": _MMCLS + "resnet/resnetv1d101_batch256_imagenet_20200708-9cb302ef.pth",
    "resnet152_v1d": _MMCLS + "resnet/resnetv1d152_batch256_imagenet_20200708-e79cb6a2.pth",
    "resnext50_32x4d": _MMCLS + "resnext/resnext50_32x4d_b32x8_imagenet_20210429-56066e27.pth",
    "resnext101_32x4d": _MMCLS + "resnext/resnext101_32x4d_b32x8_imagenet_20210506-e0fa3dd5.pth",
    "resnext101_32x8d": _MMCLS + "resnext/resnext101_32x8d_b32x8_imagenet_20210506-23a247d5.pth",
    "mobilenet_v2": _MMCLS + "mobilenet_v2/mobilenet_v2_batch256_imagenet_20200708-3b2dc3af.pth",
}

# ``torchvision://<name>``: torchvision ImageNet weights (IMAGENET1K_V1, as mmcv resolves them).
TORCHVISION_URLS: Dict[str, str] = {
    name: f"https://download.pytorch.org/models/{file}"
    for name, file in {
        "resnet18": "resnet18-f37072fd.pth",
        "resnet34": "resnet34-b627a593.pth",
        "resnet50": "resnet50-0676ba61.pth",
        "resnet101": "resnet101-63fe2227.pth",
        "resnet152": "resnet152-394f9c45.pth",
    }.items()
}

_SCHEMES = {
    "open-mmlab://": OPEN_MMLAB_URLS,
    "openmmlab://": OPEN_MMLAB_URLS,
    "mmcls://": MMCLS_URLS,
    "torchvision://": TORCHVISION_URLS,
}

PRETRAINED_HINT = ("To train without these weights instead, set model.pretrained=None (on the "
                   "command line: --options model.pretrained=None).")


def cache_dirs() -> List[str]:
    """Directories searched for downloaded checkpoints, in order.

    ``$SEGLAB_HOME/checkpoints`` when ``SEGLAB_HOME`` is set, then ``<torch hub dir>/checkpoints``
    (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``), where mmcv
    and ``torch.hub.load_state_dict_from_url`` store their downloads.
    """
    import torch.hub

    dirs = []
    if os.environ.get("SEGLAB_HOME"):
        dirs.append(osp.join(osp.expanduser(os.environ["SEGLAB_HOME"]), "checkpoints"))
    dirs.append(osp.join(torch.hub.get_dir(), "checkpoints"))
    return dirs


def url_of(filename: str) -> Optional[str]:
    """The download URL that a ``scheme://name`` or ``http(s)://`` checkpoint refers to.

    Returns None for local paths. Unknown model-zoo names raise :class:`CheckpointError`.
    """
    if filename.startswith(("http://", "https://")):
        return filename
    for scheme, table in _SCHEMES.items():
        if filename.startswith(scheme):
            name = filename[len(scheme):]
            if name not in table:
                import difflib

                close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                raise CheckpointError(
                    f"Unknown checkpoint name '{filename}'.{hint} Known {scheme} names: "
                    f"{', '.join(sorted(table))}. Or give a local file path. {PRETRAINED_HINT}")
            return table[name]
    if "://" in filename:
        scheme = filename.split("://", 1)[0]
        raise CheckpointError(
            f"Checkpoint '{filename}': the '{scheme}://' scheme is not supported. Download the "
            f"file and give its local path, or use one of open-mmlab://, mmcls://, torchvision://, "
            f"http(s)://.")
    return None


def _cached_file(url: str, filename: str) -> Optional[str]:
    basename = osp.basename(urlparse(url).path)
    for directory in cache_dirs():
        path = osp.join(directory, basename)
        if osp.isfile(path):
            return path
    if filename.startswith("torchvision://"):
        # Older torchvision versions published the same weights under other hashes.
        name = filename[len("torchvision://"):]
        for directory in cache_dirs():
            hits = sorted(glob.glob(osp.join(directory, f"{name}-*.pth")))
            if hits:
                return hits[0]
    return None


def resolve_checkpoint_path(filename: str) -> str:
    """The local file a checkpoint name refers to; never downloads.

    Args:
        filename: a local path, ``open-mmlab://name``, ``mmcls://name``, ``torchvision://name`` or
            an ``http(s)://`` URL.

    Raises:
        CheckpointError: the file is not on this machine; the message gives the URL, the exact path
            to place the file at, and how to do without it.
    """
    filename = os.fspath(filename)
    url = url_of(filename)
    if url is None:
        path = osp.expanduser(filename)
        if not osp.isfile(path):
            raise CheckpointError(
                f"Checkpoint file '{filename}' does not exist (looked at {osp.abspath(path)}). "
                f"Check the path (--load-from / --resume-from / model.pretrained / the CKPT "
                f"argument). "
                f"{PRETRAINED_HINT}")
        return path
    cached = _cached_file(url, filename)
    if cached is not None:
        return cached
    target = osp.join(cache_dirs()[0], osp.basename(urlparse(url).path))
    searched = ", ".join(cache_dirs())
    raise CheckpointError(
        f"Checkpoint '{filename}' is not in the local cache, and seglab does not download files. "
        f"Download {url} and save it as {target} (for example: mkdir -p {osp.dirname(target)} && "
        f"wget -O {target} {url}); searched: {searched}. {PRETRAINED_HINT}")
