"""NLHead: the FCN layout around mmcv's NonLocal2d (keys, forward recomputed from its parts,
modes passed through), and its fixed num_convs."""
import pytest
import torch

from seglab.errors import ConfigError, RegistryError
from seglab.models import build_head
from seglab.models.layers import NonLocal2d

BN = dict(type="BN", requires_grad=True)


def _head(**kwargs):
    cfg = dict(type="NLHead", in_channels=12, in_index=0, channels=8, num_classes=3,
               norm_cfg=BN, dropout_ratio=0)
    cfg.update(kwargs)
    return build_head(cfg).eval()


def test_nl_head_keys_and_block_settings():
    head = _head(reduction=4, use_scale=False, mode="dot_product")
    block = head.nl_block
    assert isinstance(block, NonLocal2d) and block.in_channels == 8 and block.inter_channels == 2
    assert (block.mode, block.use_scale) == ("dot_product", False)
    assert block.conv_out.norm_cfg == BN  # the head's norm reaches conv_out only
    assert not block.g.with_norm and not block.theta.with_norm
    prefixes = sorted({k.split(".")[0] for k in head.state_dict()})
    assert prefixes == ["conv_cat", "conv_seg", "convs", "nl_block"]
    assert len(head.convs) == 2 and head.conv_cat.conv.in_channels == 12 + 8


@pytest.mark.parametrize("concat_input", [True, False])
def test_nl_head_forward_is_conv_block_conv(concat_input):
    head = _head(concat_input=concat_input)
    with torch.no_grad():
        head.nl_block.conv_out.bn.weight.normal_()  # leave the identity init
        x = torch.randn(2, 12, 5, 7)
        out = head.convs[1](head.nl_block(head.convs[0](x)))
        if concat_input:
            out = head.conv_cat(torch.cat([x, out], dim=1))
        torch.testing.assert_close(head([x]), head.conv_seg(out))
        assert not torch.allclose(head.nl_block(head.convs[0](x)), head.convs[0](x))


def test_nl_head_trains_in_every_mode():
    for mode in ("embedded_gaussian", "gaussian", "dot_product", "concatenation"):
        head = _head(mode=mode).train()
        label = torch.randint(0, 3, (2, 1, 16, 16))
        losses = head.forward_train([torch.randn(2, 12, 4, 4)], [{}] * 2, label, None)
        losses["loss_ce"].backward()
        assert head.convs[0].conv.weight.grad is not None


def test_nl_head_errors():
    with pytest.raises(RegistryError, match=r"unexpected key\(s\) 'num_convs'"):
        _head(num_convs=1)
    with pytest.raises(ConfigError, match="mode='softmax'"):
        _head(mode="softmax")
