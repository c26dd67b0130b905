"""BaseBackbone: declared outputs, pretrained -> init_cfg, frozen_stages, norm_eval, signature."""
import inspect

import pytest
import torch
from torch import nn

from seglab.errors import ConfigError, RegistryError
from seglab.models import ResNet, ResNetV1c, build_backbone
from seglab.models.backbones import BaseBackbone, ShapeSpec, shape_specs
from seglab.registry import MODELS, build_from_cfg, check_keys


class TwoStage(BaseBackbone):
    """A conv stem (stride 2) and one stage (stride 2) of ``width`` channels."""

    def __init__(self, width: int = 4, pretrained=None, init_cfg=None, frozen_stages: int = -1,
                 norm_eval: bool = False):
        super().__init__(pretrained, init_cfg, frozen_stages, norm_eval)
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.BatchNorm2d(width))
        self.stage1 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, 2, 1), nn.BatchNorm2d(2 * width))
        self.width = width
        self._freeze_stages()

    def output_shapes(self):
        return shape_specs([self.width, 2 * self.width], [2, 4])

    def frozen_modules(self):
        return [self.stem, self.stage1][:self.frozen_stages + 1]

    def forward(self, x):
        x = self.stem(x)
        return x, self.stage1(x)


class Wide(TwoStage, fixed_keys=("frozen_stages",)):
    """Forwards its base's keys; fixes frozen_stages."""

    def __init__(self, extra: int = 0, **kwargs):
        super().__init__(frozen_stages=-1, **kwargs)
        self.extra = extra


def test_declared_channels_and_strides_follow_constructor_args():
    model = TwoStage(width=6)
    assert model.output_shapes() == (ShapeSpec(6, 2), ShapeSpec(12, 4))
    assert model.out_channels == (6, 12) and model.out_strides == (2, 4)
    outs = model(torch.randn(1, 3, 16, 16))
    assert [tuple(o.shape[1:]) for o in outs] == [(6, 8, 8), (12, 4, 4)]


def test_resnet_declares_selected_stages_in_stage_order():
    model = ResNetV1c(depth=50, stem_channels=16, base_channels=8, out_indices=(3, 1),
                      strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2))
    assert model.out_channels == (64, 256) and model.out_strides == (8, 16)
    outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in outs] == [(64, 8, 8), (256, 4, 4)]
    assert ResNet(depth=18).out_channels == (64, 128, 256, 512)
    assert ResNet(depth=18, num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1),
                  out_indices=(2,)).out_strides == (16,)


def test_undeclared_outputs_and_opting_out():
    class Undeclared(BaseBackbone):
        def forward(self, x):
            return (x,)

    with pytest.raises(NotImplementedError, match="Undeclared must declare its outputs"):
        Undeclared().output_shapes()

    class Nested(BaseBackbone):
        def output_shapes(self):
            return (ShapeSpec(3, 1), None)  # the second output is a (feat, cls_token) pair

    assert Nested().out_channels == (3, None) and Nested().out_strides == (1, None)
    with pytest.raises(ValueError, match="2 output channels"):
        shape_specs([1, 2], [4])


def test_pretrained_becomes_init_cfg():
    model = TwoStage(pretrained="ckpt.pth")
    assert model.init_cfg == dict(type="Pretrained", checkpoint="ckpt.pth")
    assert model.pretrained == "ckpt.pth"
    assert TwoStage(init_cfg=dict(type="Kaiming")).init_cfg == dict(type="Kaiming")
    assert TwoStage().init_cfg is None


def test_pretrained_and_init_cfg_together_is_mmsegs_error_with_the_path():
    with pytest.raises(ConfigError, match="model.backbone: set either pretrained or init_cfg.*"
                                          "cannot be setting at the same time"):
        build_from_cfg(dict(type="ResNet", depth=18, pretrained="a.pth",
                            init_cfg=dict(type="Pretrained", checkpoint="b.pth")),
                       MODELS, key="model.backbone")
    with pytest.raises(ConfigError, match="pretrained must be a path/URL string or None, got 3"):
        TwoStage(pretrained=3)


def test_frozen_stages_hook_is_reapplied_by_train():
    model = TwoStage(frozen_stages=0)
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert all(p.requires_grad for p in model.stage1.parameters())
    model.train()
    assert not model.stem.training and model.stage1.training
    before = model.stem[1].running_mean.clone()
    model(torch.randn(2, 3, 8, 8))
    assert torch.equal(model.stem[1].running_mean, before)
    assert not torch.equal(model.stage1[1].running_mean, torch.zeros(8))
    model.eval()
    assert not model.stem.training and not model.stage1.training


def test_frozen_stages_unsupported_is_an_error():
    class NoStages(BaseBackbone):
        def __init__(self, frozen_stages=-1):
            super().__init__(frozen_stages=frozen_stages)
            self._freeze_stages()

    NoStages()
    with pytest.raises(ConfigError, match="NoStages does not support frozen_stages=1; use -1"):
        NoStages(frozen_stages=1)


def test_norm_eval_keeps_batch_norms_in_eval_only_while_training():
    model = TwoStage(norm_eval=True).train()
    assert model.training and model.stem[0].training
    assert not model.stem[1].training and not model.stage1[1].training
    assert model.stem[0].weight.requires_grad
    assert TwoStage(norm_eval=False).train().stem[1].training


def test_subclass_signature_is_merged_without_fixed_keys():
    params = inspect.signature(Wide.__init__).parameters
    assert list(params) == ["self", "extra", "width", "pretrained", "init_cfg", "norm_eval"]
    check_keys(Wide, ["extra", "width", "norm_eval"])
    with pytest.raises(RegistryError, match="'frozen_stages'.*Accepted keys: extra, width"):
        check_keys(Wide, ["frozen_stages"])
    # an explicit constructor keeps its own signature (nothing merged into it)
    assert "kwargs" not in inspect.signature(TwoStage.__init__).parameters
    assert Wide(extra=1, width=2).out_channels == (2, 4)


def test_resnet_variants_reject_the_keys_they_fix():
    with pytest.raises(RegistryError, match="'avg_down'"):
        build_backbone(dict(type="ResNetV1d", depth=18, avg_down=False))
    assert "deep_stem" not in inspect.signature(ResNetV1c.__init__).parameters
    assert "frozen_stages" in inspect.signature(ResNetV1c.__init__).parameters
