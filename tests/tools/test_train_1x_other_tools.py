"""The other tools read MMSegmentation 1.x configs through seglab.config.load_config too:
print_config shows the 0.x form seglab runs, get_flops counts the same network for the 1.x
and the 0.x form of the FCN VOC pair, and a config error names the 1.x key (no traceback)."""
import importlib.util

from train_helpers import ROOT, data_root  # noqa: F401

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


def test_benchmark_and_inference_with_a_1x_config_and_checkpoint(data_root, tmp_path):
    """tools/benchmark.py times the 1.x demo config with the real MMSeg 1.2.2 checkpoint;
    inference_segmentor runs the converted test pipeline on an array."""
    import numpy as np

    from seglab.apis import inference_segmentor, init_segmentor

    config = ROOT / "configs/1.x/demo/fcn_tiny_4xb2-6it_synthetic-voc-24x24_1x.py"
    ckpt = ROOT / "tests/config/fixtures_1x/fcn_tiny_1x_iter3.pth"
    assert tool("benchmark").main([str(config), str(ckpt), "--num-images", "2", "--num-warmup",
                                   "0", "--device", "cpu", "--work-dir", str(tmp_path),
                                   "--cfg-options",
                                   f"test_dataloader.dataset.data_root={data_root}"]) == 0
    assert len(list(tmp_path.glob("fps_*.json"))) == 1
    model = init_segmentor(str(config), str(ckpt), device="cpu")
    (pred,) = inference_segmentor(model, np.zeros((40, 50, 3), np.uint8))
    assert pred.shape == (40, 50) and pred.max() < 6
