"""Tool helpers: config preparation, batch size, device, error handling, progress lines."""
from __future__ import annotations

import io
import logging

import pytest
import torch

from seglab.apis.cli import (AUG_TEST_RATIOS, apply_aug_test, build_test_loader,
                             prepare_test_config, resolve_device, resolve_test_batch_size,
                             run_tool)
from seglab.apis.progress import Progress
from seglab.engine.dist import PEER_FAILURE_NOTE
from seglab.errors import ConfigError, DatasetError


def test_prepare_test_config_and_aug_test(cfg):
    cfg.model.pretrained = "open-mmlab://resnet18_v1c"
    prepare_test_config(cfg, aug_test=True)
    assert cfg.model.pretrained is None and cfg.data.test.test_mode is True
    aug = cfg.data.test.pipeline[1]
    assert aug.img_ratios == AUG_TEST_RATIOS == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    assert aug.flip is True
    dataset, loader = build_test_loader(cfg, batch_size=2)
    sample = dataset[0]
    assert len(sample["img"]) == 12  # 6 scales x (no flip, flip)
    assert [m["flip"] for m in sample["img_metas"][:2]] == [False, True]


def test_aug_test_needs_multi_scale_flip_aug(cfg):
    cfg.data.test.pipeline = [cfg.data.test.pipeline[0]] + list(
        cfg.data.test.pipeline[1].transforms)
    with pytest.raises(ConfigError, match=r"pipeline\[1\] to be a MultiScaleFlipAug"):
        apply_aug_test(cfg)


def test_batch_size_sources(cfg):
    assert resolve_test_batch_size(cfg) == 1  # data.samples_per_gpu is the training one
    cfg.data.test_dataloader = dict(samples_per_gpu=3)
    assert resolve_test_batch_size(cfg) == 3
    cfg.data.test.samples_per_gpu = 4  # 0.x: popped from the dataset config
    assert resolve_test_batch_size(cfg) == 4 and "samples_per_gpu" not in cfg.data.test
    assert resolve_test_batch_size(cfg, 5) == 5
    _, loader = build_test_loader(cfg, batch_size=2, workers=0)
    assert loader.batch_size == 2 and loader.num_workers == 0
    with pytest.raises(ConfigError, match="positive integer"):
        resolve_test_batch_size(cfg, -1)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="not a valid device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available.*--device cpu"):
            resolve_device("cuda")


def test_run_tool_turns_user_errors_into_exit_code_2(capsys):
    def failing(argv):
        raise DatasetError("Image file 'x.jpg' does not exist.")

    def crashing(argv):
        raise ZeroDivisionError("a bug")

    assert run_tool(failing, []) == 2
    assert capsys.readouterr().err == "error: Image file 'x.jpg' does not exist.\n"
    with pytest.raises(ZeroDivisionError):  # bugs keep their traceback
        run_tool(crashing, [])


def test_run_tool_notes_a_peer_lost_while_the_group_starts(capsys, monkeypatch):
    """A rank whose init_process_group fails because a peer already exited (the peer finished
    its part of the start and then failed) prints the one note of a lost peer, not a traceback;
    outside a launch the same error keeps its traceback."""
    message = ("Gloo connectFullMesh failed with [pair.cc:553] Connection closed by peer "
               "[127.0.0.1]:17803. This is typically caused by a remote worker crashing.")

    def starting(argv):
        raise RuntimeError(message)

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="connectFullMesh"):  # one process: not a peer's fault
        run_tool(starting, [])
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert run_tool(starting, []) == 1
    assert capsys.readouterr().err == f"note: [rank 0] {PEER_FAILURE_NOTE}\n"
    monkeypatch.setenv("WORLD_SIZE", "1")
    with pytest.raises(RuntimeError, match="connectFullMesh"):
        run_tool(starting, [])


def test_progress_lines_without_a_terminal(caplog):
    logger = logging.getLogger("apis_tests.cli")  # outside "seglab": its propagate may be off
    with caplog.at_level(logging.INFO, logger=logger.name):
        progress = Progress(total=7, logger=logger, interval=3, use_tqdm=False, enabled=True)
        for _ in range(7):
            progress.update(1)
        progress.close()
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" images,")[0] for line in lines] == \
        ["[test] 3/7", "[test] 6/7", "[test] 7/7"]
    assert all(line.endswith("images/s") for line in lines)



def test_progress_lines_show_the_time_left(caplog, monkeypatch):
    from types import SimpleNamespace

    from seglab.apis import progress as progress_module

    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(progress_module, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    logger = logging.getLogger("apis_tests.cli_eta")
    with caplog.at_level(logging.INFO, logger=logger.name):
        progress = Progress(total=500, logger=logger, interval=150, use_tqdm=False, enabled=True)
        clock.now += 60.0  # 150 images in 60 s: 0.4 s each, 350 left
        progress.update(150)
        clock.now += 140.0
        progress.update(350)
        progress.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "[test] 150/500 images, eta: 0:02:20, 2.50 images/s"
    assert lines[-1] == "[test] 500/500 images, eta: 0:00:00, 2.50 images/s"


def test_progress_bar_on_a_terminal(monkeypatch):
    stream = io.StringIO()
    stream.isatty = lambda: True
    monkeypatch.setattr("sys.stderr", stream)
    with Progress(total=4, enabled=True) as progress:
        progress.update(4)
    assert "4/4" in stream.getvalue() and "img/s" in stream.getvalue()
    assert "[test]" not in stream.getvalue()  # no plain lines beside the bar
