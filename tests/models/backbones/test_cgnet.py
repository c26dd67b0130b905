import json

import pytest
import torch
from torch import nn

from seglab.errors import ConfigError
from seglab.models import build_loss
from seglab.models.backbones import CGNet, ContextGuidedBlock, GlobalContextExtractor
from seglab.models.losses.cross_entropy_loss import cross_entropy
from zoo_parts import ZOO, assert_matches_fixture, zoo_inputs

BN3 = dict(type="BN", eps=1e-3, requires_grad=True)
# The cgnet fixture's backbone (shared/data/mmseg-zoo/cgnet.py.txt).
ZOO_CGNET = dict(num_channels=(8, 16, 32), num_blocks=(2, 3), norm_cfg=BN3)
CLASS_WEIGHT = [2.5959933, 6.7415504, 3.5354059, 9.8663225, 9.690899]


def test_mmseg_keys_and_outputs_of_the_fixture():
    assert_matches_fixture(CGNet(**ZOO_CGNET), "cgnet")


def test_prelu_has_one_weight_per_channel_and_declared_outputs():
    model = CGNet(**ZOO_CGNET)
    assert [m.activate.num_parameters for m in model.stem] == [8, 8, 8]
    assert model.level1[0].conv1x1.activate.num_parameters == 16  # downsampling: out channels
    assert model.level1[1].conv1x1.activate.num_parameters == 8  # others: out // 2
    assert model.level2[0].f_sur.dilation == (4, 4) and model.level1[1].f_sur.dilation == (2, 2)
    outs = model(torch.randn(1, 3, 40, 56))
    assert [tuple(o.shape[1:]) for o in outs] == [(11, 20, 28), (35, 10, 14), (64, 5, 7)]
    assert model.output_shapes() == ((11, 2), (35, 4), (64, 8))


def test_context_guided_block_by_hand():
    block = ContextGuidedBlock(8, 8, dilation=2, reduction=4, norm_cfg=BN3).eval()
    x = torch.randn(2, 8, 6, 6)
    out = block.conv1x1(x)
    joint = block.activate(block.bn(torch.cat([block.f_loc(out), block.f_sur(out)], 1)))
    gate = torch.sigmoid(block.f_glo.fc[2](torch.relu(block.f_glo.fc[0](joint.mean((2, 3))))))
    torch.testing.assert_close(block(x), x + joint * gate[:, :, None, None])
    down = ContextGuidedBlock(8, 16, downsample=True, norm_cfg=BN3)
    assert not down.skip_connect and down(x).shape == (2, 16, 3, 3)


def test_with_cp_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = CGNet(**ZOO_CGNET)
    cp = CGNet(**ZOO_CGNET, with_cp=True)
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    sum(o.sum() for o in plain(x)).backward()
    grad, x.grad = x.grad.clone(), None
    sum(o.sum() for o in cp(x)).backward()
    torch.testing.assert_close(x.grad, grad)


def test_default_init_and_norm_eval():
    model = CGNet(**ZOO_CGNET, norm_eval=True)
    model.init_weights()
    assert all(torch.all(m.weight == 0) for m in model.modules() if isinstance(m, nn.PReLU))
    assert torch.all(model.norm_prelu_1[0].weight == 1)
    model.train()
    assert not model.norm_prelu_0[0].training and model.stem[0].conv.training


def test_errors_name_the_keys():
    with pytest.raises(ConfigError, match="num_channels must have 3"):
        CGNet(num_channels=(8, 16))
    with pytest.raises(ConfigError, match="reduction"):
        GlobalContextExtractor(4, reduction=8)


def test_class_weighted_ce_reductions_of_0x_and_1x(tmp_path):
    """cgnet.losses_0x_formula.json: MMSeg 0.x averages sum(w * nll) over all pixels (seglab's
    CrossEntropyLoss), 1.x over sum(w[label]); both from the same train-mode decode logits."""
    if not ZOO.is_dir():
        pytest.skip("MMSeg zoo fixtures not available")
    from test_mmseg_zoo import _eval_dropout_like, build_zoo_model

    formula = json.loads((ZOO / "cgnet.losses_0x_formula.json").read_text())
    loss = build_loss(dict(type="CrossEntropyLoss", class_weight=CLASS_WEIGHT))
    loss_non_ignore = build_loss(dict(type="CrossEntropyLoss", class_weight=CLASS_WEIGHT,
                                      avg_non_ignore=True))
    model = _eval_dropout_like(build_zoo_model("cgnet", tmp_path))  # BN in train mode
    x = zoo_inputs("cgnet")["x"]
    with torch.no_grad():
        logits = nn.functional.interpolate(model.decode_head(model.backbone(x)), size=(64, 64),
                                           mode="bilinear")
    gt_clean = zoo_inputs("cgnet")["gt"]
    gt_255 = torch.load(ZOO / "inputs.pt", weights_only=True)["gt"]
    clean, corner = formula["gt_without_ignore (cgnet.inputs.pt)"], formula[
        "gt_with_255_corner (inputs.pt)"]
    assert loss(logits, gt_clean).item() == pytest.approx(
        clean["0.x: nll_w.sum() / numel (= .mean())"], rel=1e-5)
    weights = torch.tensor(CLASS_WEIGHT)
    one_x = cross_entropy(logits, gt_clean, class_weight=weights,
                          avg_factor=weights[gt_clean].sum())
    assert one_x.item() == pytest.approx(
        clean["1.x: nll_w.sum() / (sum(cw[label]) + eps)"], rel=1e-5)
    assert loss(logits, gt_255, ignore_index=255).item() == pytest.approx(
        corner["0.x: nll_w.sum() / numel (= .mean())"], rel=1e-5)
    assert loss_non_ignore(logits, gt_255, ignore_index=255).item() == pytest.approx(
        corner["avg_non_ignore=True, 0.x: nll_w.sum() / n_valid"], rel=1e-5)
