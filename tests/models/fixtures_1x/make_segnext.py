"""Make the SegNeXt reference fixture (MSCAN + LightHamHead) with MMSegmentation 1.2.2.

Run with the MMSegmentation virtualenv, from anywhere (it writes next to this file):

    /work/mmseg-venv/bin/python tests/models/fixtures_1x/make_segnext.py [--check]

``--check`` writes into a temporary directory and compares with the committed files (text
byte by byte, tensors exactly). The procedure follows shared/data/mmseg-zoo/README.md (seeded
build, ``randomize`` of norms / convs / "other" parameters, no ``init_weights``, the same
inputs): see the SegNeXt section of README.md here. seglab is never imported. Other fixture
scripts here import ``randomize``, ``inputs``, ``metas``, ``eval_dropout_like``, ``_same`` and
``run`` (the command line) from this file.
"""
from __future__ import annotations

import argparse
import filecmp
import json
import math
import os
import os.path as osp
import pprint
import sys
import tempfile
from typing import Callable, Dict

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.abspath(osp.join(HERE, "..", "..", ".."))
sys.path.insert(0, osp.join(REPO, "benchmarks", "side_by_side"))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import mmcv_ops_standin  # noqa: E402

mmcv_ops_standin.install()

NAME = "segnext"
BUILD_SEED = 60  # torch.manual_seed before MODELS.build and before randomize
EVAL_SEED = 105  # torch.manual_seed right before each eval forward of the head (NMF bases)
LOSS_SEED = 104  # torch.manual_seed right before model.loss (as the zoo fixtures)
NORM_CFG = dict(type="BN", requires_grad=True)
HAM_NORM_CFG = dict(type="GN", num_groups=32, requires_grad=True)

# configs/segnext/segnext_mscan-t_1xb16-adamw-160k_ade20k-512x512.py (MMSeg 1.2.2), model dict
# without data_preprocessor, pretrained / init_cfg None; shrunk: embed_dims [8, 12, 16, 16],
# depths [2, 1, 1, 1], head in_channels [12, 16, 16], channels = ham_channels = 32 (GN keeps the
# config's 32 groups), num_classes 5. Everything else (mlp_ratios, kernel sizes, drop_path_rate,
# ham_kwargs with rand_init=True, dropout_ratio, in_index, align_corners) is the config's.
MODEL = dict(
    type="EncoderDecoder",
    pretrained=None,
    backbone=dict(
        type="MSCAN",
        init_cfg=None,
        embed_dims=[8, 12, 16, 16],
        mlp_ratios=[8, 8, 4, 4],
        drop_rate=0.0,
        drop_path_rate=0.1,
        depths=[2, 1, 1, 1],
        attention_kernel_sizes=[5, [1, 7], [1, 11], [1, 21]],
        attention_kernel_paddings=[2, [0, 3], [0, 5], [0, 10]],
        act_cfg=dict(type="GELU"),
        norm_cfg=NORM_CFG),
    decode_head=dict(
        type="LightHamHead",
        in_channels=[12, 16, 16],
        in_index=[1, 2, 3],
        channels=32,
        ham_channels=32,
        dropout_ratio=0.1,
        num_classes=5,
        norm_cfg=HAM_NORM_CFG,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
        ham_kwargs=dict(MD_S=1, MD_R=16, train_steps=6, eval_steps=7, inv_t=100,
                        rand_init=True)),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"))
# Gradients saved after the loss backward. ham_in feeds only the NMF: its gradient checks that
# the gradient flows through all NMF steps (as in MMSeg 1.2.2; no no_grad around them).
GRAD_KEYS = ("decode_head.hamburger.ham_in.conv.weight", "decode_head.hamburger.ham_in.conv.bias",
             "decode_head.hamburger.ham_out.gn.weight", "decode_head.squeeze.gn.bias",
             "decode_head.conv_seg.bias", "backbone.patch_embed1.proj.0.weight",
             "backbone.block1.1.layer_scale_1",
             "backbone.block3.0.attn.spatial_gating_unit.conv2_1.weight")


def randomize(model: nn.Module, seed: int) -> None:
    """shared/data/mmseg-zoo/README.md's ``randomize`` (the rules of the modules SegNeXt has)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for _, module in model.named_modules():
            for pname, p in module.named_parameters(recurse=False):
                if not p.requires_grad:
                    continue
                if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm,
                                       nn.GroupNorm)):
                    if pname == "weight":
                        p.uniform_(0.5, 1.5)
                    else:
                        p.normal_(0, 0.1)
                elif isinstance(module, nn.Conv2d):
                    if pname == "weight":
                        fan_in = module.in_channels // module.groups * math.prod(module.kernel_size)
                        p.normal_(0, 1 / math.sqrt(fan_in))
                    else:
                        p.normal_(0, 0.1)
                elif isinstance(module, nn.Linear):
                    if pname == "weight":
                        p.normal_(0, 1 / math.sqrt(module.in_features))
                    else:
                        p.normal_(0, 0.1)
                else:  # layer_scale_1 / layer_scale_2
                    p.normal_(0, 0.5)
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)


def other_parameters(model: nn.Module):
    kinds = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.Conv2d, nn.Linear)
    return [f"{m}.{p}" if m else p for m, module in model.named_modules()
            for p, _ in module.named_parameters(recurse=False) if not isinstance(module, kinds)]


def inputs() -> Dict[str, torch.Tensor]:
    """The zoo's inputs.pt: x (2, 3, 64, 64) float32, gt (2, 64, 64) int64 with a 255 corner."""
    torch.manual_seed(100)
    x = torch.randn(2, 3, 64, 64)
    torch.manual_seed(102)
    gt = torch.randint(0, 5, (2, 64, 64))
    gt[:, :10, :10] = 255
    return dict(x=x, gt=gt)


def build(dtype=torch.float32):
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    torch.manual_seed(BUILD_SEED)
    model = MODELS.build(MODEL)
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    randomize(model, BUILD_SEED)
    if dtype == torch.float64:
        for module in model.modules():
            if type(module).__name__ == "NMF2D":
                module._build_bases = _bases_fp64
    return model.to(dtype)


def _bases_fp64(B, S, D, R, device=None):
    """NMF2D._build_bases for the float64 run: the same float32 draw, normalised in float64
    (MMSeg's float32 bases cannot be multiplied with float64 maps)."""
    import torch.nn.functional as F

    return F.normalize(torch.rand((B * S, D, R)).double(), dim=1).to(device)


def metas(x: torch.Tensor):
    h, w = x.shape[-2:]
    return [dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w)) for _ in range(len(x))]


def eval_outputs(model, x):
    model.eval()
    with torch.no_grad():
        feats = model.backbone(x)
        torch.manual_seed(EVAL_SEED)
        head_out = model.decode_head.forward(feats)
        torch.manual_seed(EVAL_SEED)
        logits = model.encode_decode(x, metas(x))
    return [f.contiguous() for f in feats], head_out, logits


def eval_dropout_like(model):
    model.train()
    for module in model.modules():
        if isinstance(module, (nn.Dropout, nn.Dropout2d, nn.MultiheadAttention)) or \
                type(module).__name__ == "DropPath":
            module.eval()


def loss_and_grads(model, x, gt):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    samples = []
    for meta, label in zip(metas(x), gt):
        sample = SegDataSample(metainfo=meta)
        sample.gt_sem_seg = PixelData(data=label[None])
        samples.append(sample)
    eval_dropout_like(model)
    model.zero_grad()
    torch.manual_seed(LOSS_SEED)
    losses = model.loss(x, samples)
    sum(v for k, v in losses.items() if "loss" in k).backward()
    params = dict(model.named_parameters())
    grads = {k: params[k].grad.detach().clone() for k in GRAD_KEYS}
    return {k: v.item() for k, v in losses.items()}, grads


def write(out_dir: str) -> Dict[str, str]:
    torch.set_num_threads(2)
    data = inputs()
    model = build()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    feats, head_out, logits = eval_outputs(model, data["x"])
    losses, grads = loss_and_grads(model, data["x"], data["gt"])

    # Tolerance sizing: the same computations in float64 (same state_dict, same seeds).
    model64 = build(torch.float64)
    model64.load_state_dict(state, strict=True)
    _, head64, logits64 = eval_outputs(model64, data["x"].double())
    losses64, grads64 = loss_and_grads(model64, data["x"].double(), data["gt"])
    tol = dict(
        max_abs_logit=logits.abs().max().item(),
        logits_fp64_vs_fp32=(logits.double() - logits64).abs().max().item(),
        head_out_fp64_vs_fp32=(head_out.double() - head64).abs().max().item(),
        loss_fp64_vs_fp32=max(abs(losses[k] - losses64[k]) for k in losses if "loss" in k),
        grads_rel_fp64_vs_fp32=max(((grads[k].double() - grads64[k]).abs().max()
                                    / grads64[k].abs().max()).item() for k in grads))

    files = {
        f"{NAME}.py.txt": "".join(f"{k} = {pprint.pformat(v, width=92, sort_dicts=False)}\n"
                                  for k, v in (("norm_cfg", NORM_CFG),
                                               ("ham_norm_cfg", HAM_NORM_CFG),
                                               ("model", MODEL))),
        f"{NAME}.tolerances.json": json.dumps(tol, indent=1, sort_keys=True) + "\n",
        f"{NAME}.losses.json": json.dumps(losses, indent=1) + "\n",
    }
    tensors = {
        f"{NAME}.inputs.pt": dict(x=data["x"], gt=data["gt"].to(torch.uint8)),  # 255 fits
        f"{NAME}.state_dict.pth": state,
        f"{NAME}.feats.pt": dict(backbone=feats, decode_head_out=head_out),
        f"{NAME}.whole_logits.pt": logits,
        f"{NAME}.grads.pt": grads,
    }
    os.makedirs(out_dir, exist_ok=True)
    for fname, text in files.items():
        with open(osp.join(out_dir, fname), "w") as f:
            f.write(text)
    for fname, obj in tensors.items():
        # The legacy (non-zip) format: ~150 bytes less per tensor than the zip one (246 keys).
        torch.save(obj, osp.join(out_dir, fname), _use_new_zipfile_serialization=False)
        torch.load(osp.join(out_dir, fname), weights_only=True)  # plain tensors / containers only
    print("other parameters (N(0, 0.5^2)):", sorted({k.rsplit(".", 1)[-1]
                                                    for k in other_parameters(model)}))
    print("params (excl. num_batches_tracked):",
          sum(v.numel() for k, v in state.items() if "num_batches" not in k))
    print("losses:", losses)
    print("tolerances:", tol)
    return {f: osp.join(out_dir, f) for f in list(files) + list(tensors)}


def _same(new: str, old: str) -> bool:
    """Text files byte by byte; .pt/.pth by content (legacy torch.save writes storage addresses
    as keys, so its bytes differ from run to run)."""
    if not new.endswith((".pt", ".pth")):
        return filecmp.cmp(new, old, shallow=False)
    return _equal(torch.load(new, weights_only=True), torch.load(old, weights_only=True))


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    return a == b


def run(write_files: Callable[[str], Dict[str, str]], description: str) -> None:
    """The command line of a fixture script: write next to this file, or ``--check``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true",
                        help="regenerate in a temporary directory and compare with the files here")
    args = parser.parse_args()
    if not args.check:
        for path in write_files(HERE).values():
            print(f"{os.path.getsize(path):8d}  {osp.relpath(path, REPO)}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        written = write_files(tmp)
        differ = [f for f, p in written.items() if not _same(p, osp.join(HERE, f))]
    print("identical" if not differ else f"differ: {differ}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    run(write, __doc__.splitlines()[0])
