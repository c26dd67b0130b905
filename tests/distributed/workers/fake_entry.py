"""Stands in for tools/train.py / tools/test.py when the launch scripts are tested.

Copied next to a copy of tools/dist_*.sh (as ``train.py`` / ``test.py``), it joins the process group
with ``init_dist(--launcher, backend='nccl')`` as the real tools do with MMSeg's
``dist_params = dict(backend='nccl')``, all-reduces its rank, and writes what it saw to
``$SEGLAB_FAKE_OUT/rank_<r>.json``.
"""
import json
import os
import sys

import torch
import torch.distributed as dist

from seglab.engine.launch import init_dist


def main():
    argv = sys.argv[1:]
    launcher = argv[argv.index("--launcher") + 1]
    rank, world_size = init_dist(launcher, backend="nccl")
    total = torch.tensor([float(rank)])
    dist.all_reduce(total)
    record = dict(argv=argv, rank=rank, world_size=world_size, backend=dist.get_backend(),
                  local_rank=int(os.environ["LOCAL_RANK"]), master_port=os.environ["MASTER_PORT"],
                  master_addr=os.environ["MASTER_ADDR"], rank_sum=total.item(),
                  pythonpath=os.environ.get("PYTHONPATH", ""))
    out_dir = os.environ["SEGLAB_FAKE_OUT"]
    with open(os.path.join(out_dir, f"rank_{rank}.json"), "w") as f:
        json.dump(record, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    from seglab.engine.launch import run_and_exit

    run_and_exit(main)  # as tools/train.py: no interpreter finalization after collectives
