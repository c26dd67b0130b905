"""The other tools read MMSegmentation 1.x configs through seglab.config.load_config too:
print_config shows the 0.x form seglab runs, get_flops counts the same network for the 1.x
and the 0.x form of the FCN VOC pair, and a config error names the 1.x key (no traceback)."""
import importlib.util

import pytest

from train_helpers import ROOT

PAIR_0X = ROOT / "configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py"
PAIR_1X = ROOT / "configs/1.x/fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py"


def tool(name):
    spec = importlib.util.spec_from_file_location(f"seglab_tools_{name}_1x",
                                                  ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_print_config_shows_the_0x_form(capsys):
    assert tool("print_config").main([str(PAIR_1X)]) == 0
    out = capsys.readouterr().out
    given, converted = out.split("MMSegmentation 1.x config; seglab runs it as this 0.x config:")
    assert "train_dataloader = dict(" in given and "optim_wrapper = dict(" in given
    assert "train_dataloader = dict(" not in converted.split("data = dict(")[0]
    assert "runner = dict(type='IterBasedRunner', max_iters=20000)" in converted


def test_get_flops_same_network(capsys):
    flops = tool("get_flops")
    counts = []
    for config in (PAIR_0X, PAIR_1X):
        assert flops.main([str(config), "--shape", "64", "64"]) == 0
        counts.append([line for line in capsys.readouterr().out.splitlines()
                       if line.startswith(("Flops", "Params"))])
    assert counts[0] == counts[1] and len(counts[0]) == 2


def test_a_1x_error_is_one_line(capsys):
    code = tool("print_config").main([str(PAIR_1X), "--cfg-options",
                                      "param_scheduler.0.type=OneCycleLR"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.startswith("error: param_scheduler[0].type = 'OneCycleLR' is a MMSegmentation "
                          "1.x feature seglab does not run yet")
