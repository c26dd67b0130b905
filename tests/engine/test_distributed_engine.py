"""Engine paths that run with a process group: gloo, one process (world size 1)."""
import pytest
import torch
import torch.distributed as dist

from seglab.engine import EvalHook, IterBasedRunner, SegDistributedDataParallel, all_reduce_dict


def test_all_reduce_dict_without_process_group_is_identity():
    assert all_reduce_dict({"a": 1.5, "b": 2}) == {"a": 1.5, "b": 2}
    with pytest.raises(ValueError):
        all_reduce_dict({"a": 1.0}, op="max")


@pytest.fixture
def process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_ddp_training_with_collectives(tmp_path, toys, test_logger, process_group):
    assert all_reduce_dict({"x": 3.0}) == {"x": 3.0}
    torch.manual_seed(0)
    model = SegDistributedDataParallel(toys["TinySegmentor"]())
    runner = IterBasedRunner(model, torch.optim.SGD(model.parameters(), lr=0.1), work_dir=str(tmp_path),
                             logger=test_logger, max_iters=2, batch_processor=toys["to_device"])
    runner.register_training_hooks(None, dict(), dict(by_epoch=False, interval=2, sync_buffer=True),
                                   dict(interval=1, hooks=[dict(type="TextLoggerHook")]))
    runner.register_hook(EvalHook(lambda m: {"mIoU": 0.5}, interval=1, save_best="mIoU"))
    before = model.module.conv.weight.clone()
    runner.run([toys["make_loader"]()])
    assert not torch.equal(before, model.module.conv.weight)
    ckpt = torch.load(tmp_path / "iter_2.pth", weights_only=True)
    assert "conv.weight" in ckpt["state_dict"] and len(ckpt["rng_state"]) == 1
    assert "Iter [2/2]" in test_logger.captured.text()
    assert (tmp_path / "best_mIoU_iter_1.pth").exists()
