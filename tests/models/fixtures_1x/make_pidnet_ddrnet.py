"""Make the PIDNet and DDRNet reference fixtures with MMSegmentation 1.2.2.

Run with the MMSegmentation virtualenv, from anywhere (it writes next to this file):

    /work/mmseg-venv/bin/python tests/models/fixtures_1x/make_pidnet_ddrnet.py [--check]

``--check`` writes into a temporary directory and compares with the committed files (tensors by
content). Three tiny models (``pidnet_s``: PIDNet-S structure, PAPPM + LightBag; ``pidnet_l``:
PIDNet-L structure, DAPPM + Bag; ``ddrnet``: DDRNet-23-slim structure), built, randomised and
fed as shared/data/mmseg-zoo/README.md describes (``randomize``, ``inputs`` and the dropout rule
are make_segnext.py's, imported). The labels are blocky (random classes in 16x16 blocks) so that
the boundary label has edges and non-edges; the input is 2x3x32x64; PIDHead's
``d_cls_seg.bias`` is raised by ``BOUNDARY_BIAS`` after ``randomize`` so that some pixels are
predicted boundaries (``loss_sem_bd`` reads only those). See the pidnet_s section of README.md
here. seglab is never imported.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
import tempfile
from typing import Dict

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.abspath(osp.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

# make_segnext installs the stand-in mmcv.ops before anything imports mmseg.
from make_segnext import _same, eval_dropout_like, inputs, metas, randomize  # noqa: E402

NORM_CFG = dict(type="BN", requires_grad=True)
CLASS_WEIGHT = [0.8373, 0.918, 0.866, 1.0345, 1.0166]  # the configs' first five
EDGE_WIDTH = 4  # the PIDNet configs' GenerateEdge(edge_width=4)
# A partial OHEM selection (thres 0.9 / min_kept 131072 keeps every pixel here).
OHEM_PARTIAL = dict(type="OhemCrossEntropy", thres=0.3, min_kept=1000, class_weight=CLASS_WEIGHT)
OHEM_CONFIG = dict(type="OhemCrossEntropy", thres=0.9, min_kept=131072, class_weight=CLASS_WEIGHT)


def _pidnet(channels: int, num_stem_blocks: int, num_branch_blocks: int,
            ppm_channels: int) -> dict:
    """configs/pidnet/pidnet-{s,l}_2xb6-120k_1024x1024-cityscapes.py's model dict (MMSeg 1.2.2)
    without data_preprocessor, init_cfg None, BN for SyncBN, shrunk (channels, ppm_channels,
    head channels 8, num_classes 5); CE without class_weight (1.2.2's class-weighted CE indexes
    the weights with the label, 255 included, and fails on ignored pixels); loss_decode[1] with
    a partial OHEM selection."""
    return dict(
        type="EncoderDecoder", pretrained=None,
        backbone=dict(type="PIDNet", in_channels=3, channels=channels, ppm_channels=ppm_channels,
                      num_stem_blocks=num_stem_blocks, num_branch_blocks=num_branch_blocks,
                      align_corners=False, norm_cfg=NORM_CFG,
                      act_cfg=dict(type="ReLU", inplace=True), init_cfg=None),
        decode_head=dict(
            type="PIDHead", in_channels=channels * 4, channels=8, num_classes=5,
            norm_cfg=NORM_CFG, act_cfg=dict(type="ReLU", inplace=True), align_corners=True,
            loss_decode=[dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=0.4),
                         dict(OHEM_PARTIAL, loss_weight=1.0),
                         dict(type="BoundaryLoss", loss_weight=20.0),
                         dict(OHEM_CONFIG, loss_weight=1.0)]),
        train_cfg=dict(), test_cfg=dict(mode="whole"))


MODELS_1X: Dict[str, dict] = {
    "pidnet_s": _pidnet(channels=2, num_stem_blocks=2, num_branch_blocks=3, ppm_channels=8),
    "pidnet_l": _pidnet(channels=2, num_stem_blocks=3, num_branch_blocks=3, ppm_channels=6),
    # configs/ddrnet/ddrnet_23-slim_in1k-pre_2xb6-120k_cityscapes-1024x1024.py, shrunk likewise.
    "ddrnet": dict(
        type="EncoderDecoder", pretrained=None,
        backbone=dict(type="DDRNet", in_channels=3, channels=3, ppm_channels=8,
                      norm_cfg=NORM_CFG, align_corners=False, init_cfg=None),
        decode_head=dict(type="DDRHead", in_channels=3 * 4, channels=8, dropout_ratio=0.,
                         num_classes=5, align_corners=False, norm_cfg=NORM_CFG,
                         loss_decode=[dict(OHEM_CONFIG, loss_weight=1.0),
                                      dict(OHEM_PARTIAL, loss_weight=0.4)]),
        train_cfg=dict(), test_cfg=dict(mode="whole")),
}
SEEDS = {"pidnet_s": 61, "pidnet_l": 62, "ddrnet": 63}  # build and randomize seed
LOSS_SEED = 104
# sigmoid(logit) > 0.8 needs logit > 1.39; the randomised boundary logits average 0.4 (pidnet_s)
# and -0.4 (pidnet_l): these shifts make about half of the pixels predicted boundaries.
BOUNDARY_BIAS = {"pidnet_s": 1.0, "pidnet_l": 1.8}
GRAD_KEYS = {
    "pidnet_s": ("backbone.stem.0.conv.weight", "backbone.dfm.f_p.bn.weight",
                 "backbone.spp.processes.conv.weight", "backbone.pag_1.f_i.conv.weight",
                 "decode_head.d_cls_seg.weight", "decode_head.p_cls_seg.bias",
                 "decode_head.conv_seg.weight", "decode_head.i_head.norm.weight"),
    "pidnet_l": ("backbone.stem.0.conv.weight", "backbone.dfm.conv.conv.weight",
                 "backbone.spp.processes.0.conv.weight", "decode_head.d_cls_seg.weight",
                 "decode_head.conv_seg.bias"),
    "ddrnet": ("backbone.stem.0.conv.weight", "backbone.spp.compression.conv.weight",
               "backbone.down_2.1.conv.weight", "decode_head.aux_cls_seg.weight",
               "decode_head.conv_seg.bias", "decode_head.head.1.weight"),
}


def blocky_inputs() -> Dict[str, torch.Tensor]:
    """x: the top half of the zoo's x, (2, 3, 32, 64) (files stay small; PIDNet's 1/64 level is
    1x1); gt: ``torch.manual_seed(102)``, randint(0, 5, (2, 2, 4)) blown up to 16x16 blocks,
    ``gt[:, :10, :10] = 255``; gt_edge_map: GenerateEdge(edge_width=4) of each gt."""
    from mmseg.datasets.transforms import GenerateEdge

    x = inputs()["x"][:, :, :32].contiguous()
    torch.manual_seed(102)
    gt = torch.randint(0, 5, (2, 2, 4)).repeat_interleave(16, 1).repeat_interleave(16, 2)
    gt[:, :10, :10] = 255
    edge = GenerateEdge(edge_width=EDGE_WIDTH)
    edges = [edge.transform(dict(img_shape=tuple(g.shape), gt_seg_map=g.numpy()))["gt_edge_map"]
             for g in gt]
    return dict(x=x, gt=gt, gt_edge_map=torch.from_numpy(np.stack(edges)))


def build(name: str):
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    torch.manual_seed(SEEDS[name])
    model = MODELS.build(MODELS_1X[name])
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
    randomize(model, SEEDS[name])
    if name.startswith("pidnet"):
        with torch.no_grad():
            model.decode_head.d_cls_seg.bias += BOUNDARY_BIAS[name]
    return model


def _contiguous(x):
    return x.contiguous() if isinstance(x, torch.Tensor) else [t.contiguous() for t in x]


def eval_outputs(model, x):
    model.eval()
    with torch.no_grad():
        feats = model.backbone(x)
        head_out = model.decode_head.forward(feats)
        logits = model.encode_decode(x, metas(x))
    return _contiguous(feats), head_out, logits


def train_outputs(model, x):
    """Backbone and head outputs in train mode (batch statistics; dropout in eval)."""
    eval_dropout_like(model)
    with torch.no_grad():
        feats = model.backbone(x)
        head_out = model.decode_head.forward(feats)
    return _contiguous(feats), _contiguous(head_out)


def loss_and_grads(name, model, data):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    samples = []
    for i, meta in enumerate(metas(data["x"])):
        sample = SegDataSample(metainfo=meta)
        sample.gt_sem_seg = PixelData(data=data["gt"][i][None])
        if "gt_edge_map" in data:
            sample.gt_edge_map = PixelData(data=data["gt_edge_map"][i][None])
        samples.append(sample)
    eval_dropout_like(model)
    model.zero_grad()
    torch.manual_seed(LOSS_SEED)
    losses = model.loss(data["x"], samples)
    sum(v for k, v in losses.items() if "loss" in k).backward()
    params = dict(model.named_parameters())
    grads = {k: params[k].grad.detach().clone() for k in GRAD_KEYS[name]}
    return {k: v.item() for k, v in losses.items()}, grads


def write_one(name: str, out_dir: str) -> Dict[str, str]:
    data = blocky_inputs()
    if not name.startswith("pidnet"):
        del data["gt_edge_map"]
    model = build(name)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    feats, head_out, logits = eval_outputs(model, data["x"])
    train_feats, train_head_out = train_outputs(model, data["x"])
    losses, grads = loss_and_grads(name, model, data)
    # Tolerance sizing: the same computations in float64 (same state_dict, same inputs).
    model64 = build(name).double()
    model64.load_state_dict(state, strict=True)
    data64 = dict(data, x=data["x"].double())
    _, _, logits64 = eval_outputs(model64, data64["x"])
    train_feats64, _ = train_outputs(model64, data64["x"])
    model64.load_state_dict(state, strict=True)  # the running statistics train_outputs moved
    losses64, grads64 = loss_and_grads(name, model64, data64)
    tol = dict(max_abs_logit=logits.abs().max().item(),
               logits_fp64_vs_fp32=(logits.double() - logits64).abs().max().item(),
               train_backbone_fp64_vs_fp32=max((a.double() - b).abs().max().item()
                                               for a, b in zip(train_feats, train_feats64)),
               loss_fp64_vs_fp32=max(abs(losses[k] - losses64[k]) for k in losses if "loss" in k),
               grads_rel_fp64_vs_fp32={k: ((grads[k].double() - grads64[k]).abs().max()
                                           / grads64[k].abs().max()).item() for k in grads})
    saved_inputs = {k: (v.to(torch.uint8) if k != "x" else v) for k, v in data.items()}
    files = {f"{name}.py.txt": "norm_cfg = " + repr(NORM_CFG) + "\nmodel = "
             + repr(MODELS_1X[name]) + "\n",
             f"{name}.losses.json": json.dumps(losses, indent=1) + "\n",
             f"{name}.tolerances.json": json.dumps(tol, indent=1, sort_keys=True) + "\n"}
    tensors = {f"{name}.inputs.pt": saved_inputs, f"{name}.state_dict.pth": state,
               f"{name}.feats.pt": dict(backbone=feats, decode_head_out=head_out,
                                        train_backbone=train_feats,
                                        train_decode_head_out=train_head_out),
               f"{name}.whole_logits.pt": logits, f"{name}.grads.pt": grads}
    os.makedirs(out_dir, exist_ok=True)
    for fname, text in files.items():
        with open(osp.join(out_dir, fname), "w") as f:
            f.write(text)
    for fname, obj in tensors.items():
        torch.save(obj, osp.join(out_dir, fname), _use_new_zipfile_serialization=False)
        torch.load(osp.join(out_dir, fname), weights_only=True)
    print(name, "params (excl. num_batches_tracked):",
          sum(v.numel() for k, v in state.items() if "num_batches" not in k))
    print(name, "losses:", losses, "max abs logit:", logits.abs().max().item())
    return {f: osp.join(out_dir, f) for f in list(files) + list(tensors)}


def write(out_dir: str) -> Dict[str, str]:
    torch.set_num_threads(2)
    written: Dict[str, str] = {}
    for name in MODELS_1X:
        written.update(write_one(name, out_dir))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="regenerate in a temporary directory and compare with the files here")
    args = parser.parse_args()
    if not args.check:
        for path in write(HERE).values():
            print(f"{os.path.getsize(path):8d}  {osp.relpath(path, REPO)}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        written = write(tmp)
        differ = [f for f, p in written.items() if not _same(p, osp.join(HERE, f))]
    print("identical" if not differ else f"differ: {differ}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
