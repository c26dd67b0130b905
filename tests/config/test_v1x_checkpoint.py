"""MMSegmentation 1.x checkpoints: a real one (tests/config/fixtures_1x/, made by mmseg 1.2.2 with
make_v1x_checkpoint.py) loads with weights_only=True through the mmengine stand-ins, its
dataset_meta gives the classes and palette, its weights load strictly into the converted 1.x
config's model; the getattr stand-in refuses everything but mmengine's HistoryBuffer."""
from pathlib import Path

import pytest
import torch

from seglab.apis import init_segmentor
from seglab.checkpoint import load_checkpoint
from seglab.checkpoint.io import load_checkpoint_file
from seglab.config import load_config
from seglab.checkpoint.mmengine_stand_ins import HistoryBufferStandIn, getattr_stand_in
from seglab.config.v1x_checkpoint import resume_note
from seglab.errors import CheckpointError
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
CKPT = Path(__file__).parent / "fixtures_1x/fcn_tiny_1x_iter3.pth"
CONFIG = ROOT / "configs/1.x/demo/fcn_tiny_4xb2-6it_synthetic-voc-24x24_1x.py"
CLASSES = ("background", "disc", "square", "triangle", "stripes", "ring")


def test_a_1x_checkpoint_loads_safely():
    ckpt = load_checkpoint_file(CKPT)
    assert sorted(ckpt) == ["message_hub", "meta", "optimizer", "param_schedulers",
                            "state_dict"]
    assert ckpt["meta"]["iter"] == 3 and tuple(ckpt["meta"]["dataset_meta"]["classes"]) == CLASSES
    buffer = ckpt["message_hub"]["log_scalars"]["train/lr"]
    assert isinstance(buffer, HistoryBufferStandIn)
    assert list(buffer._log_history) == pytest.approx([0.001, 0.01, 0.01])
    assert ckpt["optimizer"]["param_groups"][0]["initial_lr"] == 0.01
    assert ckpt["param_schedulers"][1]["_last_value"] == [pytest.approx(0.006973106310349911)]
    assert "initial_lr" in resume_note(ckpt) and resume_note(dict(meta={}, state_dict={})) is None


def test_1x_weights_and_classes_in_the_converted_model():
    model = init_segmentor(str(CONFIG), str(CKPT), device="cpu", strict=True)
    assert model.CLASSES == CLASSES and model.PALETTE[1] == [128, 0, 0]
    model = build_segmentor(load_config(str(CONFIG)).model)
    load_checkpoint(model, str(CKPT), strict=True)  # MMSeg 1.x's keys are seglab's
    state = load_checkpoint_file(CKPT)["state_dict"]
    assert model.state_dict().keys() == state.keys()
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


class _Sneaky:
    def __reduce__(self):
        return getattr, ("text", "upper")


def test_the_getattr_stand_in_refuses_other_objects(tmp_path):
    assert getattr_stand_in(HistoryBufferStandIn, "mean") == "HistoryBuffer.mean"
    with pytest.raises(CheckpointError, match=r"getattr\(str, '__class__'\)"):
        getattr_stand_in("text", "__class__")
    path = tmp_path / "sneaky.pth"
    torch.save({"state_dict": {}, "x": _Sneaky()}, path)
    with pytest.raises(CheckpointError, match=r"getattr\(str, 'upper'\); seglab only allows it "
                       r"on mmengine's HistoryBuffer"):
        load_checkpoint_file(path)


class _Buffer:
    """Pickles as mmengine's HistoryBuffer (NEWOBJ with ``args``, then BUILD with ``state``)."""
    __module__ = "mmengine.logging.history_buffer"
    __qualname__ = "HistoryBuffer"

    def __init__(self, state, args=()):
        self.state, self.args = state, args

    def __reduce_ex__(self, protocol):
        import copyreg
        return copyreg.__newobj__, (type(self),) + self.args, self.state


@pytest.mark.parametrize("buffer, reason", [
    (_Buffer(5), r"HistoryBuffer state holds a int"),
    (_Buffer({"_log_history": [1.0], "__setstate__": 1}), r"holds the keys '__setstate__'"),
    (_Buffer({}, (1, 2)), r"HistoryBuffer with arguments \(1, 2\)"),
])
def test_a_crafted_history_buffer_is_refused_with_the_reason(tmp_path, buffer, reason):
    # Before: a TypeError traceback (int state, constructor arguments), or the instance took
    # any attribute (an instance __setstate__ is what BUILD calls next on the same object).
    import sys
    import types
    modules = {name: types.ModuleType(name) for name in
               ("mmengine", "mmengine.logging", "mmengine.logging.history_buffer")}
    modules["mmengine.logging.history_buffer"].HistoryBuffer = _Buffer
    path = tmp_path / "crafted.pth"
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        torch.save({"state_dict": {}, "message_hub": buffer}, path)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name)
            else:
                sys.modules[name] = module
    with pytest.raises(CheckpointError, match=reason) as info:
        load_checkpoint_file(path)
    assert "truncated download" not in str(info.value)


def test_a_refused_getattr_is_not_called_a_truncated_download(tmp_path):
    path = tmp_path / "sneaky.pth"
    torch.save({"state_dict": {}, "x": _Sneaky()}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint_file(path)
    assert "truncated download" not in str(info.value) and "sneaky.pth" in str(info.value)
