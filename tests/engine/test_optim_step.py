"""OptimStep: gradient accumulation, clipping, AMP options; parse_optimizer_config."""
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.engine import OptimStep, parse_optimizer_config
from seglab.errors import ConfigError


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 1))


def _loss(model, x, y):
    return F.cross_entropy(model(x), y)


def test_accumulation_equals_one_big_batch():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 3, 6, 6, generator=g), torch.randint(0, 3, (8, 6, 6), generator=g)
    small, big = _model(), _model()
    opt_s, opt_b = (torch.optim.SGD(m.parameters(), lr=0.5) for m in (small, big))
    step_s, step_b = OptimStep(cumulative_iters=2), OptimStep()
    for it in range(4):  # 4 half batches = 2 steps
        step_s.step(_loss(small, x[2 * it:2 * it + 2], y[2 * it:2 * it + 2]), small, opt_s, it, 4)
        if it == 1:
            assert not torch.equal(small[0].weight, big[0].weight)
    for it in range(2):
        step_b.step(_loss(big, x[4 * it:4 * it + 4], y[4 * it:4 * it + 4]), big, opt_b, it, 2)
    for a, b in zip(small.parameters(), big.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_accumulation_remainder_steps_at_the_end():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    stepper = OptimStep(cumulative_iters=2)
    x, y = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    before = model[0].weight.clone()
    stepper.step(_loss(model, x, y), model, opt, 0, 3)
    stepper.step(_loss(model, x, y), model, opt, 1, 3)
    after_first = model[0].weight.clone()
    assert not torch.equal(before, after_first)
    # the last, lone iteration: loss not divided, and a step happens
    ref = _model()
    ref.load_state_dict(model.state_dict())
    loss = _loss(model, x, y)
    stepper.step(loss, model, opt, 2, 3)
    _loss(ref, x, y).backward()
    torch.testing.assert_close(model[0].weight, after_first - 0.1 * ref[0].weight.grad)
    assert all(p.grad is None for p in model.parameters())


def test_grad_clip_bounds_the_update_and_reports_the_norm():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    before = [p.clone() for p in model.parameters()]
    norm = OptimStep(grad_clip=dict(max_norm=1e-3, norm_type=2)).step(
        _loss(model, torch.randn(2, 3, 4, 4) * 10, torch.randint(0, 3, (2, 4, 4))), model, opt, 0, 1)
    assert norm > 1e-3
    update = torch.sqrt(sum(((p - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert update <= 1e-3 * 1.0001


def test_amp_options_on_cpu(monkeypatch):
    from seglab.utils import precision

    # As on a CPU with native bf16 (tests/utils/test_precision.py covers the emulating ones).
    monkeypatch.setattr(precision, "cpu_bf16_support", lambda: precision.CpuBf16Support(
        native=True, flags=("avx512_bf16",), capability="AVX512", cpu="test CPU"))
    with pytest.warns(UserWarning, match="only used on CUDA"):
        fp16 = OptimStep("cpu", amp="fp16")
    assert fp16.amp is None and fp16.scaler is None and fp16.state_dict() == {}
    bf16 = OptimStep("cpu", amp="bf16")
    conv = nn.Conv2d(3, 3, 1)
    with bf16.autocast():
        assert conv(torch.randn(1, 3, 2, 2)).dtype == torch.bfloat16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with OptimStep("cpu").autocast():
            assert conv(torch.randn(1, 3, 2, 2)).dtype == torch.float32


def test_parse_optimizer_config():
    assert parse_optimizer_config(dict(grad_clip=None)) == dict(
        grad_clip=None, cumulative_iters=1, amp=None, loss_scale="dynamic")
    assert parse_optimizer_config(dict(type="Fp16OptimizerHook", loss_scale=512.0, distributed=True)) == dict(
        grad_clip=None, cumulative_iters=1, amp="fp16", loss_scale=512.0)
    assert parse_optimizer_config(dict(type="GradientCumulativeOptimizerHook", cumulative_iters=4))[
        "cumulative_iters"] == 4
    with pytest.raises(ConfigError, match="grad_clp"):
        parse_optimizer_config(dict(grad_clp=dict(max_norm=1)))
    with pytest.raises(ConfigError, match="not supported"):
        parse_optimizer_config(dict(type="EMAHook"))
    with pytest.raises(ConfigError, match="max_norm"):
        OptimStep(grad_clip=dict(norm_type=2))


def test_parse_fp16_and_amp_with_the_optimizer_config():
    """MMSeg's fp16 = dict(loss_scale=...) makes any hook type float16; --amp fills in otherwise."""
    parse = parse_optimizer_config
    assert parse(dict(grad_clip=dict(max_norm=2.0)), fp16=dict(loss_scale=256.0)) == dict(
        grad_clip=dict(max_norm=2.0), cumulative_iters=1, amp="fp16", loss_scale=256.0)
    assert parse(dict(type="GradientCumulativeOptimizerHook", cumulative_iters=3), fp16={}) == dict(
        grad_clip=None, cumulative_iters=3, amp="fp16", loss_scale=512.0)
    # A loss_scale of the hook itself wins over fp16's, as mmcv's setdefault made it.
    assert parse(dict(type="Fp16OptimizerHook", loss_scale="dynamic"),
                 fp16=dict(loss_scale=8.0))["loss_scale"] == "dynamic"
    assert parse(None, amp="bf16") == dict(grad_clip=None, cumulative_iters=1, amp="bf16",
                                           loss_scale="dynamic")
    assert parse(dict(type="Fp16OptimizerHook"), amp="bf16")["amp"] == "fp16"
    with pytest.raises(ConfigError,
                       match=r"fp16 has unknown key\(s\) \['scale'\]; accepted: loss_scale"):
        parse(None, fp16=dict(scale=1.0))
    with pytest.raises(ConfigError, match="fp16 must be a dict"):
        parse(None, fp16=True)
    with pytest.raises(ConfigError, match=r"type 'GradientCumulativeFp16OptimizerHook'.*"
                       r"\['cumulative_iter'\].*accepted: grad_clip, cumulative_iters, loss_scale"):
        parse(dict(type="GradientCumulativeOptimizerHook", cumulative_iter=2), fp16={})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="float16 AMP needs CUDA")
def test_fp16_on_cuda_trains_and_resumes_the_loss_scaler(tmp_path, toys, test_logger):
    from seglab.engine import IterBasedRunner

    def runner():
        torch.manual_seed(0)
        model = toys["TinySegmentor"]().cuda()
        r = IterBasedRunner(model, torch.optim.SGD(model.parameters(), lr=0.01), work_dir=str(tmp_path),
                            logger=test_logger, max_iters=4, batch_processor=toys["to_device"])
        r.register_training_hooks(None, dict(type="Fp16OptimizerHook", loss_scale="dynamic",
                                             grad_clip=dict(max_norm=10.0)), dict(by_epoch=False, interval=2))
        return r

    first = runner()
    assert first.optim_step.scaler is not None
    first.run([toys["make_loader"]()])
    saved = torch.load(tmp_path / "iter_2.pth", weights_only=True)["amp"]["loss_scaler"]
    assert saved["scale"] > 0
    second = runner()
    second.resume(str(tmp_path / "iter_2.pth"))
    assert second.optim_step.scaler.get_scale() == saved["scale"]
    second.run([toys["make_loader"]()])
    assert all(torch.isfinite(p).all() for p in second.model.parameters())
