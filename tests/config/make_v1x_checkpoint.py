"""Make tests/config/fixtures_1x/fcn_tiny_1x_iter3.pth: a real MMSegmentation 1.2.2 checkpoint.

Run with the MMSegmentation 1.2.2 venv (never from seglab's tests):
    /work/mmseg-venv/bin/python tests/config/make_v1x_checkpoint.py

mmseg builds the model, the optimizer wrapper and the param schedulers of
configs/1.x/demo/fcn_tiny_4xb2-6it_synthetic-voc-24x24_1x.py, trains 3 iterations on seeded
random 24x24 images (model.train_step, then every scheduler's step, as the runner's
ParamSchedulerHook does; the message hub gets the lr and loss scalars, as the runner's hooks
do), and the checkpoint dict is assembled as mmengine 0.10.7's Runner.save_checkpoint assembles
it: meta (epoch, iter = finished iterations, cfg text, seed, experiment_name, time,
mmengine_version, dataset_meta with classes and palette), state_dict, message_hub,
optimizer and param_schedulers; it is written with torch.save, as mmengine does.
"""
import os.path as osp
import sys
import time

import torch

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), "../../benchmarks/side_by_side"))
import mmcv_ops_standin  # noqa: E402

mmcv_ops_standin.install()

from mmengine.config import Config  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import PARAM_SCHEDULERS  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmengine.utils import get_git_hash  # noqa: E402,F401
import mmengine  # noqa: E402
import mmseg  # noqa: E402,F401
from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

ROOT = osp.abspath(osp.join(osp.dirname(__file__), "../.."))
CONFIG = osp.join(ROOT, "configs/1.x/demo/fcn_tiny_4xb2-6it_synthetic-voc-24x24_1x.py")
OUT = osp.join(ROOT, "tests/config/fixtures_1x/fcn_tiny_1x_iter3.pth")
CLASSES = ("background", "disc", "square", "triangle", "stripes", "ring")
PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128]]
ITERS = 3


def main():
    register_all_modules()
    torch.manual_seed(0)
    cfg = Config.fromfile(CONFIG)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    schedulers = [PARAM_SCHEDULERS.build(s, default_args=dict(optimizer=optim_wrapper))
                  for s in cfg.param_scheduler]
    hub = MessageHub.get_instance("make_v1x_checkpoint")
    generator = torch.Generator().manual_seed(1)
    model.train()
    for it in range(ITERS):
        inputs = [torch.randint(0, 256, (3, 24, 24), generator=generator, dtype=torch.uint8)
                  for _ in range(2)]
        samples = []
        for _ in inputs:
            sample = SegDataSample()
            sample.gt_sem_seg = PixelData(data=torch.randint(0, 6, (1, 24, 24),
                                                             generator=generator))
            sample.set_metainfo(dict(img_shape=(24, 24), ori_shape=(24, 24)))
            samples.append(sample)
        hub.update_scalar("train/lr", optim_wrapper.get_lr()["lr"][0])
        log_vars = model.train_step(dict(inputs=inputs, data_samples=samples), optim_wrapper)
        for name, value in log_vars.items():
            hub.update_scalar(f"train/{name}", float(value))
        for scheduler in schedulers:
            scheduler.step()
    hub.update_info("iter", ITERS)
    meta = dict(epoch=0, iter=ITERS, cfg=cfg.pretty_text, seed=0, experiment_name="make_v1x",
                time=time.strftime("%Y%m%d_%H%M%S"), mmengine_version=mmengine.__version__,
                dataset_meta=dict(classes=CLASSES, palette=PALETTE))
    checkpoint = dict(meta=meta, state_dict={k: v.cpu() for k, v in model.state_dict().items()},
                      message_hub=hub.state_dict(), optimizer=optim_wrapper.state_dict(),
                      param_schedulers=[s.state_dict() for s in schedulers])
    torch.save(checkpoint, OUT)
    print(f"wrote {OUT}: {osp.getsize(OUT)} bytes; lrs {optim_wrapper.get_lr()['lr']}")


if __name__ == "__main__":
    main()
