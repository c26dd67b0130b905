"""LR policies: numbers against mmcv 1.x LrUpdaterHook formulas."""
import math

import pytest

from seglab.engine import build_lr_hook
from seglab.engine.lr_schedule import CosineAnnealing, Poly, Step
from seglab.errors import ConfigError, RegistryError


def test_poly_with_min_lr():
    s = Poly(power=0.9, min_lr=1e-4)
    for it in (0, 1, 50, 19999):
        assert s.lr_at(0.01, it, 20000) == pytest.approx((0.01 - 1e-4) * (1 - it / 20000) ** 0.9 + 1e-4,
                                                         rel=1e-12)
    assert s.lr_at(0.01, 0, 20000) == pytest.approx(0.01)
    assert s.lr_at(0.01, 20000, 20000) == pytest.approx(1e-4)


@pytest.mark.parametrize("warmup", ["linear", "exp", "constant"])
def test_warmup_rescales_the_regular_lr(warmup):
    s = Poly(power=1.0, min_lr=0.0, warmup=warmup, warmup_iters=10, warmup_ratio=1e-3)
    for it in (0, 3, 9):
        regular = 0.06 * (1 - it / 100)
        expected = {"linear": regular * (1 - (1 - it / 10) * (1 - 1e-3)),
                    "exp": regular * 1e-3 ** (1 - it / 10),
                    "constant": regular * 1e-3}[warmup]
        assert s.lr_at(0.06, it, 100) == pytest.approx(expected, rel=1e-12)
    assert s.lr_at(0.06, 10, 100) == pytest.approx(0.06 * 0.9)  # warm-up over


def test_step_interval_list_and_min_lr():
    assert Step(step=30, gamma=0.1).lr_at(1.0, 59, 100) == pytest.approx(0.1)
    s = Step(step=[10, 20], gamma=0.5, min_lr=0.3)
    assert [s.lr_at(1.0, i, 100) for i in (9, 10, 19, 20, 99)] == pytest.approx([1, 0.5, 0.5, 0.3, 0.3])


def test_cosine_annealing():
    s = CosineAnnealing(min_lr_ratio=0.01)
    assert s.lr_at(2.0, 0, 100) == pytest.approx(2.0)
    assert s.lr_at(2.0, 50, 100) == pytest.approx(0.02 + 0.5 * (2.0 - 0.02))
    assert s.lr_at(2.0, 25, 100) == pytest.approx(0.02 + 0.5 * 1.98 * (math.cos(math.pi / 4) + 1))


def test_warmup_by_epoch_counts_loader_length():
    s = Poly(power=1.0, warmup="constant", warmup_iters=2, warmup_ratio=0.5, warmup_by_epoch=True)
    s.set_epoch_length(5)
    assert s.lr_at(1.0, 9, 100) == pytest.approx(0.5 * 0.91)
    assert s.lr_at(1.0, 10, 100) == pytest.approx(0.9)


def test_build_lr_hook_from_mmseg_config_and_errors():
    hook = build_lr_hook(dict(policy="poly", power=0.9, min_lr=1e-4, by_epoch=False))
    assert isinstance(hook.schedule, Poly) and hook.schedule.power == 0.9
    assert isinstance(build_lr_hook(dict(policy="CosineAnnealing", min_lr=0.0)).schedule, CosineAnnealing)
    with pytest.raises(ConfigError, match="policy = 'pol' is not supported.*'poly'"):
        build_lr_hook(dict(policy="pol"))
    with pytest.raises(RegistryError, match="powr.*did you mean 'power'"):
        build_lr_hook(dict(policy="poly", powr=0.9))
    with pytest.raises(ConfigError, match="by_epoch=False"):
        build_lr_hook(dict(policy="poly", by_epoch=True))
    with pytest.raises(ConfigError, match="warmup_iters"):
        build_lr_hook(dict(policy="poly", warmup="linear", warmup_iters=0))
    with pytest.raises(ConfigError, match="'cosine'"):
        build_lr_hook(dict(policy="poly", warmup="cosine", warmup_iters=5))
