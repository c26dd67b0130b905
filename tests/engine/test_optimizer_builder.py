"""build_optimizer: mmcv DefaultOptimizerConstructor semantics for paramwise_cfg."""
import pytest
import torch
from torch import nn

from seglab.engine import build_optimizer
from seglab.errors import ConfigError, RegistryError


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, bias=True), nn.BatchNorm2d(4),
                                      nn.Conv2d(4, 4, 3, groups=4, bias=True))
        self.decode_head = nn.Module()
        self.decode_head.conv_seg = nn.Conv2d(4, 2, 1)
        self.decode_head.norm = nn.GroupNorm(2, 4)
        self.scale = nn.Parameter(torch.ones(1))
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def _settings(optimizer, model):
    """param name -> (lr, weight_decay) as the optimizer will use them."""
    by_id = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            by_id[id(p)] = (group["lr"], group["weight_decay"])
    return {name: by_id[id(p)] for name, p in model.named_parameters()}


def test_paramwise_rules_follow_mmcv():
    model = Net()
    cfg = dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=1e-4,
               paramwise_cfg=dict(custom_keys={"decode_head": dict(lr_mult=10.0),
                                               "decode_head.norm": dict(decay_mult=0.5)},
                                  norm_decay_mult=0.0, bias_lr_mult=2.0, bias_decay_mult=0.3,
                                  dwconv_decay_mult=0.1))
    opt = build_optimizer(model, cfg)
    s = _settings(opt, model)
    lr, wd = 0.01, 1e-4
    assert s["backbone.0.weight"] == pytest.approx((lr, wd))
    assert s["backbone.0.bias"] == pytest.approx((lr * 2, wd * 0.3))
    assert s["backbone.1.weight"] == pytest.approx((lr, 0.0))         # norm: no bias_lr_mult
    assert s["backbone.1.bias"] == pytest.approx((lr, 0.0))
    assert s["backbone.2.weight"] == pytest.approx((lr, wd * 0.1))    # depth-wise conv
    assert s["backbone.2.bias"] == pytest.approx((lr * 2, wd * 0.1))  # dwconv decay beats bias decay
    # custom keys: the longest matching key wins and the other rules are skipped.
    assert s["decode_head.conv_seg.weight"] == pytest.approx((lr * 10, wd))
    assert s["decode_head.conv_seg.bias"] == pytest.approx((lr * 10, wd))
    assert s["decode_head.norm.weight"] == pytest.approx((lr, wd * 0.5))
    assert s["scale"] == pytest.approx((lr, wd))
    assert s["frozen.weight"] == pytest.approx((lr, wd))  # requires_grad=False: defaults
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9
    # Parameters with identical settings share a group.
    assert len(opt.param_groups) == 7
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_custom_keys_ties_break_alphabetically_and_match_substrings():
    model = Net()
    opt = build_optimizer(model, dict(type="SGD", lr=1.0, weight_decay=0.0, paramwise_cfg=dict(
        custom_keys={"seg": dict(lr_mult=3.0), "con": dict(lr_mult=2.0)})))
    s = _settings(opt, model)
    assert s["decode_head.conv_seg.weight"][0] == 2.0  # both length 3: 'con' < 'seg'
    assert s["backbone.0.weight"][0] == 1.0


def test_without_paramwise_cfg_one_group():
    model = Net()
    opt = build_optimizer(model, dict(type="AdamW", lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01))
    assert isinstance(opt, torch.optim.AdamW) and len(opt.param_groups) == 1
    assert opt.param_groups[0]["lr"] == 6e-5


def test_config_errors_are_named():
    model = Net()
    with pytest.raises(RegistryError, match=r"optimizer\.type = 'SDG'.*Did you mean 'SGD'"):
        build_optimizer(model, dict(type="SDG", lr=0.1))
    with pytest.raises(RegistryError, match="momentun.*did you mean 'momentum'"):
        build_optimizer(model, dict(type="SGD", lr=0.1, momentun=0.9))
    with pytest.raises(ConfigError, match="unknown key.*decay_rate"):
        build_optimizer(model, dict(type="SGD", lr=0.1, paramwise_cfg=dict(decay_rate=0.9)))
    with pytest.raises(ConfigError, match="weight_decay is not set"):
        build_optimizer(model, dict(type="SGD", lr=0.1, paramwise_cfg=dict(norm_decay_mult=0.0)))
    with pytest.raises(ConfigError, match="constructor = 'NoSuchConstructor' is not supported"):
        build_optimizer(model, dict(type="SGD", lr=0.1, constructor="NoSuchConstructor"))


def test_resume_state_from_mmcv_one_group_per_parameter_layout():
    from seglab.engine.optimizer import load_optimizer_state

    torch.manual_seed(0)
    model = Net()
    lrs = {name: (0.1 if "decode_head" in name else 0.01) for name, _ in model.named_parameters()}
    mmcv_opt = torch.optim.SGD([dict(params=[p], lr=lrs[n], initial_lr=lrs[n])
                                for n, p in model.named_parameters()], lr=0.01, momentum=0.9)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    mmcv_opt.step()
    saved = mmcv_opt.state_dict()

    ours = build_optimizer(model, dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=0.0, paramwise_cfg=dict(
        custom_keys={"decode_head": dict(lr_mult=10.0)})))
    assert len(ours.param_groups) < len(saved["param_groups"])
    load_optimizer_state(ours, model, saved)
    for p in model.parameters():
        if p.requires_grad:
            assert torch.equal(ours.state[p]["momentum_buffer"], mmcv_opt.state[p]["momentum_buffer"])
    initial = {id(p): g["initial_lr"] for g in ours.param_groups for p in g["params"]}
    assert all(initial[id(p)] == lrs[n] for n, p in model.named_parameters())

    other = Net()  # a different model cannot take this state
    wrong = build_optimizer(other.decode_head, dict(type="SGD", lr=0.01, momentum=0.9))
    with pytest.raises(ValueError):
        load_optimizer_state(wrong, other.decode_head, saved)
