"""Run by torchrun (2 CPU processes, gloo) from tests/distributed; writes what each rank saw.

Usage: python -m torch.distributed.run --nproc_per_node 2 collectives_worker.py IN_FILE OUT_DIR

IN_FILE (torch.save by the test) holds the initial weights of a tiny conv-SyncBN-conv model, the
4 training samples and the probes for the uneven-batch check. Each rank writes
``OUT_DIR/rank_<r>.pt`` with:

* ``ddp``: SyncBN model under DDP, each rank training on its 2 of the 4 samples for 3 SGD steps:
  per-step local losses, the final state_dict, the classes of the norm layers;
* ``uneven``: sync_batch_norm on an uneven split (rank 0: 3 samples, rank 1: 1), its output and the
  gradients of sum(out * probe) w.r.t. input, weight and bias;
* ``collect``: collect_results through files and through the process group, with and without
  indices, on uneven shards of a 5-sample "dataset";
* ``reduce``: all_reduce_dict of rank-dependent values.
"""
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

from seglab.engine.ddp import build_ddp
from seglab.engine.dist import all_reduce_dict, collect_results, dist_device
from seglab.engine.launch import init_dist
from seglab.models.layers.norm import build_norm_layer
from seglab.models.layers.sync_bn import sync_batch_norm


class ConvSyncBNConv(nn.Module):
    def __init__(self, norm_cfg):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = build_norm_layer(norm_cfg, 4)[1]
        self.conv2 = nn.Conv2d(4, 3, 1)

    def forward(self, x):
        return self.conv2(F.relu(self.bn(self.conv1(x))))


def ddp_training(inputs, rank, world_size):
    model = ConvSyncBNConv(dict(type="SyncBN", requires_grad=True))
    model.load_state_dict(inputs["init_state"])
    model = build_ddp(model, "cpu")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    per_rank = inputs["img"].shape[0] // world_size
    img = inputs["img"][rank * per_rank:(rank + 1) * per_rank]
    label = inputs["label"][rank * per_rank:(rank + 1) * per_rank]
    losses = []
    for _ in range(3):
        # DDP averages the gradients over ranks: with equal local batches the mean of the local
        # mean losses is the loss of the whole batch, so the gradients match one process.
        loss = F.cross_entropy(model(img), label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return dict(losses=losses, state_dict={k: v.clone() for k, v in model.module.state_dict().items()},
                norm_class=type(model.module.bn).__name__)


def uneven_batch_norm(inputs, rank):
    x_all, probe_all = inputs["uneven_x"], inputs["uneven_probe"]
    split = (slice(0, 3), slice(3, 4))[rank]
    x = x_all[split].clone().requires_grad_(True)
    weight = inputs["uneven_weight"].clone().requires_grad_(True)
    bias = inputs["uneven_bias"].clone().requires_grad_(True)
    running_mean, running_var = torch.zeros(x.shape[1]), torch.ones(x.shape[1])
    out = sync_batch_norm(x, running_mean, running_var, weight, bias, momentum=0.1, eps=1e-5)
    (out * probe_all[split]).sum().backward()
    return dict(out=out.detach(), grad_x=x.grad, grad_weight=weight.grad, grad_bias=bias.grad,
                running_mean=running_mean, running_var=running_var)


def collect(rank, world_size, tmpdir):
    size = 5  # rank 0 tests 0, 2, 4; rank 1 tests 1, 3 (no padding)
    mine = list(range(rank, size, world_size))
    part = [dict(index=i, pred=torch.full((2, 2), i)) for i in mine]
    padded = mine + ([0] if rank == 1 else [])  # a sampler that rounds up repeats index 0
    return dict(
        files=collect_results(part, size, tmpdir=tmpdir),
        group=collect_results(part, size, gpu_collect=True),
        indexed=collect_results([f"img{i}" for i in padded], size, indices=padded, gpu_collect=True),
        indexed_files=collect_results([f"img{i}" for i in padded], size, tmpdir=tmpdir, indices=padded),
        tmpdir_left=sorted(os.listdir(tmpdir)) if rank == 0 else None)


def main():
    in_file, out_dir = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    rank, world_size = init_dist("pytorch", backend="gloo")
    inputs = torch.load(in_file, weights_only=True)
    result = dict(rank=rank, world_size=world_size, device=str(dist_device()))
    result["ddp"] = ddp_training(inputs, rank, world_size)
    result["uneven"] = uneven_batch_norm(inputs, rank)
    result["collect"] = collect(rank, world_size, os.path.join(out_dir, "collect_tmp"))
    result["reduce"] = all_reduce_dict({"a": float(rank), "b": 2.0 * (rank + 1)})
    result["reduce_sum"] = all_reduce_dict({"a": float(rank + 1)}, op="sum")
    torch.save(result, os.path.join(out_dir, f"rank_{rank}.pt"))


if __name__ == "__main__":
    from seglab.engine.launch import run_and_exit

    run_and_exit(main)  # as tools/train.py: no interpreter finalization after collectives
