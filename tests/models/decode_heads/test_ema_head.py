"""EMAHead / EMAModule: the EM iterations by hand, the bases buffer (drawn at build, unit
columns, in the state_dict), its moving-average update in training only (equal to MMSeg's
updated buffer of the emanet fixture), and exact resume of the bases from a checkpoint."""
import math
import os
import shutil
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from seglab.checkpoint import load_checkpoint, save_checkpoint
from seglab.config import Config
from seglab.errors import ConfigError
from seglab.models import build_head, build_segmentor
from seglab.models.decode_heads import EMAModule
from shared_data import SHARED
from spawn_ranks import spawn_ranks

BN = dict(type="BN", requires_grad=True)
ZOO = Path(f"{SHARED}/data/mmseg-zoo")


def _em_by_hand(x, bases, num_stages):
    """EM for one image: x (C, L), bases (C, K). E-step: responsibilities z = softmax over the
    bases of x^T mu; M-step: mu = x z / (column sums of z), unit columns. Returns (recon, mu)."""
    for _ in range(num_stages):
        z = torch.softmax(x.T @ bases, dim=1)  # (L, K)
        mu = x @ (z / z.sum(dim=0, keepdim=True))
        bases = mu / mu.norm(dim=0, keepdim=True)
    return bases @ z.T, bases


def test_em_iterations_by_hand_and_the_training_update():
    torch.manual_seed(3)
    module = EMAModule(channels=6, num_bases=4, num_stages=3, momentum=0.2)
    start = module.bases.clone()
    x = torch.randn(2, 6, 3, 5)
    expected = [_em_by_hand(xi.reshape(6, -1), start[0], 3) for xi in x]
    module.eval()
    recon = module(x)
    torch.testing.assert_close(recon, torch.stack([r for r, _ in expected]).reshape(2, 6, 3, 5),
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(module.bases, start)  # eval: the buffer stays
    module.train()
    module(x)
    mean = torch.stack([mu for _, mu in expected]).mean(0)
    mean = mean / mean.norm(dim=0, keepdim=True)
    torch.testing.assert_close(module.bases[0], 0.8 * start[0] + 0.2 * mean, atol=1e-6, rtol=1e-5)
    assert "bases" in dict(module.named_buffers()) and not module.bases.requires_grad


def test_bases_are_drawn_at_build_from_the_global_rng():
    torch.manual_seed(7)
    a = EMAModule(16, 8, 1, 0.1).bases
    torch.manual_seed(7)
    b = EMAModule(16, 8, 1, 0.1).bases
    c = EMAModule(16, 8, 1, 0.1).bases
    assert a.shape == (1, 16, 8) and torch.equal(a, b) and not torch.equal(a, c)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(1, 8))
    torch.manual_seed(7)
    raw = torch.zeros(1, 16, 8).normal_(0, math.sqrt(2 / 8))
    torch.testing.assert_close(a, raw / raw.norm(dim=1, keepdim=True))


def _head(**kwargs):
    cfg = dict(type="EMAHead", in_channels=10, in_index=0, channels=8, ema_channels=6,
               num_bases=4, num_stages=2, num_classes=3, norm_cfg=BN, dropout_ratio=0)
    cfg.update(kwargs)
    return build_head(cfg)


@pytest.mark.parametrize("concat_input", [True, False])
def test_ema_head_forward_from_its_parts(concat_input):
    head = _head(concat_input=concat_input).eval()
    x = torch.randn(2, 10, 4, 5)
    with torch.no_grad():
        identity = head.ema_in_conv(x)
        recon = torch.relu(head.ema_module(head.ema_mid_conv(identity)))
        feats = head.bottleneck(torch.relu(identity + head.ema_out_conv(recon)))
        if concat_input:
            feats = head.conv_cat(torch.cat([x, feats], dim=1))
        torch.testing.assert_close(head([x]), head.conv_seg(feats))
    assert hasattr(head, "conv_cat") == concat_input
    assert not head.ema_mid_conv.with_norm and not head.ema_mid_conv.with_activation
    assert not head.ema_out_conv.with_activation


def test_ema_head_gradients_skip_the_em_and_the_frozen_conv():
    head = _head().train()
    label = torch.randint(0, 3, (2, 1, 8, 8))
    head.forward_train([torch.randn(2, 10, 4, 4)], [{}] * 2, label, None)["loss_ce"].backward()
    assert all(not p.requires_grad and p.grad is None for p in head.ema_mid_conv.parameters())
    assert head.ema_in_conv.conv.weight.grad.abs().sum() > 0
    assert head.ema_out_conv.conv.weight.grad.abs().sum() > 0


def test_emanet_fixture_bases_after_one_training_forward(tmp_path):
    """MMSeg's buffer after the loss forward of the fixture (train mode, seed 104)."""
    if not ZOO.is_dir():
        pytest.skip("MMSeg zoo fixtures not available")
    shutil.copy(ZOO / "emanet.py.txt", tmp_path / "emanet.py")
    model = build_segmentor(Config.fromfile(str(tmp_path / "emanet.py")).model)
    model.load_state_dict(torch.load(ZOO / "emanet.state_dict.pth", weights_only=True))
    inputs = torch.load(ZOO / "inputs.pt", weights_only=True)
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout2d):
            m.eval()
    torch.manual_seed(104)
    model.forward_train(inputs["x"], [{}] * 2, inputs["gt"][:, None])
    expected = torch.load(ZOO / "emanet.bases_after_loss.pt", weights_only=True)
    torch.testing.assert_close(model.decode_head.ema_module.bases, expected, atol=1e-6, rtol=0)


def _tiny_emanet(seed):
    torch.manual_seed(seed)
    return build_segmentor(dict(
        type="EncoderDecoder",
        backbone=dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=4,
                      strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True,
                      norm_cfg=BN),
        decode_head=dict(type="EMAHead", in_channels=32, in_index=3, channels=8,
                         ema_channels=8, num_bases=4, num_stages=2, num_classes=3,
                         norm_cfg=BN),
        test_cfg=dict(mode="whole")))


def _train_step(model, optimizer, seed):
    torch.manual_seed(seed)
    img, label = torch.randn(2, 3, 32, 32), torch.randint(0, 3, (2, 1, 32, 32))
    metas = [dict(img_shape=(32, 32), ori_shape=(32, 32))] * 2
    loss, _ = model.parse_losses(model.train().forward_train(img, metas, label))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def test_bases_are_saved_and_resumed_exactly(tmp_path):
    model = _tiny_emanet(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    built = model.decode_head.ema_module.bases.clone()
    _train_step(model, optimizer, 1)
    after_one = model.decode_head.ema_module.bases.clone()
    assert not torch.equal(after_one, built)  # the train step moved the buffer
    save_checkpoint(model, tmp_path / "iter_1.pth", optimizer=optimizer, meta=dict(iter=1))

    resumed = _tiny_emanet(1)  # other random bases until the checkpoint is loaded
    assert not torch.equal(resumed.decode_head.ema_module.bases, after_one)
    resumed_opt = torch.optim.SGD(resumed.parameters(), lr=0.01, momentum=0.9)
    ckpt = load_checkpoint(resumed, tmp_path / "iter_1.pth", strict=True)
    resumed_opt.load_state_dict(ckpt["optimizer"])
    assert torch.equal(resumed.decode_head.ema_module.bases, after_one)

    _train_step(model, optimizer, 2)
    _train_step(resumed, resumed_opt, 2)
    assert torch.equal(resumed.decode_head.ema_module.bases, model.decode_head.ema_module.bases)


def _ema_batch():
    torch.manual_seed(5)
    module = EMAModule(channels=6, num_bases=4, num_stages=2, momentum=0.1)
    return module, torch.randn(4, 6, 3, 3)


def _ema_rank(rank, world_size, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size)
    try:
        module, x = _ema_batch()
        module.train()(x[rank * 2:rank * 2 + 2])  # two images per rank
        torch.save(module.bases, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_distributed_update_averages_the_bases_over_the_ranks(tmp_path):
    """2 ranks x 2 images update the bases as one process with the 4 images (MMSeg's
    reduce_mean), so every rank keeps the same buffer."""
    spawn_ranks(_ema_rank, (str(tmp_path),))
    module, x = _ema_batch()
    module.train()(x)
    for rank in range(2):
        bases = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        torch.testing.assert_close(bases, module.bases, atol=1e-6, rtol=0)


def test_ema_errors():
    with pytest.raises(ConfigError, match="num_stages=0"):
        _head(num_stages=0)
