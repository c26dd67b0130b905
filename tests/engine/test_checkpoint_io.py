"""save_checkpoint / load_checkpoint: formats, mismatch reports, unsafe pickles, atomic writes."""
import errno
import os

import numpy as np
import pytest
import torch

from seglab.engine import load_checkpoint, load_checkpoint_file, save_checkpoint
from seglab.errors import CheckpointError
from shared_data import SHARED

PARITY = f"{SHARED}/data/mmseg-parity/fcn_tiny.state_dict.pth"


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _fresh(toys, seed, **kwargs):
    torch.manual_seed(seed)
    return toys["TinySegmentor"](**kwargs)


def test_save_writes_mmseg_layout_that_loads_weights_only(tmp_path, toys):
    model = _fresh(toys, 0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 8, 8), gt_semantic_seg=torch.zeros(2, 1, 8, 8, dtype=torch.long))[
        "decode.loss_ce"].backward()
    opt.step()
    meta = dict(CLASSES=("a", "b", "c"), PALETTE=np.array([[1, 2, 3]], dtype=np.uint8),
                score=np.float64(0.25), iter=7)
    path = tmp_path / "sub" / "iter_7.pth"
    save_checkpoint(model, path, optimizer=opt, meta=meta, extra={"rng_state": {"x": torch.ones(2)}})
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"meta", "state_dict", "optimizer", "rng_state"}
    assert raw["meta"]["PALETTE"] == [[1, 2, 3]] and raw["meta"]["score"] == 0.25
    assert raw["meta"]["iter"] == 7 and raw["meta"]["CLASSES"] == ("a", "b", "c")
    assert raw["meta"]["seglab_version"] and raw["meta"]["time"]
    assert raw["optimizer"]["state"], "momentum buffers must be saved"
    other = _fresh(toys, 1)
    assert not _same_weights(model, other)
    ckpt = load_checkpoint(other, str(path), strict=True)
    assert _same_weights(model, other)
    assert ckpt["meta"]["iter"] == 7


def test_save_rejects_meta_that_would_need_unsafe_pickles(tmp_path, toys):
    with pytest.raises(TypeError, match=r"meta\['cfg'\]"):
        save_checkpoint(_fresh(toys, 0), tmp_path / "x.pth", meta={"cfg": object()})
    assert not (tmp_path / "x.pth").exists()


def test_save_unwraps_data_parallel(tmp_path, toys):
    model = _fresh(toys, 0)
    save_checkpoint(torch.nn.DataParallel(model), tmp_path / "dp.pth")
    keys = torch.load(tmp_path / "dp.pth", weights_only=True)["state_dict"].keys()
    assert "conv.weight" in keys and not any(k.startswith("module.") for k in keys)


@pytest.mark.parametrize("layout", ["bare", "model_key", "ddp_prefix", "state_dict_key"])
def test_load_accepts_common_layouts(tmp_path, toys, layout):
    src = _fresh(toys, 0)
    sd = src.state_dict()
    obj = {"bare": sd, "model_key": {"model": sd},
           "ddp_prefix": {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "meta": {}},
           "state_dict_key": {"state_dict": sd, "meta": {"iter": 3}}}[layout]
    torch.save(obj, tmp_path / "c.pth")
    dst = _fresh(toys, 1)
    ckpt = load_checkpoint(dst, tmp_path / "c.pth", strict=True)
    assert _same_weights(src, dst)
    assert "state_dict" in ckpt or "model" in ckpt


def test_strict_mismatch_lists_keys_shapes_and_num_classes_hint(tmp_path, toys):
    src = _fresh(toys, 0, num_classes=5)
    sd = dict(src.state_dict())
    sd["extra.weight"] = torch.zeros(1)
    del sd["bn.running_mean"]
    torch.save({"state_dict": sd}, tmp_path / "c.pth")
    dst = _fresh(toys, 1, num_classes=3)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(dst, tmp_path / "c.pth", strict=True)
    msg = str(info.value)
    assert "conv_seg.weight: checkpoint [5, 4, 1, 1] vs model [3, 4, 1, 1]" in msg
    assert "conv_seg.bias: checkpoint [5] vs model [3]" in msg
    assert "missing keys" in msg and "bn.running_mean" in msg
    assert "unexpected keys" in msg and "extra.weight" in msg
    assert "num_classes" in msg and "strict=False" in msg and "c.pth" in msg
    assert all(torch.equal(before[k], v) for k, v in dst.state_dict().items()), "strict: nothing loaded"



def test_strict_mismatch_error_rewords_its_hint_for_a_tool(tmp_path, toys):
    """The API's hint (strict=False) is no option for a tool that loads strictly for its user."""
    import pickle

    from seglab.engine.checkpoint import CheckpointMismatchError

    torch.save({"state_dict": _fresh(toys, 0, num_classes=21).state_dict()}, tmp_path / "c.pth")
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(_fresh(toys, 1, num_classes=19), tmp_path / "c.pth", strict=True)
    err = info.value
    assert err.shapes[0][0] == "conv_seg.weight" and not err.missing and not err.unexpected
    tool_msg = str(err.for_tool("tools/test.py"))
    assert "conv_seg.weight: checkpoint [21, 4, 1, 1] vs model [19, 4, 1, 1]" in tool_msg
    assert "strict=False" not in tool_msg
    assert "trained for 21 classes and the config builds 19" in tool_msg
    assert "tools/test.py needs the config the checkpoint was trained with" in tool_msg
    assert f"tools/train.py CONFIG --load-from {tmp_path / 'c.pth'}" in tool_msg
    # Errors may be pickled (between processes): the message and the keys survive.
    copy = pickle.loads(pickle.dumps(err.for_tool("tools/test.py")))
    assert str(copy) == tool_msg and copy.shapes == err.shapes


def test_non_strict_loads_matching_keys_and_warns(tmp_path, toys, test_logger):
    src = _fresh(toys, 0, num_classes=5)
    torch.save({"state_dict": src.state_dict()}, tmp_path / "c.pth")
    dst = _fresh(toys, 1, num_classes=3)
    old_seg = dst.conv_seg.weight.clone()
    load_checkpoint(dst, tmp_path / "c.pth", strict=False, logger=test_logger)
    assert torch.equal(dst.conv.weight, src.conv.weight)
    assert torch.equal(dst.conv_seg.weight, old_seg), "mis-shaped keys are skipped"
    warning = test_logger.captured.text(level=30)
    assert "conv_seg.weight: checkpoint [5, 4, 1, 1] vs model [3, 4, 1, 1]" in warning
    assert "missing keys" not in warning  # skipped keys are reported as shape mismatches only


def test_old_checkpoints_without_num_batches_tracked_are_not_reported(tmp_path, toys, test_logger):
    src = _fresh(toys, 0)
    sd = {k: v for k, v in src.state_dict().items() if "num_batches_tracked" not in k}
    torch.save(sd, tmp_path / "c.pth")
    load_checkpoint(_fresh(toys, 1), tmp_path / "c.pth", strict=True, logger=test_logger)
    assert test_logger.captured.text(level=30) == ""


def test_numpy_values_in_meta_load_through_the_allow_list(tmp_path, toys):
    src = _fresh(toys, 0)
    torch.save({"meta": {"PALETTE": np.array([[0, 0, 0], [255, 0, 0]]), "best": np.float32(0.5),
                         "CLASSES": ("a", "b")}, "state_dict": src.state_dict()}, tmp_path / "np.pth")
    ckpt = load_checkpoint(_fresh(toys, 1), tmp_path / "np.pth", strict=True)
    assert np.array_equal(ckpt["meta"]["PALETTE"], [[0, 0, 0], [255, 0, 0]])
    assert float(ckpt["meta"]["best"]) == 0.5


class Payload:
    """A custom class: unpickling it could run code, so it must be refused."""


def test_unsafe_pickle_is_refused_with_the_global_and_a_conversion_hint(tmp_path, toys):
    torch.save({"meta": {"cfg": Payload()}, "state_dict": _fresh(toys, 0).state_dict()},
               tmp_path / "unsafe.pth")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(_fresh(toys, 1), tmp_path / "unsafe.pth")
    msg = str(info.value)
    assert "Payload" in msg and "refuses" in msg and "convert_checkpoint" in msg
    assert "unsafe.pth" in msg


def test_corrupt_and_missing_files_give_clear_errors(tmp_path, toys):
    (tmp_path / "trunc.pth").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_checkpoint_file(tmp_path / "trunc.pth")
    with pytest.raises(CheckpointError, match="does not exist") as info:
        load_checkpoint(_fresh(toys, 0), tmp_path / "nope.pth")
    assert str(tmp_path / "nope.pth") in str(info.value)
    assert "model.pretrained=None" in str(info.value)


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path, toys, monkeypatch):
    path = tmp_path / "latest_good.pth"
    save_checkpoint(_fresh(toys, 0), path, meta={"iter": 1})
    before = path.read_bytes()

    def disk_full(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError, match="No space left on device") as info:
        save_checkpoint(_fresh(toys, 1), path, meta={"iter": 2})
    assert "intact" in str(info.value)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["latest_good.pth"], "no temporary file left behind"


@pytest.mark.skipif(not os.path.exists(PARITY), reason="parity data not available")
def test_reads_a_real_mmseg_state_dict():
    sd = load_checkpoint_file(PARITY)
    assert sd["decode_head.conv_seg.weight"].shape == (5, 16, 1, 1)
    assert sd["backbone.stem.0.weight"].shape == (8, 3, 3, 3)
    tracked = [v for k, v in sd.items() if k.endswith("num_batches_tracked")]
    assert tracked and all(v.dtype == torch.int64 for v in tracked)


def test_load_with_prefix_takes_a_submodule(tmp_path, toys):
    from seglab.engine import load_checkpoint_with_prefix

    src = _fresh(toys, 0)
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in src.state_dict().items()},
                "meta": {}}, tmp_path / "seg.pth")
    sd = load_checkpoint_with_prefix("backbone", tmp_path / "seg.pth")
    assert torch.equal(sd["conv.weight"], src.conv.weight)
    with pytest.raises(CheckpointError, match=r"no keys starting with 'neck\.'.*'backbone\.'"):
        load_checkpoint_with_prefix("neck.", tmp_path / "seg.pth")
