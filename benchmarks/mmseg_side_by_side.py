"""seglab beside MMSegmentation 1.2.2 on the same machine: same configs, weights and inputs.

Usage:
    python benchmarks/mmseg_side_by_side.py --setup [--venv /work/mmseg-venv]
    python benchmarks/mmseg_side_by_side.py [--venv DIR] [--runs 5] [--warmup 2] [--iters 5]
        [--test-images 100] [--rows fcn_r50_whole fcn_r18_train ...] [--threads N] [--device cpu]
        [--work-dir /tmp/seglab-side-by-side] [--out table.md]

``--setup`` makes a virtualenv outside the repository (default /work/mmseg-venv; nothing is
done when it already holds the pinned set): the torch wheel seglab runs, then
``mmsegmentation==1.2.2 mmengine==0.10.7 mmcv-lite==2.1.0 "numpy<2" ftfy regex``. mmcv-lite has
no compiled ops; the MMSeg worker puts a stand-in ``mmcv.ops`` in place first
(side_by_side/mmcv_ops_standin.py: pure-PyTorch ``point_sample``, every other op raises).
MMSegmentation is never imported by seglab or by this driver.

Each row's model is built once by seglab from its 0.x config file (SyncBN -> BN, random
weights, seed 0) and saved; MMSeg builds the same ``model`` dict (plus its 1.x
``SegDataPreProcessor``) and loads that state_dict strictly. Both test pipelines resize to a
scale that keeps the input's size (2048x512 for 512x512, 2048x1024 for 1024x2048; the R18 config
is the Cityscapes one), and the R18 rows set ``test_cfg`` (whole, or slide 512x1024 / 341x682).
Every measurement is its own process (side_by_side/seglab_worker.py,
side_by_side/mmseg_worker.py), the two libraries alternate (A B, B A, ...) for ``--runs``
rounds, and the table gives the medians, the ratio (seglab time / MMSeg time, as issue 13
states its targets: below 1 means seglab is faster; peak RSS likewise), the processes' peak
RSS (``os.wait4``), the share of equal predicted pixels (fp32 inference rows; the tools/test.py
rows: both mIoUs), the CPU model and flags and both torch versions. A row that fails prints its
error in the table.

The tools/test.py rows time both tools' whole processes on ``--test-images`` synthetic 512x512
images (seglab: ``tools/test.py CONFIG CKPT --eval mIoU``; MMSeg: its ``tools/test.py`` on an
equivalent 1.x config, ``--test-workers`` loader workers each). In the bf16 row seglab runs
``--precision bf16`` and MMSeg ``test_cfg=dict(type='TestLoop', fp16=True)`` (mmengine's
autocast: bfloat16 on a CPU); one more line sets seglab's bf16 run beside MMSeg's float32 one,
the comparison issue 13 states its bf16 target in. seglab's tools/test.py folds BN and runs
convolutions in channels_last by default (logits equal to 1e-5); the seglab-only ``--plain``
rows (and lines beside MMSeg fp32) show it without them, bit for bit the model as built.

The bf16 inference rows run both libraries under bfloat16 autocast (seglab:
``init_segmentor(precision='bf16')``); the bf16 train row is seglab's ``--amp``
(``OptimStep(amp='bf16')``) beside MMSeg's train step inside ``torch.autocast('cpu',
torch.bfloat16)`` (mmengine's ``AmpOptimWrapper`` refuses a CPU). Each bf16 row has one more
line setting seglab's bf16 time beside MMSeg's float32 one, as issue 13 states the bf16 targets.
On a CPU without native bf16 seglab runs float32 (said once) and MMSeg emulated bf16.

seglab's processes run with the C allocator policy its tools set (``SEGLAB_MALLOC``; the
inference and train workers default to ``speed`` as tools/benchmark.py and tools/train.py do: no
page faults for reused activations; tools/test.py defaults to ``system``; seglab.utils.malloc);
the two seglab-only
``*_memory`` rows run ``SEGLAB_MALLOC=memory`` (the lowest peak RSS) and their peak RSS is set
beside MMSeg's of the same work. MMSeg runs with glibc's defaults, as it does for its users.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
WORKERS = osp.join(ROOT, "benchmarks", "side_by_side")
sys.path.insert(0, WORKERS)
from worker_common import RESULT_PREFIX  # noqa: E402

MMSEG_PACKAGES = ["mmsegmentation==1.2.2", "mmengine==0.10.7", "mmcv-lite==2.1.0",
                  "numpy<2", "ftfy", "regex"]
MARKER = "seglab-side-by-side.json"
R50 = "configs/fcn/fcn_r50-d8_512x512_20k_voc12aug.py"
R18 = "configs/fcn/fcn_r18-d8_512x1024_80k_cityscapes.py"
SLIDE = dict(mode="slide", crop_size=[512, 1024], stride=[341, 682])
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")


@dataclass
class Row:
    """One line of the table: a kind of work on one model."""
    name: str
    title: str
    kind: str  # infer, train, test_tool
    model: str  # key of MODELS
    height: int = 512
    width: int = 512
    precision: str = "fp32"
    unit: str = "s"
    test_images: int = 0  # set from --test-images (img/s rows)
    tool_args: Tuple[str, ...] = ()  # more seglab tools/test.py options (a seglab-only row)
    seglab_env: Tuple[Tuple[str, str], ...] = ()  # more environment (a seglab-only row)


# model key -> (config, edits); the test-tool model is written by the driver (see test_config).
MODELS = {
    "r50_whole": (R50, dict(test_scale=[2048, 512])),
    "r18_whole": (R18, dict(test_scale=[2048, 512], test_cfg=dict(mode="whole"))),
    "r18_slide": (R18, dict(test_scale=[2048, 1024], test_cfg=SLIDE)),
    "r18_test_tool": (None, {}),
}
ROWS = [
    Row("fcn_r50_whole", "FCN R50-D8 whole 512x512, inference API", "infer", "r50_whole"),
    Row("fcn_r18_whole", "FCN R18-D8 whole 512x512, inference API", "infer", "r18_whole"),
    Row("fcn_r18_slide", "FCN R18-D8 slide 1024x2048 (crop 512x1024, stride 341x682)", "infer",
        "r18_slide", 1024, 2048),
    Row("fcn_r18_train", "FCN R18-D8 train step, batch 2 of 512x512, SGD", "train",
        "r18_whole"),
    Row("test_tool", "tools/test.py, FCN R18-D8 whole, synthetic 512 px images, end to end",
        "test_tool", "r18_test_tool", unit="img/s"),
    Row("fcn_r50_whole_bf16", "FCN R50-D8 whole 512x512, bf16", "infer", "r50_whole",
        precision="bf16"),
    Row("fcn_r18_slide_bf16", "FCN R18-D8 slide 1024x2048, bf16", "infer", "r18_slide",
        1024, 2048, precision="bf16"),
    Row("fcn_r18_train_bf16", "FCN R18-D8 train step, bf16 autocast (seglab: --amp)", "train",
        "r18_whole", precision="bf16"),
    Row("test_tool_bf16", "tools/test.py --precision bf16 (MMSeg: TestLoop fp16=True, bf16 "
        "autocast on a CPU)", "test_tool", "r18_test_tool", precision="bf16", unit="img/s"),
    Row("test_tool_plain", "tools/test.py --plain (no fast path; seglab only)", "test_tool",
        "r18_test_tool", unit="img/s", tool_args=("--plain",)),
    Row("test_tool_plain_bf16", "tools/test.py --precision bf16 --plain (seglab only)",
        "test_tool", "r18_test_tool", precision="bf16", unit="img/s", tool_args=("--plain",)),
    # seglab's other allocator policy (seglab.utils.malloc): the lowest peak RSS, more faults
    Row("fcn_r50_whole_memory", "FCN R50-D8 whole 512x512, SEGLAB_MALLOC=memory (seglab only)",
        "infer", "r50_whole", seglab_env=(("SEGLAB_MALLOC", "memory"),)),
    Row("fcn_r18_train_memory", "FCN R18-D8 train step, SEGLAB_MALLOC=memory (seglab only)",
        "train", "r18_whole", seglab_env=(("SEGLAB_MALLOC", "memory"),)),
]
# (row, reference row for MMSeg's number, title)
RSS_ROWS = [("fcn_r50_whole", "fcn_r50_whole", "Peak RSS, FCN R50-D8 whole 512x512"),
            ("fcn_r18_train", "fcn_r18_train", "Peak RSS, FCN R18-D8 train step"),
            ("fcn_r50_whole_memory", "fcn_r50_whole",
             "Peak RSS, FCN R50-D8 whole 512x512: seglab SEGLAB_MALLOC=memory beside MMSeg"),
            ("fcn_r18_train_memory", "fcn_r18_train",
             "Peak RSS, FCN R18-D8 train step: seglab SEGLAB_MALLOC=memory beside MMSeg")]
# (row, reference row, title): seglab of the first beside MMSeg of the second (issue 13 states
# its bf16 targets against MMSeg's float32 runs).
CROSS_ROWS = [("fcn_r50_whole_bf16", "fcn_r50_whole",
               "FCN R50-D8 whole: seglab bf16 beside MMSeg fp32"),
              ("fcn_r18_slide_bf16", "fcn_r18_slide",
               "FCN R18-D8 slide: seglab bf16 beside MMSeg fp32"),
              ("fcn_r18_train_bf16", "fcn_r18_train",
               "FCN R18-D8 train step: seglab bf16 --amp beside MMSeg fp32"),
              ("test_tool_bf16", "test_tool", "tools/test.py: seglab bf16 beside MMSeg fp32"),
              ("test_tool_plain", "test_tool", "tools/test.py: seglab --plain beside MMSeg fp32"),
              ("test_tool_plain_bf16", "test_tool",
               "tools/test.py: seglab bf16 --plain beside MMSeg fp32")]


# --- setup ----------------------------------------------------------------------------------
def venv_python(venv: str) -> str:
    return osp.join(venv, "bin", "python")


def wanted_packages() -> List[str]:
    import torch

    return [f"torch=={torch.__version__.split('+')[0]}"] + MMSEG_PACKAGES


def setup(venv: str) -> int:
    """Create ``venv`` with the pinned MMSegmentation set unless it already holds it."""
    marker = osp.join(venv, MARKER)
    wanted = wanted_packages()
    if osp.isfile(marker):
        with open(marker) as f:
            if json.load(f).get("packages") == wanted:
                print(f"{venv} already holds {' '.join(wanted)}")
                return check_venv(venv)
    if not osp.isfile(venv_python(venv)):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = [venv_python(venv), "-m", "pip", "install", "-q"]
    # torch first, alone, so the mm packages cannot pull another build of it.
    for packages in (wanted[:1], wanted[1:]):
        print("pip install " + " ".join(packages), flush=True)
        done = subprocess.run(pip + packages)
        if done.returncode:
            print(f"pip failed (exit {done.returncode}) installing {' '.join(packages)} into "
                  f"{venv}; see pip's message above.")
            return done.returncode
    rc = check_venv(venv)
    if rc == 0:
        with open(marker, "w") as f:
            json.dump(dict(packages=wanted, created=time.strftime("%Y-%m-%d %H:%M:%S")), f)
    return rc


def check_venv(venv: str) -> int:
    code = ("import sys; sys.path.insert(0, %r); import mmcv_ops_standin; "
            "mmcv_ops_standin.install(); import mmseg, mmseg.apis, mmengine, mmcv, torch; "
            "print('mmseg', mmseg.__version__, 'mmengine', mmengine.__version__, "
            "'mmcv', mmcv.__version__, 'torch', torch.__version__)" % WORKERS)
    done = subprocess.run([venv_python(venv), "-c", code], capture_output=True, text=True,
                          cwd=tempfile.gettempdir())
    print(done.stdout.strip() or last_line(done.stderr))
    return done.returncode


# --- one measurement --------------------------------------------------------------------------
def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def measure(cmd: List[str], env: Dict[str, str], cwd: str) -> dict:
    """Run one worker process; its RESULT line plus wall time and peak RSS (MiB)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        except OSError as exc:
            return dict(ok=False, error=f"cannot start {cmd[0]}: {exc}")
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    result = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
    if result is None:
        result = dict(ok=proc.returncode == 0,
                      error=f"exit {proc.returncode}: {last_line(stderr or stdout)}")
    elif not result.get("ok") and proc.returncode == 0:
        result["ok"] = False
    result.update(wall=wall, rss_mib=usage.ru_maxrss / 1024.0)
    return result


@dataclass
class Bench:
    args: argparse.Namespace
    work: str
    env: Dict[str, str] = field(default_factory=dict)
    prepared: Dict[str, dict] = field(default_factory=dict)

    def seglab_cmd(self, *extra: str) -> List[str]:
        return [sys.executable, osp.join(WORKERS, "seglab_worker.py"), *extra]

    def mmseg_cmd(self, *extra: str) -> List[str]:
        return [venv_python(self.args.venv), osp.join(WORKERS, "mmseg_worker.py"), *extra]

    def prepare(self, key: str) -> dict:
        """Weights and model dict of one model, built once by seglab."""
        if key not in self.prepared:
            config, edits = MODELS[key]
            if config is None:
                config = self.test_config()
            out_dir = osp.join(self.work, key)
            res = measure(self.seglab_cmd("--task", "prepare", "--config", config, "--edits",
                                          json.dumps(edits), "--out-dir", out_dir),
                          self.env, ROOT)
            self.prepared[key] = dict(res, config=config, edits=edits, out_dir=out_dir,
                                      ckpt=osp.join(out_dir, "model.pth"),
                                      json=osp.join(out_dir, "model.json"))
        return self.prepared[key]

    def test_data(self) -> str:
        from seglab.datasets import make_synthetic_voc

        return make_synthetic_voc(osp.join(self.work, f"synthetic_{self.args.test_images}"),
                                  num_train=0, num_val=self.args.test_images, size=512, seed=0)

    def test_config(self) -> str:
        """A 0.x config: FCN R18-D8 (BN, 6 classes, whole) on the synthetic test set."""
        path = osp.join(self.work, "fcn_r18-d8_synthetic_test.py")
        text = f"""_base_ = {osp.join(ROOT, R18)!r}
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(pretrained=None, backbone=dict(norm_cfg=norm_cfg),
             decode_head=dict(num_classes=6, norm_cfg=norm_cfg),
             auxiliary_head=dict(num_classes=6, norm_cfg=norm_cfg), test_cfg=dict(mode='whole'))
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(2048, 512), flip=False,
         transforms=[dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'),
                     dict(type='Normalize', **img_norm_cfg),
                     dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])])
]
data = dict(workers_per_gpu={self.args.test_workers}, test=dict(
    _delete_=True, type='SyntheticVOCDataset', data_root={self.test_data()!r},
    img_dir='JPEGImages', ann_dir='SegmentationClass', split='ImageSets/Segmentation/val.txt',
    pipeline=test_pipeline))
"""
        with open(path, "w") as f:
            f.write(text)
        return path

    def commands(self, row: Row, run: int) -> Dict[str, Optional[List[str]]]:
        """The two processes of one run of ``row`` (None: that library has no such row)."""
        prep = self.prepare(row.model)
        a = self.args
        if row.kind == "test_tool":
            seglab = [sys.executable, osp.join(ROOT, "tools/test.py"), prep["config"],
                      prep["ckpt"], "--eval", "mIoU", "--device", a.device,
                      "--work-dir", osp.join(self.work, f"{row.name}_seglab_{run}")]
            if row.precision != "fp32":
                with open(osp.join(ROOT, "tools/test.py")) as f:
                    if "--precision" not in f.read():
                        raise NotImplementedError("tools/test.py has no --precision (n/a)")
                seglab += ["--precision", row.precision]
            seglab += list(row.tool_args)
            mmseg = None if row.tool_args else self.mmseg_cmd(
                "--task", "test_tool", "--model-json", prep["json"], "--ckpt", prep["ckpt"],
                "--data-root", self.test_data(), "--workers", str(a.test_workers),
                "--num-images", str(a.test_images), "--precision", row.precision,
                "--work-dir", osp.join(self.work, f"{row.name}_mmseg_{run}"))
            return dict(seglab=seglab, mmseg=mmseg)
        common = ["--ckpt", prep["ckpt"], "--height", str(row.height), "--width",
                  str(row.width), "--warmup", str(a.warmup), "--iters", str(a.iters),
                  "--device", a.device, "--precision", row.precision]
        preds = {lib: osp.join(self.work, f"{row.name}_{lib}.npy") for lib in ("seglab", "mmseg")}
        pred = lambda lib: (["--save-pred", preds[lib]]  # noqa: E731
                            if row.kind == "infer" and row.precision == "fp32" and run == 0
                            else [])
        test_scale = [str(v) for v in prep["edits"].get("test_scale", [2048, 512])]
        return dict(
            seglab=self.seglab_cmd("--task", row.kind, "--config", prep["config"], "--edits",
                                   json.dumps(prep["edits"]), *common, *pred("seglab")),
            mmseg=None if row.seglab_env else self.mmseg_cmd(
                "--task", row.kind, "--model-json", prep["json"], "--test-scale", *test_scale,
                *common, *pred("mmseg")))

    def run_row(self, row: Row) -> dict:
        """``--runs`` alternating rounds; medians per library, or the first error."""
        results: Dict[str, List[dict]] = dict(seglab=[], mmseg=[])
        errors: Dict[str, str] = {}
        for run in range(self.args.runs):
            try:
                cmds = self.commands(row, run)
            except Exception as exc:
                return dict(error=f"{type(exc).__name__}: {exc}")
            prep = self.prepared[row.model]
            if not prep.get("ok"):
                return dict(error=f"seglab could not build the model: {prep.get('error')}")
            order = ["seglab", "mmseg"] if run % 2 == 0 else ["mmseg", "seglab"]
            for lib in order:
                if cmds[lib] is None:
                    errors.setdefault(lib, "n/a")
                    continue
                if lib == "mmseg" and not osp.isfile(venv_python(self.args.venv)):
                    errors.setdefault(lib, f"no {self.args.venv}: run --setup first")
                    continue
                if lib in errors:
                    continue
                env = self.env if lib == "mmseg" else dict(self.env, **dict(row.seglab_env))
                res = measure(cmds[lib], env, self.work if lib == "mmseg" else ROOT)
                if not res.get("ok"):
                    errors[lib] = res.get("error", "failed")
                    continue
                if row.kind == "test_tool":
                    res["seconds"] = res["wall"]
                results[lib].append(res)
        summary = dict(errors=errors)
        for lib, runs in results.items():
            if runs and lib not in errors:
                summary[lib] = dict(seconds=statistics.median(r["seconds"] for r in runs),
                                    rss_mib=statistics.median(r["rss_mib"] for r in runs),
                                    torch=runs[0].get("torch"), threads=runs[0].get("threads"),
                                    runs=len(runs))
        if row.kind == "infer" and row.precision == "fp32":
            summary["agree"] = agreement(*(osp.join(self.work, f"{row.name}_{lib}.npy")
                                           for lib in ("seglab", "mmseg")))
        if row.kind == "test_tool":
            summary["miou"] = {lib: tool_miou(osp.join(self.work, f"{row.name}_{lib}_0"))
                               for lib in ("seglab", "mmseg")}
        return summary


def tool_miou(work_dir: str) -> Optional[float]:
    """mIoU (%) that tools/test.py wrote: seglab's eval_*.json (``metric``, a fraction), MMSeg's
    <timestamp>/<timestamp>.json (percent)."""
    for pattern, scale in (("eval_*.json", 100.0), ("*/*.json", 1.0)):
        for path in sorted(glob.glob(osp.join(work_dir, pattern))):
            with open(path) as f:
                metrics = json.load(f)
            value = metrics.get("metric", metrics).get("mIoU")
            if isinstance(value, (int, float)):
                return float(value) * scale
    return None


def agreement(a_path: str, b_path: str) -> Optional[float]:
    """Share of equal predicted labels of the two libraries' first run."""
    if not (osp.isfile(a_path) and osp.isfile(b_path)):
        return None
    a, b = np.load(a_path), np.load(b_path)
    return float((a == b).mean()) if a.shape == b.shape else 0.0


# --- the table ---------------------------------------------------------------------------------
def cpu_info() -> Dict[str, str]:
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    return dict(model=model, cores=str(os.cpu_count()),
                flags=" ".join(f for f in CPU_FLAGS if f in flags) or "none of " +
                " ".join(CPU_FLAGS))


def fmt(value: Optional[float], unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{1 if unit == 'MiB' else 2 if unit == 'img/s' else 3}f} {unit}"


def cell(summary: dict, lib: str, row: Row) -> str:
    if lib in summary:
        seconds = summary[lib]["seconds"]
        return fmt(row.test_images / seconds if row.unit == "img/s" else seconds, row.unit)
    error = summary.get("error") or summary.get("errors", {}).get(lib, "n/a")
    return error if error == "n/a" else f"error: {error}"


def row_line(row: Row, s: dict) -> str:
    """The table line of one row's summary."""
    ratio = (f"{s['seglab']['seconds'] / s['mmseg']['seconds']:.2f}x"
             if "seglab" in s and "mmseg" in s else "n/a")
    agree = "" if s.get("agree") is None else f"{100 * s['agree']:.3f}%"
    if any(v is not None for v in s.get("miou", {}).values()):
        agree = "mIoU " + " / ".join("n/a" if v is None else f"{v:.2f}"
                                     for v in s["miou"].values())
    return (f"| {row.title} | {cell(s, 'seglab', row)} | {cell(s, 'mmseg', row)} | "
            f"{ratio} | {agree} |")


def table(rows: List[Row], summaries: Dict[str, dict], machine: List[str]) -> str:
    lines = ["| work | seglab | MMSeg 1.2.2 | seglab / MMSeg | agree |", "|---|---|---|---|---|"]
    lines += [row_line(row, summaries[row.name]) for row in rows]
    by_name = {row.name: row for row in rows}
    for name, reference, title in CROSS_ROWS:
        if name not in by_name or reference not in by_name:
            continue
        ours, theirs = summaries[name], summaries[reference]
        ratio = (f"{ours['seglab']['seconds'] / theirs['mmseg']['seconds']:.2f}x"
                 if "seglab" in ours and "mmseg" in theirs else "n/a")
        lines.append(f"| {title} | {cell(ours, 'seglab', by_name[name])} | "
                     f"{cell(theirs, 'mmseg', by_name[reference])} | {ratio} | |")
    for name, reference, title in RSS_ROWS:
        if name not in summaries or reference not in summaries:
            continue
        rss = {lib: summaries[source][lib]["rss_mib"]
               for lib, source in (("seglab", name), ("mmseg", reference))
               if lib in summaries[source]}
        ratio = f"{rss['seglab'] / rss['mmseg']:.2f}x" if len(rss) == 2 else "n/a"
        lines.append(f"| {title} | {fmt(rss.get('seglab'), 'MiB')} | "
                     f"{fmt(rss.get('mmseg'), 'MiB')} | {ratio} | |")
    return "\n".join(machine + [""] + lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="seglab beside MMSegmentation 1.2.2")
    parser.add_argument("--setup", action="store_true", help="create the MMSeg virtualenv")
    parser.add_argument("--venv", default="/work/mmseg-venv", help="MMSeg virtualenv")
    parser.add_argument("--runs", type=int, default=5, help="processes per library and row")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per process")
    parser.add_argument("--iters", type=int, default=5, help="timed calls per process")
    parser.add_argument("--test-images", type=int, default=100, help="tools/test.py images")
    parser.add_argument("--test-workers", type=int, default=2, help="tools/test.py loaders")
    parser.add_argument("--rows", nargs="+", choices=[r.name for r in ROWS],
                        help="only these rows (default: all)")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of every worker")
    parser.add_argument("--device", default="cpu",
                        help="cpu or cuda for the inference and train rows (the MMSeg "
                        "virtualenv needs a CUDA torch for cuda)")
    parser.add_argument("--work-dir", help="weights, data and logs (default: a temp folder)")
    parser.add_argument("--out", help="also write the table (markdown) to this file")
    args = parser.parse_args(argv)
    if args.setup:
        return setup(args.venv)
    if min(args.runs, args.iters, args.test_images) < 1 or args.warmup < 0:
        parser.error("--runs, --iters and --test-images must be >= 1, --warmup >= 0")
    work = args.work_dir or tempfile.mkdtemp(prefix="seglab-side-by-side-")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH="")
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    bench = Bench(args, osp.abspath(work), env)
    rows = [r for r in ROWS if not args.rows or r.name in args.rows]
    for row in rows:
        row.test_images = args.test_images
    summaries = {}
    for row in rows:
        print(f"... {row.name}", flush=True)
        summaries[row.name] = bench.run_row(row)
        print(row_line(row, summaries[row.name]), flush=True)  # long runs: as it goes
    cpu = cpu_info()
    # Workers report their torch; tools/test.py (seglab's test-tool rows) reports none.
    versions = {lib: next((s[lib]["torch"] for s in summaries.values()
                           if s.get(lib, {}).get("torch")), "n/a") for lib in ("seglab", "mmseg")}
    if versions["seglab"] == "n/a":
        import torch  # the seglab workers run this interpreter

        versions["seglab"] = torch.__version__
    threads = next((s[lib]["threads"] for s in summaries.values() for lib in ("seglab", "mmseg")
                    if s.get(lib, {}).get("threads")), args.threads or "torch default")
    machine = [f"CPU: {cpu['model']}, {cpu['cores']} cores, flags: {cpu['flags']}",
               f"torch: seglab {versions['seglab']}, MMSeg venv {versions['mmseg']} "
               f"(threads {threads}); python {platform.python_version()}; "
               f"{time.strftime('%Y-%m-%d %H:%M')}",
               f"medians of {args.runs} processes per library (alternating), each "
               f"{args.warmup} warm-up + {args.iters} timed calls; ratio = seglab / MMSeg time "
               "(below 1: seglab faster); agree = equal predicted pixels (fp32), for tools/test.py "
               "the mIoU (%) of seglab / MMSeg"]
    text = table(rows, summaries, machine)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(f"work dir: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
