"""Make tests/tools/fixtures_show_1x/: what MMSegmentation 1.2.2's tools/test.py --show-dir
writes for configs/1.x/demo/fcn_tiny_4xb2-6it_synthetic-voc-24x24_1x.py with the real 1.x
checkpoint tests/config/fixtures_1x/fcn_tiny_1x_iter3.pth on the 2 val images of the synthetic
VOC set (4 train, 2 val, 32 px, seed 3).

Run with the MMSegmentation 1.2.2 venv (never from seglab's tests), on data made by seglab:
    .venv/bin/python tools/misc/make_synthetic_voc.py /tmp/voc --num-train 4 --num-val 2 \
        --size 32 --seed 3
    /work/mmseg-venv/bin/python tests/tools/make_show_dir_1x.py /tmp/voc

mmseg's own tools/test.py runs twice (as `python tools/test.py CONFIG CKPT --show-dir DIR`):
`with_labels/` is its output as it is; `without_labels/` the same run with
SegLocalVisualizer._draw_sem_seg called with with_labels=False (no class names: the name boxes
are drawn by OpenCV's putText, whose glyphs differ between OpenCV 4 and 5). The config differs
from the demo one only where mmseg needs it: the dataset is BaseSegDataset with the synthetic
set's classes and palette (SyntheticVOCDataset is seglab's), and the visualization hook paints
every image (interval=1; 1.x's default is every 50th).
"""
import os
import os.path as osp
import runpy
import shutil
import subprocess
import sys
import tempfile

ROOT = osp.abspath(osp.join(osp.dirname(__file__), "../.."))
sys.path.insert(0, osp.join(ROOT, "benchmarks/side_by_side"))
import mmcv_ops_standin  # noqa: E402

mmcv_ops_standin.install()
os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # the checkpoint holds mmengine objects

import mmseg  # noqa: E402
from mmseg.visualization import SegLocalVisualizer  # noqa: E402

CONFIG = osp.join(ROOT, "configs/1.x/demo/fcn_tiny_4xb2-6it_synthetic-voc-24x24_1x.py")
CKPT = osp.join(ROOT, "tests/config/fixtures_1x/fcn_tiny_1x_iter3.pth")
OUT = osp.join(ROOT, "tests/tools/fixtures_show_1x")
TOOL = osp.join(osp.dirname(mmseg.__file__), ".mim/tools/test.py")
CHILD = """_base_ = {config!r}
metainfo = dict(classes=('background', 'disc', 'square', 'triangle', 'stripes', 'ring'),
                palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128],
                         [128, 0, 128]])
dataset = dict(type='BaseSegDataset', metainfo=metainfo, data_root={data!r}, img_suffix='.jpg',
               seg_map_suffix='.png')
train_dataloader = dict(dataset=dataset)  # built too: the hook reads runner.iter
test_dataloader = dict(dataset=dataset)
val_dataloader = test_dataloader
default_hooks = dict(visualization=dict(type='SegVisualizationHook', interval=1))
"""


def run_tool(cfg_file, show_dir, work_dir):
    sys.argv = ["test.py", cfg_file, CKPT, "--work-dir", work_dir, "--show-dir", show_dir]
    runpy.run_path(TOOL, run_name="__main__")


def run_once(cfg_file, kind, work_dir):
    """One tool run (in its own process: mmengine's visualizer is a process-wide instance)."""
    if kind == "without_labels":
        draw = SegLocalVisualizer._draw_sem_seg
        SegLocalVisualizer._draw_sem_seg = lambda self, image, sem_seg, classes, palette, \
            with_labels=True: draw(self, image, sem_seg, classes, palette, with_labels=False)
    run_tool(cfg_file, osp.join(OUT, kind), work_dir)
    os.remove(osp.join(OUT, kind, "vis_data", "config.py"))  # the visualizer's config dump


def main():
    if len(sys.argv) == 4:
        return run_once(*sys.argv[1:])
    data = osp.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp()
    cfg_file = osp.join(tmp, "show_1x.py")
    with open(cfg_file, "w") as f:
        f.write(CHILD.format(config=CONFIG, data=data))
    shutil.rmtree(OUT, ignore_errors=True)
    for kind in ("with_labels", "without_labels"):
        subprocess.run([sys.executable, __file__, cfg_file, kind, osp.join(tmp, kind)],
                       check=True)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
