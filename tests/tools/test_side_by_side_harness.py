"""benchmarks/mmseg_side_by_side.py without MMSegmentation: the process measurement (result line,
peak RSS, errors as one line), the markdown table, the stand-in mmcv.ops, and one real seglab row
whose MMSeg side says how to set it up."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


sbs = load("seglab_bench_side_by_side", "benchmarks/mmseg_side_by_side.py")
standin = load("seglab_bench_mmcv_ops_standin", "benchmarks/side_by_side/mmcv_ops_standin.py")


def test_measure_reads_the_result_line_and_the_peak_rss(tmp_path):
    code = ("import numpy as np; a = np.ones(64 * 2**20 // 8); a += 1; "
            "print('noise'); print('RESULT {\"ok\": true, \"seconds\": 0.25}')")
    res = sbs.measure([sys.executable, "-c", code], {}, str(tmp_path))
    assert res["ok"] and res["seconds"] == 0.25
    assert res["rss_mib"] > 60  # the 64 MiB array, seen by os.wait4
    assert res["wall"] > 0


def test_measure_gives_a_failed_process_as_one_line(tmp_path):
    code = "import sys; print('Traceback ...', file=sys.stderr); sys.exit('bad weights file')"
    res = sbs.measure([sys.executable, "-c", code], {}, str(tmp_path))
    assert not res["ok"]
    assert res["error"] == "exit 1: bad weights file"
    res = sbs.measure([str(tmp_path / "missing-python")], {}, str(tmp_path))
    assert not res["ok"] and res["error"].startswith("cannot start")


def test_table_rows_ratios_errors_and_rss():
    rows = [sbs.Row("fcn_r50_whole", "R50 whole", "infer", "r50_whole"),
            sbs.Row("test_tool", "test tool", "test_tool", "t", unit="img/s", test_images=100),
            sbs.Row("fcn_r18_train", "R18 train", "train", "r18_whole")]
    summaries = {
        "fcn_r50_whole": dict(seglab=dict(seconds=1.0, rss_mib=500.0),
                              mmseg=dict(seconds=1.5, rss_mib=800.0), agree=0.99995),
        "test_tool": dict(seglab=dict(seconds=20.0, rss_mib=1.0),
                          mmseg=dict(seconds=50.0, rss_mib=1.0),
                          miou=dict(seglab=8.16, mmseg=8.155)),
        "fcn_r18_train": dict(seglab=dict(seconds=2.0, rss_mib=900.0),
                              errors=dict(mmseg="RuntimeError: out of memory")),
    }
    text = sbs.table(rows, summaries, ["CPU: test"])
    lines = text.splitlines()
    assert lines[0] == "CPU: test"
    assert "| R50 whole | 1.000 s | 1.500 s | 0.67x | 99.995% |" in lines
    assert "| test tool | 5.00 img/s | 2.00 img/s | 0.40x | mIoU 8.16 / 8.15 |" in lines
    assert "| R18 train | 2.000 s | error: RuntimeError: out of memory | n/a |  |" in lines
    assert "| Peak RSS, FCN R50-D8 whole 512x512 | 500.0 MiB | 800.0 MiB | 0.62x | |" in lines
    assert "| Peak RSS, FCN R18-D8 train step | 900.0 MiB | n/a | n/a | |" in lines


def test_test_miou_reads_both_tools_files(tmp_path):
    (tmp_path / "seglab").mkdir()
    (tmp_path / "seglab/eval_20261201_000000.json").write_text(
        '{"config": "c.py", "metric": {"mIoU": 0.0816, "aAcc": 0.3}}')
    (tmp_path / "mmseg/20261201_000000").mkdir(parents=True)
    (tmp_path / "mmseg/20261201_000000/20261201_000000.json").write_text('{"mIoU": 8.16}')
    assert sbs.tool_miou(str(tmp_path / "seglab")) == pytest.approx(8.16)
    assert sbs.tool_miou(str(tmp_path / "mmseg")) == pytest.approx(8.16)
    assert sbs.tool_miou(str(tmp_path / "missing")) is None


def test_standin_point_sample_and_compiled_ops():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    # Pixel centres in [0, 1] coordinates sample the pixels exactly (align_corners=False).
    ys, xs = torch.tensor([0, 3, 2]), torch.tensor([4, 0, 1])
    points = torch.stack([(xs + 0.5) / 5, (ys + 0.5) / 4], dim=1).expand(2, 3, 2)
    out = standin.point_sample(x, points)
    assert out.shape == (2, 3, 3)
    assert torch.equal(out, x[:, :, ys, xs])
    grid = torch.rand(2, 6, 7, 2)
    assert torch.allclose(standin.point_sample(x, grid, align_corners=True),
                          F.grid_sample(x, grid * 2 - 1, align_corners=True))
    saved = {k: sys.modules.get(k) for k in ("mmcv", "mmcv.ops")}
    try:
        standin.install()
        ops = sys.modules["mmcv.ops"]
        assert ops.point_sample is standin.point_sample
        with pytest.raises(RuntimeError, match="mmcv.ops.sigmoid_focal_loss is a compiled op"):
            ops.sigmoid_focal_loss(torch.zeros(1), torch.zeros(1))
        with pytest.raises(AttributeError):
            ops.__wrapped__
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


@pytest.mark.slow  # two seglab processes (build R18, infer): ~10 s on a quiet 2-core machine
def test_a_seglab_row_without_the_mmseg_venv(tmp_path):
    args = sbs.argparse.Namespace(venv=str(tmp_path / "no-venv"), runs=1, warmup=0, iters=1,
                                  device="cpu", test_images=1, test_workers=0)
    bench = sbs.Bench(args, str(tmp_path), dict(sbs.os.environ, OMP_NUM_THREADS="1"))
    row = sbs.Row("fcn_r18_whole", "R18 whole", "infer", "r18_whole", 64, 96)
    summary = bench.run_row(row)
    assert summary["errors"] == dict(mmseg=f"no {tmp_path / 'no-venv'}: run --setup first")
    assert summary["seglab"]["seconds"] > 0 and summary["seglab"]["runs"] == 1
    assert summary["agree"] is None  # nothing to compare with
    pred = np.load(tmp_path / "fcn_r18_whole_seglab.npy")
    assert pred.shape == (64, 96) and pred.max() < 19
    state = torch.load(tmp_path / "r18_whole/model.pth", weights_only=True)["state_dict"]
    assert "backbone.stem.0.weight" in state and "auxiliary_head.conv_seg.weight" in state
    model = sbs.json.loads((tmp_path / "r18_whole/model.json").read_text())
    assert model["backbone"]["norm_cfg"]["type"] == "BN"  # SyncBN -> BN for one process
    assert model["test_cfg"] == dict(mode="whole") and model["pretrained"] is None


def test_test_tool_rows_run_both_tools_in_their_precision(tmp_path):
    """The tools/test.py rows' commands (built without running anything): seglab's
    tools/test.py and MMSeg's worker, bf16 on both sides in the bf16 row, one folder per row."""
    args = sbs.argparse.Namespace(venv=str(tmp_path / "venv"), device="cpu", test_images=2,
                                  test_workers=2)
    bench = sbs.Bench(args, str(tmp_path))
    bench.prepared["r18_test_tool"] = dict(ok=True, config="c.py", ckpt="m.pth", json="m.json",
                                           edits={})
    rows = {row.name: row for row in sbs.ROWS}
    fp32 = bench.commands(rows["test_tool"], 0)
    bf16 = bench.commands(rows["test_tool_bf16"], 1)
    assert fp32["seglab"][1:5] == [str(ROOT / "tools/test.py"), "c.py", "m.pth", "--eval"]
    assert "--precision" not in fp32["seglab"]
    assert bf16["seglab"][-2:] == ["--precision", "bf16"]
    for cmds, precision, folder in ((fp32, "fp32", "test_tool_mmseg_0"),
                                    (bf16, "bf16", "test_tool_bf16_mmseg_1")):
        mmseg = cmds["mmseg"]
        assert mmseg[0] == str(tmp_path / "venv/bin/python")
        assert mmseg[1].endswith("side_by_side/mmseg_worker.py")
        assert mmseg[mmseg.index("--task") + 1] == "test_tool"
        assert mmseg[mmseg.index("--precision") + 1] == precision
        assert mmseg[mmseg.index("--workers") + 1] == "2"
        assert mmseg[mmseg.index("--work-dir") + 1] == str(tmp_path / folder)
    seglab_dirs = {c["seglab"][c["seglab"].index("--work-dir") + 1] for c in (fp32, bf16)}
    assert seglab_dirs == {str(tmp_path / "test_tool_seglab_0"),
                           str(tmp_path / "test_tool_bf16_seglab_1")}
    assert (tmp_path / "synthetic_2/ImageSets/Segmentation/val.txt").read_text().split() == \
        ["val_00000", "val_00001"]
    # The --plain rows: seglab without its default fast paths, no MMSeg counterpart (set beside
    # MMSeg's fp32 run).
    plain = bench.commands(rows["test_tool_plain_bf16"], 0)
    assert plain["seglab"][-3:] == ["--precision", "bf16", "--plain"]
    assert plain["mmseg"] is None
    assert ("test_tool_plain_bf16", "test_tool") in [c[:2] for c in sbs.CROSS_ROWS]


def test_table_sets_seglab_bf16_beside_mmseg_fp32():
    rows = [sbs.Row("test_tool", "tools fp32", "test_tool", "t", unit="img/s", test_images=100),
            sbs.Row("test_tool_bf16", "tools bf16", "test_tool", "t", precision="bf16",
                    unit="img/s", test_images=100)]
    summaries = {"test_tool": dict(seglab=dict(seconds=40.0), mmseg=dict(seconds=100.0)),
                 "test_tool_bf16": dict(seglab=dict(seconds=25.0), mmseg=dict(seconds=80.0))}
    lines = sbs.table(rows, summaries, ["CPU: test"]).splitlines()
    assert "| tools fp32 | 2.50 img/s | 1.00 img/s | 0.40x |  |" in lines
    assert "| tools bf16 | 4.00 img/s | 1.25 img/s | 0.31x |  |" in lines
    assert ("| tools/test.py: seglab bf16 beside MMSeg fp32 | 4.00 img/s | 1.00 img/s | 0.25x "
            "| |") in lines
    # Without the float32 row there is nothing to set the bf16 run beside.
    lines = sbs.table(rows[1:], summaries, ["CPU: test"]).splitlines()
    assert not any("beside MMSeg fp32" in line for line in lines)


def test_train_rows_pass_their_precision_and_set_bf16_beside_mmseg_fp32(tmp_path):
    """The bf16 train row asks both workers for bf16 (seglab: --amp's OptimStep; MMSeg: autocast),
    and the table sets each bf16 inference / train row beside MMSeg's float32 row of the work."""
    args = sbs.argparse.Namespace(venv=str(tmp_path / "venv"), device="cpu", warmup=0, iters=1)
    bench = sbs.Bench(args, str(tmp_path))
    bench.prepared["r18_whole"] = dict(ok=True, config="c.py", ckpt="m.pth", json="m.json",
                                       edits={})
    rows = {row.name: row for row in sbs.ROWS}
    for name, precision in (("fcn_r18_train", "fp32"), ("fcn_r18_train_bf16", "bf16")):
        cmds = bench.commands(rows[name], 0)
        for lib in ("seglab", "mmseg"):
            assert cmds[lib][cmds[lib].index("--task") + 1] == "train"
            assert cmds[lib][cmds[lib].index("--precision") + 1] == precision
    pairs = [c[:2] for c in sbs.CROSS_ROWS]
    for bf16, fp32 in (("fcn_r50_whole_bf16", "fcn_r50_whole"),
                       ("fcn_r18_slide_bf16", "fcn_r18_slide"),
                       ("fcn_r18_train_bf16", "fcn_r18_train")):
        assert (bf16, fp32) in pairs and rows[bf16].precision == "bf16"
        assert rows[fp32].precision == "fp32" and rows[bf16].kind == rows[fp32].kind
    table_rows = [rows["fcn_r18_train"], rows["fcn_r18_train_bf16"]]
    summaries = {"fcn_r18_train": dict(seglab=dict(seconds=2.0, rss_mib=1500.0),
                                       mmseg=dict(seconds=2.5, rss_mib=1400.0)),
                 "fcn_r18_train_bf16": dict(seglab=dict(seconds=1.0, rss_mib=1300.0),
                                            mmseg=dict(seconds=1.6, rss_mib=1350.0))}
    lines = sbs.table(table_rows, summaries, ["CPU: test"]).splitlines()
    assert ("| FCN R18-D8 train step: seglab bf16 --amp beside MMSeg fp32 | 1.000 s | 2.500 s | "
            "0.40x | |") in lines


@pytest.mark.slow  # two seglab processes (build R18, three tiny train steps): ~10 s
def test_seglab_train_worker_runs_bf16_where_the_cpu_has_it(tmp_path):
    """seglab's train worker with --precision bf16 trains under --amp's choice for this CPU:
    bfloat16 autocast where bf16 is native, float32 (said) where it would be emulated."""
    from seglab.utils.precision import train_amp

    args = sbs.argparse.Namespace(venv=str(tmp_path / "no-venv"), runs=1, warmup=1, iters=2,
                                  device="cpu", test_images=1, test_workers=0)
    bench = sbs.Bench(args, str(tmp_path), dict(sbs.os.environ, OMP_NUM_THREADS="1"))
    row = sbs.Row("train_bf16", "R18 train bf16", "train", "r18_whole", 64, 64, precision="bf16")
    cmd = bench.commands(row, 0)["seglab"]
    result = sbs.measure(cmd, bench.env, str(ROOT))
    assert result["ok"], result
    assert result["precision"] == (train_amp("cpu") or "fp32")
    assert len(result["times"]) == 2 and all(t > 0 for t in result["times"])
