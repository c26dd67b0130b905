import warnings

import pytest
import torch
from torch import nn

from seglab.errors import ConfigError
from seglab.models import build_segmentor
from seglab.models.layers import build_norm_layer
from seglab.models.layers.norm import SYNCBN_FALLBACK_MESSAGE, reset_syncbn_warning


@pytest.mark.parametrize("cfg,name,cls", [
    (dict(type="BN"), "bn", nn.BatchNorm2d),
    (dict(type="BN1d"), "bn", nn.BatchNorm1d),
    (dict(type="GN", num_groups=4), "gn", nn.GroupNorm),
    (dict(type="LN"), "ln", nn.LayerNorm),
    (dict(type="IN"), "in", nn.InstanceNorm2d),
])
def test_types_names_and_postfix(cfg, name, cls):
    got_name, layer = build_norm_layer(cfg, 8, postfix=2)
    assert got_name == f"{name}2" and isinstance(layer, cls)
    assert layer.eps == 1e-5


def test_requires_grad_false_freezes_and_config_is_not_mutated():
    cfg = dict(type="BN", requires_grad=False, momentum=0.01)
    _, layer = build_norm_layer(cfg, 4)
    assert all(not p.requires_grad for p in layer.parameters())
    assert layer.momentum == 0.01
    assert cfg == dict(type="BN", requires_grad=False, momentum=0.01)


def test_errors_name_the_problem():
    with pytest.raises(ConfigError, match="num_groups"):
        build_norm_layer(dict(type="GN"), 8)
    with pytest.raises(ConfigError, match="'BatchNorm'.*BN, BN1d"):
        build_norm_layer(dict(type="BatchNorm"), 8)
    with pytest.raises(ConfigError, match="invalid arguments for BN"):
        build_norm_layer(dict(type="BN", epsilon=1e-3), 8)


def _sync_bn_model_cfg(cfgs):
    sync = dict(type="SyncBN", requires_grad=True)
    return cfgs.segmentor(backbone=cfgs.backbone(norm_cfg=sync),
                          decode_head=cfgs.fcn_head(norm_cfg=sync))


def test_syncbn_without_process_group_is_batchnorm_with_one_warning(cfgs):
    assert not torch.distributed.is_initialized()
    reset_syncbn_warning()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = build_segmentor(_sync_bn_model_cfg(cfgs))
        build_segmentor(_sync_bn_model_cfg(cfgs))  # a second model in the same process
    syncbn = [w for w in caught if "SyncBN" in str(w.message)]
    assert len(syncbn) == 1 and str(syncbn[0].message) == SYNCBN_FALLBACK_MESSAGE
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert len(bns) > 10 and all(type(m) is nn.BatchNorm2d for m in bns)
    model.train()
    out = model.forward_train(torch.randn(2, 3, 32, 32), [{}] * 2,
                              torch.randint(0, 5, (2, 1, 32, 32)))
    assert torch.isfinite(out["decode.loss_ce"])


def test_syncbn_model_loads_bn_checkpoint_keys(cfgs):
    """SyncBN and BN models have identical state_dict keys and shapes."""
    reset_syncbn_warning()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sync_model = build_segmentor(_sync_bn_model_cfg(cfgs))
    bn_model = build_segmentor(cfgs.segmentor())
    bn_state = bn_model.state_dict()
    assert {k: v.shape for k, v in sync_model.state_dict().items()} == \
        {k: v.shape for k, v in bn_state.items()}
    sync_model.load_state_dict(bn_state, strict=True)
