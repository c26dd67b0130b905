"""The end of a distributed tools/train.py rank, reduced: gloo collectives, then the process ends.

Run by ``benchmarks/dist_soak.sh N --exit`` (ends through seglab's ``run_and_exit``, as the tools
do) and ``--exit-plain`` (ends with ``sys.exit``, as tools/train.py did before): the plain ending
aborts some runs with SIGABRT ("terminate called without an active exception") because gloo's
worker threads release the last collective's tensors while Python finalizes the interpreter; see
``seglab.engine.launch.finish_process``. Pinning the job to one core (``taskset -c 0``) makes the
race frequent: 12 of 40 plain runs aborted, 0 of 40 with run_and_exit (2-core AMD EPYC, torch
2.13.0+cpu).
"""
import os
import sys

import torch
import torch.distributed as dist

from seglab.engine.launch import init_dist, run_and_exit


def main() -> int:
    init_dist("pytorch", backend="gloo")
    for _ in range(50):
        total = torch.ones(1000)
        dist.all_reduce(total)
    ranks = [None] * dist.get_world_size()
    dist.all_gather_object(ranks, {"rank": dist.get_rank()})  # as the last checkpoint's RNG gather
    return 0


if __name__ == "__main__":
    if os.environ.get("SEGLAB_EXIT") == "plain":
        sys.exit(main())
    run_and_exit(main)
