"""PIDHead: MMSeg 1.x's keys, the three branches in training and the fused logits at test time,
the four loss terms against their definitions, the gt_edge_map contract (the segmentor passes it
from the batch; a clear error without it), loss_decode checks, and one training step of the 1.x
PIDNet-S config (shrunk) on the output of its own train pipeline (GenerateEdge included)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from seglab.config import Config, convert_1x_config
from seglab.datasets.collate import collate, prepare_batch
from seglab.datasets.sample_loading import build_compose
from seglab.errors import ConfigError
from seglab.models import build_head, build_loss, build_segmentor
from seglab.models.losses import accuracy

ROOT = Path(__file__).resolve().parents[3]
BN = dict(type="BN", requires_grad=True)
OHEM = dict(type="OhemCrossEntropy", thres=0.7, min_kept=50)
LOSSES = [dict(type="CrossEntropyLoss", loss_weight=0.4), OHEM,
          dict(type="BoundaryLoss", loss_weight=20.0), OHEM]
HEAD = dict(type="PIDHead", in_channels=16, channels=8, num_classes=3, norm_cfg=BN,
            dropout_ratio=0.0, align_corners=True, loss_decode=LOSSES)
BACKBONE = dict(type="PIDNet", channels=4, ppm_channels=4, num_branch_blocks=2, norm_cfg=BN)


def _feats():
    torch.manual_seed(0)
    return [torch.randn(2, 8, 4, 4), torch.randn(2, 16, 4, 4), torch.randn(2, 8, 4, 4)]


def _labels():
    torch.manual_seed(1)
    label = torch.randint(0, 3, (2, 1, 32, 32))
    label[:, :, :4, :4] = 255
    edge = torch.randint(0, 2, (2, 1, 32, 32))
    edge[:, :, -3:] = 255  # padding
    return label, edge


def test_mmseg_keys():
    keys = set(build_head(HEAD).state_dict())
    for key in ("i_head.conv.bn.weight", "i_head.conv.conv.weight", "i_head.norm.running_mean",
                "p_head.conv.bn.weight", "d_head.conv.conv.weight", "d_head.norm.weight",
                "conv_seg.weight", "p_cls_seg.bias", "d_cls_seg.weight"):
        assert key in keys, key
    head = build_head(HEAD)
    assert head.d_head.conv.conv.weight.shape == (4, 8, 3, 3)  # in/2 -> in/4
    assert head.d_cls_seg.out_channels == 1 and head.extra_gt_keys == ("gt_edge_map",)
    assert not head.i_head.conv.with_bias and head.i_head.conv.order == ("norm", "act", "conv")


def test_branches_in_training_and_fused_logits_at_test_time():
    head = build_head(HEAD)
    feats = _feats()
    p, i, d = head.train()(feats)
    assert (p.shape, i.shape, d.shape) == ((2, 3, 4, 4), (2, 3, 4, 4), (2, 1, 4, 4))
    torch.testing.assert_close(head.forward_test(feats, [], None), i)  # train mode too
    with torch.no_grad():
        out = head.eval()(feats)
    assert out.shape == (2, 3, 4, 4)
    x = head.i_head.act(head.i_head.norm(head.i_head.conv(feats[1])))
    torch.testing.assert_close(out, head.conv_seg(x))


def test_losses_follow_their_definitions():
    head = build_head(HEAD).train()
    feats = _feats()
    label, edge = _labels()
    losses = head.forward_train(feats, [{}] * 2, label, None, gt_edge_map=edge)
    assert list(losses) == head.loss_names + ["acc_seg"]
    up = lambda t: torch.nn.functional.interpolate(  # noqa: E731
        t, size=(32, 32), mode="bilinear", align_corners=True)
    p, i, d = (up(t) for t in head(feats))
    sem, bd = label[:, 0], edge[:, 0]
    ce, ohem, boundary = (build_loss(cfg) for cfg in LOSSES[:3])
    torch.testing.assert_close(losses["loss_sem_p"], ce(p, sem))
    torch.testing.assert_close(losses["loss_sem_i"], ohem(i, sem))
    torch.testing.assert_close(losses["loss_bd"], boundary(d, bd))
    masked = torch.where(torch.sigmoid(d[:, 0]) > 0.8, sem, torch.full_like(sem, 255))
    torch.testing.assert_close(losses["loss_sem_bd"], ohem(i, masked))
    torch.testing.assert_close(losses["acc_seg"], accuracy(i, sem, ignore_index=255))


@pytest.mark.parametrize("bias", [-100.0, 100.0])
def test_boundary_term_reads_only_confident_boundaries(bias):
    head = build_head(HEAD).train()
    head.d_cls_seg.bias.data.fill_(bias)
    label, edge = _labels()
    losses = head.forward_train(_feats(), [{}] * 2, label, None, gt_edge_map=edge)
    if bias < 0:  # no pixel above 0.8: nothing to learn from, 0 (not NaN)
        assert losses["loss_sem_bd"].item() == 0.0
    else:  # every pixel: the same OHEM term as loss_sem_i
        torch.testing.assert_close(losses["loss_sem_bd"], losses["loss_sem_i"])


def test_missing_edge_map_and_wrong_loss_lists_are_explained():
    head = build_head(HEAD).train()
    label, _ = _labels()
    with pytest.raises(ConfigError, match=r"gt_edge_map.*GenerateEdge"):
        head.forward_train(_feats(), [{}] * 2, label, None)
    with pytest.raises(ConfigError, match="needs loss_decode as a list of 4 loss dicts"):
        build_head(dict(HEAD, loss_decode=dict(type="CrossEntropyLoss")))
    with pytest.raises(ConfigError, match="list of 4 loss dicts .* got 2 losses"):
        build_head(dict(HEAD, loss_decode=LOSSES[:2]))
    default = build_head({k: v for k, v in HEAD.items() if k != "loss_decode"})
    assert [type(m).__name__ for m in default.loss_decode] == [
        "CrossEntropyLoss", "OhemCrossEntropy", "BoundaryLoss", "OhemCrossEntropy"]


def _segmentor(**head):
    return build_segmentor(dict(type="EncoderDecoder", backbone=BACKBONE,
                                decode_head=dict(HEAD, **head), test_cfg=dict(mode="whole")))


def test_segmentor_passes_the_edge_map_from_the_batch():
    torch.manual_seed(0)
    model = _segmentor().train()
    label, edge = _labels()
    img = torch.randn(2, 3, 32, 32)
    metas = [dict(img_shape=(32, 32), ori_shape=(32, 32))] * 2
    out = model.train_step(dict(img=img, img_metas=metas, gt_semantic_seg=label, gt_edge_map=edge))
    assert set(out["log_vars"]) == {"decode.loss_sem_p", "decode.loss_sem_i", "decode.loss_bd",
                                    "decode.loss_sem_bd", "decode.acc_seg", "loss"}
    terms = sum(out["log_vars"][f"decode.{n}"] for n in model.decode_head.loss_names)
    assert out["log_vars"]["loss"] == pytest.approx(terms, rel=1e-6)
    with pytest.raises(ConfigError, match="GenerateEdge"):
        model.forward_train(img, metas, label)
    with pytest.raises(TypeError, match=r"unexpected argument\(s\) \['edge_map'\]"):
        model.forward_train(img, metas, label, edge_map=edge)
    # heads that do not declare it ignore a gt_* map
    fcn = build_segmentor(dict(type="EncoderDecoder", backbone=BACKBONE, decode_head=dict(
        type="FCNHead", in_channels=16, in_index=1, channels=8, num_convs=1, num_classes=3,
        norm_cfg=BN)))
    assert "decode.loss_ce" in fcn.forward_train(img, metas, label, gt_edge_map=edge)
    with torch.no_grad():
        assert model.eval().encode_decode(img, metas).shape == (2, 3, 32, 32)


def test_generate_edge_gives_the_fixtures_mmseg_edges():
    """seglab's GenerateEdge on the pidnet_s fixture's labels gives MMSeg's gt_edge_map."""
    from seglab.datasets.transforms import GenerateEdge

    data = torch.load(ROOT / "tests/models/fixtures_1x/pidnet_s.inputs.pt", weights_only=True)
    for gt, expected in zip(data["gt"], data["gt_edge_map"]):
        seg = gt.numpy()
        out = GenerateEdge(edge_width=4)(dict(gt_semantic_seg=seg, img_shape=seg.shape))
        np.testing.assert_array_equal(out["gt_edge_map"], expected.numpy())


def test_the_1x_config_trains_a_step_on_its_own_pipeline():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = convert_1x_config(Config.fromfile(
            ROOT / "configs/1.x/pidnet/pidnet-s_2xb6-120k_1024x1024-cityscapes.py"))
    pipeline = [dict(t) for t in cfg.data.train.pipeline[2:]]  # after the two loaders
    assert [t["type"] for t in pipeline][-4:] == ["GenerateEdge", "Normalize", "Pad",
                                                  "PackSegInputs"]
    for t in pipeline:  # a 96x64 image instead of 2048x1024 crops of 1024
        if t["type"] == "RandomResize":
            t["scale"] = (96, 64)
        elif t["type"] == "RandomCrop":
            t["crop_size"] = (64, 64)
        elif t["type"] == "Pad":
            t["size"] = (64, 64)
    compose = build_compose(pipeline)
    rng = np.random.default_rng(0)
    samples = []
    for i in range(2):
        seg = np.zeros((64, 96), np.uint8)
        seg[:, 40:] = 1 + i
        seg[20:30] = 255
        samples.append(compose(dict(
            img=rng.integers(0, 255, (64, 96, 3), dtype=np.uint8), gt_semantic_seg=seg,
            seg_fields=["gt_semantic_seg"], img_shape=(64, 96, 3), ori_shape=(64, 96, 3),
            filename=f"{i}.png", ori_filename=f"{i}.png")))
    batch = prepare_batch(collate(samples), "cpu")
    assert batch["gt_edge_map"].shape == (2, 1, 64, 64)
    assert set(batch["gt_edge_map"].unique().tolist()) <= {0, 1, 255}
    model_cfg = dict(cfg.model)
    model_cfg["backbone"] = dict(model_cfg["backbone"], channels=2, ppm_channels=4,
                                 norm_cfg=BN, init_cfg=None)
    model_cfg["decode_head"] = dict(model_cfg["decode_head"], in_channels=8, channels=8,
                                    norm_cfg=BN)
    torch.manual_seed(0)
    model = build_segmentor(model_cfg).train()
    out = model.train_step(batch)
    assert torch.isfinite(out["loss"]) and out["log_vars"]["decode.loss_bd"] > 0
    out["loss"].backward()
    assert model.decode_head.d_cls_seg.weight.grad.abs().sum() > 0
