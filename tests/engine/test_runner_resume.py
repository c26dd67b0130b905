"""IterBasedRunner: exact resume, load_from, and stopping on a non-finite loss."""
import os
import random

import numpy as np
import pytest
import torch

from seglab.engine import IterBasedRunner, NonFiniteLossError, build_optimizer, set_random_seed

LR_CONFIG = dict(policy="poly", power=0.9, min_lr=1e-4, by_epoch=False, warmup="linear",
                 warmup_iters=3, warmup_ratio=0.1)


def noisy_to_device(batch, device):
    """Uses numpy, python and torch global RNGs, so every generator state matters for resume."""
    img = batch["img"] + float(np.random.rand()) * 0.01 + random.random() * 0.01
    img = img + 0.01 * torch.rand(())
    return dict(batch, img=img.to(device), gt_semantic_seg=batch["gt_semantic_seg"].to(device))


def make_runner(toys, work_dir, max_iters=8, interval=4, model=None, logger=None, seed=0):
    torch.manual_seed(seed)
    model = model if model is not None else toys["TinySegmentor"]()
    optimizer = build_optimizer(model, dict(type="SGD", lr=0.05, momentum=0.9, weight_decay=5e-4,
                                            paramwise_cfg=dict(custom_keys={"conv_seg": dict(lr_mult=10.0)})))
    runner = IterBasedRunner(model, optimizer, work_dir=str(work_dir), logger=logger, max_iters=max_iters,
                             meta=dict(exp_name="toy.py"), batch_processor=noisy_to_device)
    runner.register_training_hooks(LR_CONFIG, dict(grad_clip=dict(max_norm=5.0, norm_type=2)),
                                   dict(by_epoch=False, interval=interval),
                                   dict(interval=2, hooks=[dict(type="TextLoggerHook", by_epoch=False)]))
    return runner


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_continues_bitwise_identically(tmp_path, toys, test_logger):
    set_random_seed(42)
    full = make_runner(toys, tmp_path / "full", logger=test_logger)
    full.run([toys["make_loader"]()], [("train", 1)])
    expected_weights = _state(full.model)
    expected_momentum = [full.optimizer.state[p]["momentum_buffer"].clone()
                         for g in full.optimizer.param_groups for p in g["params"]]
    assert (tmp_path / "full" / "iter_4.pth").exists() and (tmp_path / "full" / "iter_8.pth").exists()

    # A fresh "process": other initial weights, scrambled global generators.
    set_random_seed(1234)
    resumed = make_runner(toys, tmp_path / "resumed", seed=99, logger=test_logger)
    resumed.resume(str(tmp_path / "full" / "iter_4.pth"))
    assert resumed.iter == 4
    resumed.run([toys["make_loader"]()], [("train", 1)])
    assert resumed.iter == 8
    for key, value in _state(resumed.model).items():
        assert torch.equal(value, expected_weights[key]), key
    momentum = [resumed.optimizer.state[p]["momentum_buffer"]
                for g in resumed.optimizer.param_groups for p in g["params"]]
    assert all(torch.equal(a, b) for a, b in zip(momentum, expected_momentum))
    assert resumed.current_lr() == full.current_lr()


def test_resume_without_rng_restore_would_differ(tmp_path, toys, test_logger):
    """Guards the test above: the RNG state really influences the result."""
    set_random_seed(42)
    full = make_runner(toys, tmp_path / "full", logger=test_logger)
    full.run([toys["make_loader"]()], [("train", 1)])
    set_random_seed(1234)
    resumed = make_runner(toys, tmp_path / "resumed", seed=99, logger=test_logger)
    resumed.resume(str(tmp_path / "full" / "iter_4.pth"))
    resumed._pending_rng = None
    resumed.run([toys["make_loader"]()], [("train", 1)])
    assert not torch.equal(resumed.model.conv.weight, full.model.conv.weight)


def test_resume_with_a_sampler_without_skip_warns(tmp_path, toys, test_logger):
    set_random_seed(0)
    full = make_runner(toys, tmp_path / "a", max_iters=4, interval=2, logger=test_logger)
    full.run([toys["make_loader"]()])
    resumed = make_runner(toys, tmp_path / "b", max_iters=4, interval=2, logger=test_logger)
    resumed.resume(str(tmp_path / "a" / "iter_2.pth"))
    plain = torch.utils.data.DataLoader(toys["ToyDataset"](), batch_size=2, shuffle=True,
                                        collate_fn=toys["collate"])
    resumed.run([plain])
    assert "has no skip(num_samples)" in test_logger.captured.text(level=30)


def test_load_from_loads_weights_only_and_starts_at_zero(tmp_path, toys, test_logger):
    set_random_seed(0)
    first = make_runner(toys, tmp_path / "a", max_iters=2, interval=2, logger=test_logger)
    first.run([toys["make_loader"]()])
    second = make_runner(toys, tmp_path / "b", max_iters=2, interval=2, seed=5, logger=test_logger)
    second.load_checkpoint(str(tmp_path / "a" / "iter_2.pth"))
    assert second.iter == 0 and not second.optimizer.state
    assert torch.equal(second.model.conv.weight, first.model.conv.weight)


class PoisonedSegmentor(torch.nn.Module):
    """Wraps the tiny segmentor; the loss of call number ``bad_call`` is multiplied by ``value``."""

    def __init__(self, inner, bad_call, value=float("nan")):
        super().__init__()
        self.inner, self.bad_call, self.value, self.calls = inner, bad_call, value, 0

    def train_step(self, data_batch, optimizer=None):
        self.calls += 1
        out = self.inner.train_step(data_batch, optimizer)
        if self.calls == self.bad_call:
            out["loss"] = out["loss"] * self.value
            out["log_vars"]["loss"] = float(out["loss"].detach())
        return out


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_non_finite_loss_stops_and_names_last_good_checkpoint(tmp_path, toys, test_logger, bad_value):
    set_random_seed(0)
    model = PoisonedSegmentor(toys["TinySegmentor"](), bad_call=7, value=bad_value)
    runner = make_runner(toys, tmp_path, max_iters=20, interval=5, model=model, logger=test_logger)
    with pytest.raises(NonFiniteLossError) as info:
        runner.run([toys["make_loader"]()])
    msg = str(info.value)
    assert "iteration 7" in msg and str(tmp_path / "iter_5.pth") in msg
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".pth")) == ["iter_5.pth", "latest.pth"]
    assert os.path.realpath(tmp_path / "latest.pth") == str(tmp_path / "iter_5.pth")
    assert all(torch.isfinite(p).all() for p in model.parameters()), "the bad step was not applied"


def test_non_finite_loss_before_any_checkpoint(tmp_path, toys, test_logger):
    model = PoisonedSegmentor(toys["TinySegmentor"](), bad_call=3)
    runner = make_runner(toys, tmp_path, max_iters=20, interval=5, model=model, logger=test_logger)
    with pytest.raises(NonFiniteLossError, match="iteration 3 .*none saved yet"):
        runner.run([toys["make_loader"]()])
    assert not any(f.endswith(".pth") for f in os.listdir(tmp_path))


def test_resume_with_the_datasets_infinite_sampler_and_prepare_batch(tmp_path, toys, test_logger):
    """Integration with seglab.datasets (InfiniteSampler.skip, the default prepare_batch)."""
    datasets = pytest.importorskip("seglab.datasets")

    def loader():
        dataset = toys["ToyDataset"]()
        return torch.utils.data.DataLoader(dataset, batch_size=2, collate_fn=toys["collate"],
                                           sampler=datasets.InfiniteSampler(dataset, seed=3))

    def runner(work_dir, seed):
        torch.manual_seed(seed)
        model = toys["TinySegmentor"]()
        r = IterBasedRunner(model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                            work_dir=str(work_dir), logger=test_logger, max_iters=6)
        r.register_training_hooks(LR_CONFIG, dict(), dict(by_epoch=False, interval=3))
        return r

    set_random_seed(0)
    full = runner(tmp_path / "full", 0)
    full.run([loader()])
    set_random_seed(5)
    resumed = runner(tmp_path / "resumed", 1)
    resumed.resume(str(tmp_path / "full" / "iter_3.pth"))
    resumed.run([loader()])
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
