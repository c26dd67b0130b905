"""STDCHead: boundary targets against a hand computation and against MMSeg's own targets, the
float32 tie at the threshold, the 0.x Dice value of the zoo fixture, keys and losses."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from seglab.models import build_head, build_loss
from seglab.models.decode_heads import FCNHead
from shared_data import SHARED

ZOO = f"{SHARED}/data/mmseg-zoo"
BN = dict(type="BN", requires_grad=True)
HEAD = dict(type="STDCHead", in_channels=8, channels=4, num_convs=1, num_classes=2,
            boundary_threshold=0.1, concat_input=False, norm_cfg=BN, align_corners=True,
            loss_decode=[dict(type="CrossEntropyLoss", loss_name="loss_ce", use_sigmoid=True,
                              loss_weight=1.0),
                         dict(type="DiceLoss", loss_name="loss_dice", loss_weight=1.0)])


def _zoo(name: str):
    try:
        return torch.load(f"{ZOO}/{name}", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        pytest.skip("MMSeg zoo fixtures not available")


def laplacian_edges(label: torch.Tensor, stride: int) -> torch.Tensor:
    """8 * centre - the 8 neighbours (zero outside), at centres 0, stride, 2 * stride, ...,
    brought back to full size by repeating each value ``stride`` times (nearest)."""
    n, h, w = label.shape
    padded = F.pad(label.double(), (1, 1, 1, 1))
    out = torch.zeros(n, (h - 1) // stride + 1, (w - 1) // stride + 1, dtype=torch.float64)
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            window = padded[:, i * stride:i * stride + 3, j * stride:j * stride + 3]
            out[:, i, j] = 9 * window[:, 1, 1] - window.sum(dim=(1, 2))
    return out.repeat_interleave(stride, 1)[:, :h].repeat_interleave(stride, 2)[:, :, :w]


def test_boundary_targets_by_hand():
    torch.manual_seed(0)
    label = torch.randint(0, 3, (2, 24, 20))
    label[:, :5, :5] = 255
    head = build_head(HEAD)
    ours = head.boundary_targets(label[:, None])
    assert ours.shape == (2, 1, 24, 20) and ours.dtype == torch.int64
    full, x2, x4 = (laplacian_edges(label, s) > 0.1 for s in (1, 2, 4))
    # 0.6 / 0.3 weights pass the 0.1 threshold alone; the 0.1 of stride 4 alone is a float32 tie
    # (float32(0.1) > 0.1 is False in float32), so it never makes a boundary.
    assert torch.equal(ours[:, 0], (full | x2).long())
    assert (x4 & ~(full | x2)).any()  # the tie case occurs in this label map
    looser = build_head(dict(HEAD, boundary_threshold=0.05)).boundary_targets(label[:, None])
    assert torch.equal(looser[:, 0], (full | x2 | x4).long())


def test_boundary_targets_and_dice_equal_mmsegs():
    inputs, dice = _zoo("inputs.pt"), _zoo("stdc.dice_inputs.pt")
    head = build_head(HEAD)
    # The targets MMSeg's STDCHead built from the zoo labels (ignored pixels included).
    assert torch.equal(head.boundary_targets(inputs["gt"][:, None])[:, 0], dice["target"])
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the same targets under AMP
        assert torch.equal(head.boundary_targets(inputs["gt"][:, None])[:, 0], dice["target"])
    expected = json.loads(open(f"{ZOO}/stdc.dice_0x.json").read())["loss_dice_0x"]
    loss = build_loss(dict(type="DiceLoss", loss_name="loss_dice"))(dice["pred"], dice["target"])
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_losses_are_the_fcn_losses_against_the_boundaries():
    torch.manual_seed(0)
    head = build_head(HEAD)
    assert isinstance(head, FCNHead) and head.loss_names == ["loss_ce", "loss_dice"]
    logits = torch.randn(2, 2, 8, 8)
    label = torch.randint(0, 4, (2, 1, 32, 32))
    ours = head.losses(logits, label)
    reference = FCNHead.losses(head, logits, head.boundary_targets(label))
    assert list(ours) == ["loss_ce", "loss_dice", "acc_seg"]
    for key in ours:
        torch.testing.assert_close(ours[key], reference[key])
    # the boundary targets, not the labels, are what the losses see
    assert not torch.allclose(FCNHead.losses(head, logits, label.clamp(max=1))["loss_ce"],
                              ours["loss_ce"])


def test_kernels_are_constants_in_the_state_dict():
    head = build_head(HEAD)
    state = head.state_dict()
    assert state["laplacian_kernel"].flatten().tolist() == [-1, -1, -1, -1, 8, -1, -1, -1, -1]
    assert state["fusion_kernel"].shape == (1, 3, 1, 1)
    assert torch.equal(state["fusion_kernel"].flatten(),
                       torch.tensor([0.6, 0.3, 0.1], dtype=torch.float32))
    assert not head.fusion_kernel.requires_grad
    assert "laplacian_kernel" not in dict(head.named_parameters())
    feats = [torch.randn(2, 8, 16, 16)]
    label = torch.randint(0, 2, (2, 1, 64, 64))
    losses = head.forward_train(feats, [{}] * 2, label, None)
    (losses["loss_ce"] + losses["loss_dice"]).backward()
    assert head.fusion_kernel.grad is None and head.conv_seg.weight.grad is not None
