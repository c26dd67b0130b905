"""Make tests/config/v1x_lr_reference.json: learning rates of mmengine 0.10.7's schedulers.

Run with the MMSegmentation 1.2.2 venv (never from seglab's tests):
    /work/mmseg-venv/bin/python tests/config/make_v1x_lr_reference.py

For each chain (a 1.x ``param_scheduler`` list) an SGD optimizer with two parameter groups
(lr 0.01 and 0.001) is scheduled as mmengine's runner does: the schedulers are built in list
order (each steps once when built), and after every iteration ParamSchedulerHook steps each of
them in list order. The file holds, per chain, the lr of each group at iterations 0..N-1.
"""
import json
import os.path as osp

import torch
from mmengine.registry import PARAM_SCHEDULERS
import mmengine.optim  # noqa: F401  (registers the schedulers)

CHAINS = {
    "poly": [dict(type="PolyLR", eta_min=1e-4, power=0.9, begin=0, end=50)],
    "warmup_poly": [dict(type="LinearLR", start_factor=1e-6, begin=0, end=10),
                    dict(type="PolyLR", eta_min=0.0, power=1.0, begin=10, end=50)],
    "overlap_linear_poly": [dict(type="LinearLR", start_factor=0.1, begin=0, end=20),
                            dict(type="PolyLR", eta_min=1e-4, power=0.9, begin=0, end=50)],
    "constant_multistep": [dict(type="ConstantLR", factor=0.5, begin=5, end=15),
                           dict(type="MultiStepLR", milestones=[20, 30], gamma=0.1)],
    "cosine": [dict(type="CosineAnnealingLR", T_max=20, eta_min=1e-5, begin=0, end=50)],
    "cosine_ratio_step_exp": [dict(type="CosineAnnealingLR", eta_min_ratio=0.1, begin=0, end=30),
                              dict(type="StepLR", step_size=7, gamma=0.5, begin=30, end=50),
                              dict(type="ExponentialLR", gamma=0.95, begin=40)],
}
NUM_ITERS = 60


def main():
    out = {}
    for name, chain in CHAINS.items():
        params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
        optimizer = torch.optim.SGD([dict(params=[params[0]], lr=0.01),
                                     dict(params=[params[1]], lr=0.001)], lr=0.01)
        schedulers = [PARAM_SCHEDULERS.build(dict(cfg, by_epoch=False),
                                             default_args=dict(optimizer=optimizer))
                      for cfg in chain]
        lrs = []
        for _ in range(NUM_ITERS):
            lrs.append([group["lr"] for group in optimizer.param_groups])
            optimizer.step()
            for scheduler in schedulers:
                scheduler.step()
        out[name] = dict(schedulers=chain, lr=lrs)
    path = osp.join(osp.dirname(osp.abspath(__file__)), "v1x_lr_reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
