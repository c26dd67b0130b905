import pytest
import torch
from torch import nn

from seglab.errors import ConfigError, RegistryError
from seglab.models.layers import DropPath, Dropout, build_dropout, drop_path


def test_identity_in_eval_and_at_zero_probability():
    x = torch.randn(4, 3, 5)
    layer = DropPath(0.5).eval()
    assert layer(x) is x
    assert DropPath(0.0).train()(x) is x
    assert drop_path(x, 0.5, training=False) is x


def test_train_drops_whole_samples_and_rescales_with_mmcv_draw():
    x = torch.randn(6, 2, 3, 3)
    torch.manual_seed(0)
    out = DropPath(0.4).train()(x)
    torch.manual_seed(0)
    # MMCV/timm: one uniform draw per sample, kept where floor(keep + u) == 1, scaled by 1/keep.
    mask = (0.6 + torch.rand(6, 1, 1, 1)).floor()
    torch.testing.assert_close(out, x / 0.6 * mask)
    assert 0 < mask.sum() < 6  # this seed keeps some samples and drops others
    for sample, kept in zip(out, mask.flatten()):
        assert bool(kept) == bool(sample.abs().sum() > 0)  # all of a sample, or none of it


def test_train_keeps_the_expectation():
    torch.manual_seed(1)
    x = torch.ones(20000, 3)
    out = DropPath(0.25).train()(x)
    dropped = (out == 0).all(dim=1).float().mean()
    assert abs(dropped.item() - 0.25) < 0.02
    assert abs(out.mean().item() - 1.0) < 0.03
    torch.testing.assert_close(out.unique(), torch.tensor([0.0, 1 / 0.75]))


def test_build_dropout_types_and_mmcv_argument_name():
    dp = build_dropout(dict(type="DropPath", drop_prob=0.2))
    assert isinstance(dp, DropPath) and dp.drop_prob == 0.2
    do = build_dropout(dict(type="Dropout", drop_prob=0.3))
    assert isinstance(do, Dropout) and isinstance(do, nn.Dropout) and do.p == 0.3
    assert isinstance(build_dropout(None), nn.Identity)
    assert list(dp.state_dict()) == [] and list(do.state_dict()) == []
    with pytest.raises(RegistryError, match="'p'.*Accepted keys: drop_prob, inplace"):
        build_dropout(dict(type="Dropout", p=0.5))
    with pytest.raises(RegistryError, match="'DropPat'.*DropPath"):
        build_dropout(dict(type="DropPat", drop_prob=0.1))


def test_bad_probability_is_a_config_error():
    with pytest.raises(ConfigError, match=r"DropPath: drop_prob must be in \[0, 1\)"):
        DropPath(1.0)
    with pytest.raises(ConfigError, match=r"Dropout: drop_prob must be in \[0, 1\]"):
        Dropout(-0.1)
    assert Dropout(1.0).p == 1.0
