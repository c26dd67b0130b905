"""tools/publish_model.py: training state stripped, ``<stem>-<sha256[:8]>.pth``, MMSeg's naming."""
import hashlib
import os

import pytest
import torch

from after_training_helpers import error_line, load_tool, workflow  # noqa: F401 (fixture)
from train_helpers import run_tool


def test_published_checkpoint_keeps_weights_and_meta_only(workflow, tmp_path):
    src = workflow["work_dir"] / "latest.pth"
    before = src.read_bytes()
    result = run_tool("publish_model.py", src, tmp_path / "fcn_tiny.pth", cwd=tmp_path)
    (published,) = tmp_path.iterdir()  # no temporary or un-renamed file left
    stem, sha = published.stem.rsplit("-", 1)
    assert stem == "fcn_tiny" and published.suffix == ".pth" and len(sha) == 8
    assert hashlib.sha256(published.read_bytes()).hexdigest()[:8] == sha
    assert str(published) in result.stdout
    original = torch.load(src, map_location="cpu", weights_only=True)
    out = torch.load(published, map_location="cpu", weights_only=True)
    assert {"optimizer", "rng_state", "lr_schedule", "amp"} <= set(original)  # a training file
    assert set(out) == {"meta", "state_dict"}
    assert out["meta"] == original["meta"]
    assert list(out["state_dict"]) == list(original["state_dict"])
    assert all(torch.equal(out["state_dict"][k], v) for k, v in original["state_dict"].items())
    assert src.read_bytes() == before  # the input is untouched


def test_stem_keeps_letters_that_rstrip_would_eat(workflow, tmp_path):
    """MMSeg's ``out_file.rstrip('.pth')`` turns depth.pth into 'de-<sha>.pth'; here it stays."""
    final = load_tool("publish_model.py").process_checkpoint(
        str(workflow["work_dir"] / "latest.pth"), str(tmp_path / "sub" / "depth.pth"))
    assert os.path.basename(final).startswith("depth-")
    assert os.listdir(tmp_path / "sub") == [os.path.basename(final)]


@pytest.mark.parametrize("case", ["not_pth", "missing", "no_state_dict"])
def test_user_errors_are_one_line(case, tmp_path, capsys, workflow):
    from seglab.apis.cli import run_tool as run_main

    tool = load_tool("publish_model.py")
    src, out = str(workflow["work_dir"] / "latest.pth"), str(tmp_path / "out.pth")
    if case == "not_pth":
        out = str(tmp_path / "out.pt")
    elif case == "missing":
        src = str(tmp_path / "nope.pth")
    else:
        src = str(tmp_path / "weights.pth")
        torch.save({"weight": torch.zeros(1)}, src)
    assert run_main(tool.main, [src, out]) == 2
    err = error_line(capsys)
    assert {"not_pth": "must end with .pth", "missing": "nope.pth",
            "no_state_dict": "not a training checkpoint"}[case] in err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("out")]
