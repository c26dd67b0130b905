"""HRNet: MMSeg's state_dict keys, declared outputs (odd sizes too), the HRModule fusion by hand,
multiscale_output, frozen_stages, norm_eval, with_cp, the default / zero-residual init, the
offline message for open-mmlab:// names, and clear errors for a bad ``extra``."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.errors import ConfigError
from seglab.models import build_backbone
from seglab.models.backbones import BasicBlock, Bottleneck, HRModule, HRNet
from shared_data import SHARED

# The mmseg-zoo fixture's backbone (hrnet_fcn / hrnet_ocr).
ZOO_EXTRA = dict(
    stage1=dict(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(2,),
                num_channels=(8,)),
    stage2=dict(num_modules=1, num_branches=2, block="BASIC", num_blocks=(1, 1),
                num_channels=(4, 8)),
    stage3=dict(num_modules=2, num_branches=3, block="BASIC", num_blocks=(1, 1, 1),
                num_channels=(4, 8, 16)),
    stage4=dict(num_modules=2, num_branches=4, block="BASIC", num_blocks=(1, 1, 1, 1),
                num_channels=(4, 8, 16, 32)))
ZOO_STATE = f"{SHARED}/data/mmseg-zoo/hrnet_fcn.state_dict.pth"


def _extra(**stages) -> dict:
    extra = copy.deepcopy(ZOO_EXTRA)
    for name, values in stages.items():
        extra[name].update(values)
    return extra


def test_state_dict_keys_and_shapes_are_mmsegs():
    state = {k: tuple(v.shape) for k, v in HRNet(ZOO_EXTRA).state_dict().items()}
    try:
        mmseg = torch.load(ZOO_STATE, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        mmseg = None
    if mmseg is not None:  # MMSeg's own keys for the same config
        assert state == {k[len("backbone."):]: tuple(v.shape) for k, v in mmseg.items()
                         if k.startswith("backbone.")}
    assert state["conv1.weight"] == (64, 3, 3, 3) and state["conv2.weight"] == (64, 64, 3, 3)
    assert state["layer1.0.downsample.0.weight"] == (32, 64, 1, 1)  # Bottleneck 8 -> 32
    assert state["transition1.0.0.weight"] == (4, 32, 3, 3)  # width change: 3x3 conv
    assert state["transition1.1.0.0.weight"] == (8, 32, 3, 3)  # new branch: strided conv
    assert "transition2.0.0.weight" not in state  # same width: no transition
    assert state["stage4.1.fuse_layers.0.3.0.weight"] == (4, 32, 1, 1)  # up: 1x1 conv
    # down by 3 levels: two 3x3 steps keeping 4 channels, then 4 -> 32
    assert state["stage4.1.fuse_layers.3.0.1.0.weight"] == (4, 4, 3, 3)
    assert state["stage4.1.fuse_layers.3.0.2.0.weight"] == (32, 4, 3, 3)
    assert "bn1.weight" in state and "stage2.0.branches.1.0.conv1.weight" in state


@pytest.mark.parametrize("size", [(64, 64), (65, 43)])
def test_outputs_are_what_it_declares(size):
    model = HRNet(ZOO_EXTRA).eval()
    assert model.out_channels == (4, 8, 16, 32) and model.out_strides == (4, 8, 16, 32)
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    for i, out in enumerate(outs):
        h, w = size
        for _ in range(i + 2):  # stride-2 3x3 convs with padding 1: ceil halving
            h, w = (h + 1) // 2, (w + 1) // 2
        assert tuple(out.shape) == (1, model.out_channels[i], h, w)


def test_hrmodule_fusion_by_hand():
    torch.manual_seed(0)
    module = HRModule(3, BasicBlock, (1, 1, 1), [4, 8, 16], (4, 8, 16)).eval()
    for m in module.modules():  # non-trivial norms
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2), m.weight.data.uniform_(0.5, 1.5)
    x = [torch.randn(2, 4, 9, 9), torch.randn(2, 8, 5, 5), torch.randn(2, 16, 3, 3)]
    with torch.no_grad():
        outs = module(list(x))
        b = [branch(t) for branch, t in zip(module.branches, x)]
        fuse = module.fuse_layers

        def up(j, i):  # 1x1 conv + norm, x2**(j-i) bilinear, then to branch i's size
            y = fuse[i][j][1](fuse[i][j][0](b[j]))
            y = F.interpolate(y, scale_factor=2 ** (j - i), mode="bilinear", align_corners=False)
            return F.interpolate(y, size=b[i].shape[2:], mode="bilinear", align_corners=False)

        steps = fuse[2][0]  # two strided steps: conv-norm-relu, then conv-norm
        down20 = steps[1][1](steps[1][0](F.relu(steps[0][1](steps[0][0](b[0])))))
        expected = [F.relu(b[0] + up(1, 0) + up(2, 0)),
                    F.relu(fuse[1][0](b[0]) + b[1] + up(2, 1)),
                    F.relu(down20 + fuse[2][1](b[1]) + b[2])]
    for out, exp in zip(outs, expected):
        torch.testing.assert_close(out, exp, rtol=0, atol=1e-6)
    assert [tuple(o.shape[2:]) for o in outs] == [(9, 9), (5, 5), (3, 3)]
    assert fuse[0][0] is None and len(steps) == 2 and len(steps[0]) == 3 and len(steps[1]) == 2


def test_single_branch_module_has_no_fusion():
    module = HRModule(1, Bottleneck, (2,), [16], (4,))
    assert module.fuse_layers is None
    out = module([torch.randn(1, 16, 6, 6)])
    assert len(out) == 1 and out[0].shape == (1, 16, 6, 6)


def test_multiscale_output_false_returns_the_finest_branch_only():
    model = HRNet(ZOO_EXTRA, multiscale_output=False)
    assert model.out_channels == (4,) and model.out_strides == (4,)
    assert len(model.stage4[-1].fuse_layers) == 1 and len(model.stage4[0].fuse_layers) == 4
    assert len(model.stage3[-1].fuse_layers) == 3  # only the last stage's last module
    outs = model(torch.randn(2, 3, 32, 32))
    assert len(outs) == 1 and outs[0].shape == (2, 4, 8, 8)


def test_frozen_stages_and_norm_eval():
    model = HRNet(ZOO_EXTRA, frozen_stages=2).train()
    frozen = [model.conv1, model.bn1, model.conv2, model.bn2, model.layer1, model.transition1,
              model.stage2, model.transition2]
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules())
    assert all(p.requires_grad for p in model.stage3.parameters())
    assert model.stage3.training and model.stage4.training
    model = HRNet(ZOO_EXTRA, frozen_stages=4).train()
    assert not any(p.requires_grad for p in model.parameters())
    model = HRNet(ZOO_EXTRA, norm_eval=True).train()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms) and model.stage4.training
    with pytest.raises(ConfigError, match="frozen_stages=5"):
        HRNet(ZOO_EXTRA, frozen_stages=5)


def test_with_cp_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = HRNet(ZOO_EXTRA).train()
    checkpointed = HRNet(ZOO_EXTRA, with_cp=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    for model in (plain, checkpointed):
        sum(o.square().mean() for o in model(x)).backward()
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_default_and_zero_residual_init():
    model = HRNet(ZOO_EXTRA)
    model.init_weights()
    assert all(torch.all(m.weight == 1) for m in model.modules()
               if isinstance(m, nn.BatchNorm2d))
    conv = model.stage3[0].branches[2][0].conv1  # Kaiming normal, fan_out: std sqrt(2 / (16*9))
    assert conv.weight.std().item() == pytest.approx((2 / (16 * 9)) ** 0.5, rel=0.15)
    model = HRNet(ZOO_EXTRA, zero_init_residual=True)
    model.init_weights()
    assert torch.all(model.layer1[0].bn3.weight == 0)
    assert torch.all(model.stage4[1].branches[3][0].bn2.weight == 0)
    assert torch.all(model.stage4[1].branches[3][0].bn1.weight == 1)


def test_pretrained_names_explain_what_to_do_offline(tmp_path, monkeypatch):
    from seglab.errors import CheckpointError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty checkpoint cache
    monkeypatch.delenv("SEGLAB_HOME", raising=False)
    model = HRNet(ZOO_EXTRA, pretrained="open-mmlab://msra/hrnetv2_w18")
    assert model.init_cfg == dict(type="Pretrained", checkpoint="open-mmlab://msra/hrnetv2_w18")
    with pytest.raises(CheckpointError, match="pretrained=None") as err:
        model.init_weights()
    assert "hrnetv2_w18-00eb2006.pth" in str(err.value)


@pytest.mark.parametrize("extra,match", [
    ({k: v for k, v in ZOO_EXTRA.items() if k != "stage4"}, "stage4 is missing"),
    (_extra(stage2=dict(num_blocks=(1,))), r"stage2: num_branches=2 but num_blocks=\(1,\)"),
    (_extra(stage3=dict(block="BASICC")), r"stage3.block = 'BASICC'; use one of"),
    (_extra(stage3=dict(num_module=2)), r"stage3: missing keys \[\], unknown keys "
                                        r"\['num_module'\]"),
    (_extra(stage4=dict(fuse_method="CAT")), "fuse_method = 'CAT'"),
])
def test_bad_extra_names_the_key(extra, match):
    with pytest.raises(ConfigError, match=match):
        build_backbone(dict(type="HRNet", extra=extra))
