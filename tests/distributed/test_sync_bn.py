"""seglab.models.layers.sync_bn in one process: without a group, and in a gloo group of one.

The 2-process equivalence with BatchNorm2d is in test_sync_bn_two_processes.py.
"""
import warnings

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from seglab.engine.ddp import SegDistributedDataParallel, build_ddp
from seglab.errors import ConfigError
from seglab.models.layers.norm import build_norm_layer, reset_syncbn_warning
from seglab.models.layers.sync_bn import (CPUSyncBatchNorm, convert_sync_batchnorm,
                                          revert_sync_batchnorm, sync_batch_norm,
                                          sync_batchnorm_class, to_cpu_sync_batchnorm)


@pytest.fixture
def gloo_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _pair(momentum=0.1):
    """A CPUSyncBatchNorm and a BatchNorm2d with the same non-trivial affine parameters."""
    sync, bn = CPUSyncBatchNorm(3, momentum=momentum), nn.BatchNorm2d(3, momentum=momentum)
    with torch.no_grad():
        sync.weight.copy_(torch.tensor([0.5, 1.5, 2.0]))
        sync.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    bn.load_state_dict(sync.state_dict())
    return sync, bn


@pytest.mark.parametrize("momentum", [0.1, None])
def test_without_process_group_it_is_batchnorm2d(momentum):
    sync, bn = _pair(momentum)
    assert list(sync.state_dict()) == list(bn.state_dict())
    for _ in range(3):
        x = torch.randn(4, 3, 5, 5) * 2 + 1
        assert torch.allclose(sync(x), bn(x), atol=1e-6)
    assert torch.allclose(sync.running_mean, bn.running_mean) and \
        torch.allclose(sync.running_var, bn.running_var)
    assert sync.num_batches_tracked.item() == 3
    sync.eval(), bn.eval()
    x = torch.randn(2, 3, 5, 5)
    assert torch.allclose(sync(x), bn(x), atol=1e-6)
    with pytest.raises(ValueError, match="at least 2D"):
        sync(torch.randn(3))


def test_sync_function_in_a_group_of_one_matches_batch_norm(gloo_group):
    x = (torch.randn(3, 4, 5, 2) * 3 + 2).requires_grad_(True)
    weight = (torch.rand(4) + 0.5).requires_grad_(True)
    bias = torch.randn(4).requires_grad_(True)
    probe = torch.randn(3, 4, 5, 2)
    rm, rv = torch.zeros(4), torch.ones(4)
    out = sync_batch_norm(x, rm, rv, weight, bias, momentum=0.3, eps=1e-5)
    (out * probe).sum().backward()
    grads = [t.grad.clone() for t in (x, weight, bias)]
    for t in (x, weight, bias):
        t.grad = None
    ref_rm, ref_rv = torch.zeros(4), torch.ones(4)
    ref = F.batch_norm(x, ref_rm, ref_rv, weight, bias, True, 0.3, 1e-5)
    (ref * probe).sum().backward()
    assert torch.allclose(out, ref, atol=1e-5)
    for got, want in zip(grads, (x.grad, weight.grad, bias.grad)):
        assert torch.allclose(got, want, atol=1e-4)
    assert torch.allclose(rm, ref_rm, atol=1e-6) and torch.allclose(rv, ref_rv, atol=1e-5)


def test_sync_function_gradients_pass_gradcheck(gloo_group):
    x = torch.randn(2, 3, 3, 2, dtype=torch.float64, requires_grad=True)
    weight = torch.rand(3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, w, b: sync_batch_norm(a, None, None, w, b), (x, weight, bias))
    # Without affine parameters too.
    assert torch.autograd.gradcheck(lambda a: sync_batch_norm(a, None, None, None, None), (x,))


def test_sync_function_low_precision_and_single_value_error(gloo_group):
    x = torch.randn(4, 3, 4, 4) * 2
    out = sync_batch_norm(x.bfloat16(), None, None, None, None)
    assert out.dtype == torch.bfloat16
    assert torch.allclose(out.float(), F.batch_norm(x, None, None, training=True), atol=5e-2)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        sync_batch_norm(torch.randn(1, 3, 1, 1), None, None, None, None)


def test_build_norm_layer_syncbn_in_gloo_group_is_cpu_syncbn(gloo_group):
    reset_syncbn_warning()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning inside a process group
        name, layer = build_norm_layer(dict(type="SyncBN", requires_grad=False, momentum=0.05), 8)
    assert name == "bn" and type(layer) is CPUSyncBatchNorm and sync_batchnorm_class() is CPUSyncBatchNorm
    assert layer.momentum == 0.05 and not layer.weight.requires_grad
    assert list(layer.state_dict()) == list(nn.BatchNorm2d(8).state_dict())
    x = torch.randn(2, 8, 3, 3)
    assert torch.allclose(layer(x), F.batch_norm(x, None, None, training=True), atol=1e-5)


def test_convert_and_revert_keep_parameters_and_buffers():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm2d(4)))
    model[1].running_mean.fill_(0.25)
    weight = model[1].weight
    model.eval()
    assert convert_sync_batchnorm(model) is model
    assert [type(m) for m in (model[1], model[2][0])] == [CPUSyncBatchNorm] * 2
    assert model[1].weight is weight and model[1].running_mean[0].item() == 0.25
    assert not model[1].training
    revert_sync_batchnorm(model)
    assert [type(m) for m in (model[1], model[2][0])] == [nn.BatchNorm2d] * 2
    assert model[1].weight is weight and model[1].running_mean[0].item() == 0.25
    # A bare layer is returned replaced; torch's SyncBatchNorm converts to the CPU one on request.
    torch_sync = nn.SyncBatchNorm(4)
    assert type(revert_sync_batchnorm(torch_sync)) is nn.BatchNorm2d
    mixed = nn.Sequential(nn.SyncBatchNorm(4), nn.BatchNorm2d(4))
    to_cpu_sync_batchnorm(mixed)
    assert [type(m) for m in mixed] == [CPUSyncBatchNorm, nn.BatchNorm2d]


def test_build_ddp_needs_a_group_and_accepts_syncbn_on_cpu(gloo_group):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.SyncBatchNorm(4))
    ddp = build_ddp(model, "cpu", find_unused_parameters=True)
    assert isinstance(ddp, SegDistributedDataParallel) and ddp.find_unused_parameters
    assert type(ddp.module[1]) is CPUSyncBatchNorm  # DDP refuses nn.SyncBatchNorm on CPU
    ddp(torch.randn(2, 3, 4, 4)).sum().backward()
    assert ddp.module[0].weight.grad is not None


def test_build_ddp_without_group_says_how_to_launch():
    with pytest.raises(ConfigError, match="process group.*dist_train.sh"):
        build_ddp(nn.Conv2d(3, 4, 1))
