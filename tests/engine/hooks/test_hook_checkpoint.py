"""CheckpointHook: file names, latest.pth, max_keep_ckpts, save_last, checkpoint contents."""
import os

import pytest
import torch

from seglab.engine import IterBasedRunner, find_latest_checkpoint, update_latest
from seglab.errors import ConfigError


def _run(toys, work_dir, logger, max_iters, **checkpoint_config):
    torch.manual_seed(0)
    model = toys["TinySegmentor"]()
    runner = IterBasedRunner(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                             work_dir=str(work_dir), logger=logger, max_iters=max_iters,
                             meta=dict(CLASSES=("a", "b", "c")), batch_processor=toys["to_device"])
    runner.register_training_hooks(dict(policy="poly", power=1.0, by_epoch=False), dict(),
                                   dict(by_epoch=False, **checkpoint_config))
    runner.run([toys["make_loader"]()])
    return runner


def _pth(path):
    return sorted(f for f in os.listdir(path) if f.endswith(".pth"))


def test_interval_max_keep_and_latest(tmp_path, toys, test_logger):
    runner = _run(toys, tmp_path, test_logger, 8, interval=2, max_keep_ckpts=2)
    assert _pth(tmp_path) == ["iter_6.pth", "iter_8.pth", "latest.pth"]
    assert os.readlink(tmp_path / "latest.pth") == "iter_8.pth"
    ckpt = torch.load(tmp_path / "latest.pth", weights_only=True)
    assert ckpt["meta"]["iter"] == 8 and ckpt["meta"]["CLASSES"] == ("a", "b", "c")
    assert set(ckpt) >= {"meta", "state_dict", "optimizer", "rng_state", "amp"}
    assert ckpt["optimizer"]["param_groups"][0]["initial_lr"] == 0.1
    assert all(torch.equal(v, runner.model.state_dict()[k]) for k, v in ckpt["state_dict"].items())
    assert "Saving checkpoint at 8 iterations" in test_logger.captured.text()
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / "latest.pth")


def test_save_last_when_not_a_multiple(tmp_path, toys, test_logger):
    _run(toys, tmp_path, test_logger, 5, interval=2)
    assert _pth(tmp_path) == ["iter_2.pth", "iter_4.pth", "iter_5.pth", "latest.pth"]
    _run(toys, tmp_path / "no_last", test_logger, 5, interval=2, save_last=False, create_symlink=False)
    assert _pth(tmp_path / "no_last") == ["iter_2.pth", "iter_4.pth"]
    assert find_latest_checkpoint(str(tmp_path / "no_last")) == str(tmp_path / "no_last" / "iter_4.pth")


def test_latest_falls_back_to_a_copy_without_symlinks(tmp_path, monkeypatch):
    (tmp_path / "iter_3.pth").write_bytes(b"three")
    monkeypatch.setattr(os, "symlink", lambda *a, **k: (_ for _ in ()).throw(OSError("no symlinks")))
    update_latest(str(tmp_path), "iter_3.pth")
    assert not os.path.islink(tmp_path / "latest.pth")
    assert (tmp_path / "latest.pth").read_bytes() == b"three"
    assert sorted(os.listdir(tmp_path)) == ["iter_3.pth", "latest.pth"]


def test_by_epoch_is_rejected():
    from seglab.engine import CheckpointHook

    with pytest.raises(ConfigError, match="by_epoch=False"):
        CheckpointHook(interval=1, by_epoch=True)
