"""tools/model_converters/{mit,swin,vit,beit,twins}2mmseg.py: SRC DST [MODEL], end to end.

The originals cannot be downloaded here: the sources are tiny state_dicts laid out like them
(tests/original_weights.py), saved in the containers the original repositories use.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import original_weights as ow

from seglab.checkpoint import converters

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(ROOT, "tools", "model_converters")


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", osp.join(TOOLS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# (tool, family, original weights, how the original repository stores them, extra arguments)
CASES = [
    ("mit2mmseg", "mit", ow.mit, lambda sd: {"state_dict": sd, "meta": {"epoch": 300}}, []),
    ("swin2mmseg", "swin", ow.swin, lambda sd: {"model": sd}, []),
    ("vit2mmseg", "vit", lambda: ow.vit(deit=True), lambda sd: {"model": sd, "epoch": 299}, []),
    ("beit2mmseg", "beit", ow.beit, lambda sd: sd, []),
    ("twins2mmseg", "twins", lambda: ow.twins("svt"), lambda sd: {"state_dict": sd}, ["svt"]),
]


@pytest.mark.parametrize("tool, family, weights, container, extra", CASES,
                         ids=[c[0] for c in CASES])
def test_tool_writes_the_converted_state_dict(tool, family, weights, container, extra, tmp_path,
                                              capsys):
    src, dst = tmp_path / "original.pth", tmp_path / "out" / f"{family}_converted.pth"
    state_dict = weights()
    torch.save(container(state_dict), src)
    assert load_tool(tool).main([str(src), str(dst), *extra]) == 0
    written = torch.load(dst, weights_only=True)
    expected = converters.CONVERTERS[family](state_dict, *extra)
    assert list(written) == list(expected)  # a bare state_dict, as MMSegmentation writes it
    assert all(torch.equal(written[k], expected[k]) for k in expected)
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"{tool}: converted {len(state_dict)} tensors of {src} into "
                          f"{len(expected)} under MMSegmentation's names, written to {dst}")
    assert "left out, as MMSegmentation's tool does (ImageNet classifier): " in out
    assert "head.weight, head.bias" in out
    assert [p for p in os.listdir(dst.parent)] == [dst.name]  # no temporary file left


def test_tool_runs_as_a_script_from_the_checkout(tmp_path):
    src, dst = tmp_path / "mit_b0.pth", tmp_path / "mit_b0_mmseg.pth"
    torch.save(ow.mit(), src)
    done = subprocess.run([sys.executable, osp.join(TOOLS, "mit2mmseg.py"), str(src), str(dst)],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "mit2mmseg: converted 50 tensors" in done.stdout
    assert "layers.0.1.0.attn.attn.in_proj_weight" in torch.load(dst, weights_only=True)


def _fails(capsys, tool: str, argv, dst=None) -> str:
    assert load_tool(tool).main([str(a) for a in argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith(f"{tool}: error: ") and "\n" not in err, err
    if dst is not None:
        assert not osp.exists(dst)
    return err


def test_missing_source_is_named(tmp_path, capsys):
    err = _fails(capsys, "swin2mmseg", [tmp_path / "nope.pth", tmp_path / "o.pth"],
                 tmp_path / "o.pth")
    assert f"'{tmp_path / 'nope.pth'}' does not exist" in err


@pytest.mark.parametrize("content, expected", [
    ([torch.zeros(1)], "holds a list, not a state dict"),
    ({"epoch": 3, "lr": 0.1}, "the values of 'epoch', 'lr' are not tensors (float, int)"),
    ({"state_dict": [1, 2]}, "its 'state_dict' entry is a list, not a state dict"),
    ({"model": {}}, "['model'] is empty"),
])
def test_a_file_that_is_not_a_state_dict_is_refused(content, expected, tmp_path, capsys):
    src, dst = tmp_path / "x.pth", tmp_path / "o.pth"
    torch.save(content, src)
    err = _fails(capsys, "vit2mmseg", [src, dst], dst)
    assert expected in err and str(src) in err


def test_a_file_that_is_no_checkpoint_is_refused(tmp_path, capsys):
    src, dst = tmp_path / "notes.txt", tmp_path / "o.pth"
    src.write_text("# not weights\n")
    err = _fails(capsys, "mit2mmseg", [src, dst], dst)
    assert "is not a readable PyTorch checkpoint" in err and "the unpickler stopped at" in err


def test_weights_of_another_layout_are_refused_naming_the_keys(tmp_path, capsys):
    src, dst = tmp_path / "swin.pth", tmp_path / "o.pth"
    torch.save(ow.swin(), src)
    err = _fails(capsys, "mit2mmseg", [src, dst], dst)
    assert "do not have the layout of the original MiT (SegFormer) weights" in err
    assert "'patch_embed.proj.weight'" in err and str(src) in err


def test_twins_variant_is_checked(tmp_path, capsys):
    src, dst = tmp_path / "pcpvt.pth", tmp_path / "o.pth"
    torch.save({"state_dict": ow.twins("pcpvt")}, src)
    err = _fails(capsys, "twins2mmseg", [src, dst, "svt"], dst)
    assert "Twins-PCPVT weights, not SVT; convert them with model 'pcpvt'" in err
    with pytest.raises(SystemExit) as info:  # argparse: usage error, status 2
        load_tool("twins2mmseg").main([str(src), str(dst), "gvt"])
    assert info.value.code == 2
    assert "invalid choice: 'gvt'" in capsys.readouterr().err


def test_a_pickle_that_needs_code_is_refused(tmp_path, capsys):
    # DeiT's training checkpoints carry the argparse.Namespace of the run.
    src, dst = tmp_path / "deit.pth", tmp_path / "o.pth"
    torch.save({"model": ow.vit(), "args": argparse.Namespace(lr=0.1)}, src)
    err = _fails(capsys, "vit2mmseg", [src, dst], dst)
    assert "argparse.Namespace" in err and "refuses" in err and "convert_checkpoint" in err


def test_an_unwritable_destination_leaves_nothing_behind(tmp_path, capsys):
    src, dst = tmp_path / "beit.pth", tmp_path / "taken"
    torch.save(ow.beit(), src)
    (dst / "sub").mkdir(parents=True)  # a non-empty folder where the file should go
    err = _fails(capsys, "beit2mmseg", [src, dst])
    assert f"could not write '{dst}'" in err
    assert sorted(os.listdir(tmp_path)) == ["beit.pth", "taken"]
    assert os.listdir(dst) == ["sub"]
