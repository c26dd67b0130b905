"""SyncBN over 2 CPU processes (torchrun, gloo) equals BatchNorm2d over the whole batch in one.

The processes are launched once (``collectives_run`` in conftest.py); the references are computed
here, in this process, with plain ``nn.BatchNorm2d`` on the same weights and samples.
"""
import torch
import torch.nn.functional as F
from torch import nn

ATOL = 1e-5


class ConvBNConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 3, 1)

    def forward(self, x):
        return self.conv2(F.relu(self.bn(self.conv1(x))))


def _single_process_training(inputs):
    model = ConvBNConv()
    model.load_state_dict(inputs["init_state"])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(3):
        loss = F.cross_entropy(model(inputs["img"]), inputs["label"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, model.state_dict()


def test_ddp_syncbn_2x2_matches_bn_1x4_after_3_sgd_steps(collectives_run):
    inputs, results = collectives_run
    ref_losses, ref_state = _single_process_training(inputs)
    assert [r["ddp"]["norm_class"] for r in results] == ["CPUSyncBatchNorm"] * 2
    # The whole-batch loss is the mean of the two half-batch losses (equal halves).
    mean_losses = [(a + b) / 2 for a, b in zip(results[0]["ddp"]["losses"], results[1]["ddp"]["losses"])]
    assert torch.allclose(torch.tensor(mean_losses), torch.tensor(ref_losses), atol=ATOL)
    assert ref_losses[0] != ref_losses[-1]  # the steps changed something
    for result in results:
        state = result["ddp"]["state_dict"]
        assert set(state) == set(ref_state)
        for key, ref in ref_state.items():
            assert torch.allclose(state[key].float(), ref.float(), atol=ATOL), key
    # The running statistics moved away from their initial values (mean 0, var 1).
    assert results[0]["ddp"]["state_dict"]["bn.num_batches_tracked"].item() == 3
    assert not torch.allclose(ref_state["bn.running_var"], torch.ones(4), atol=1e-2)


def test_sync_batch_norm_uneven_split_forward_backward_and_running_stats(collectives_run):
    """Rank 0 holds 3 samples, rank 1 one: outputs and all gradients equal one BN over all 4."""
    inputs, results = collectives_run
    x = inputs["uneven_x"].clone().requires_grad_(True)
    bn = nn.BatchNorm2d(5, momentum=0.1, eps=1e-5)
    with torch.no_grad():
        bn.weight.copy_(inputs["uneven_weight"])
        bn.bias.copy_(inputs["uneven_bias"])
    out = bn(x)
    (out * inputs["uneven_probe"]).sum().backward()
    r0, r1 = results[0]["uneven"], results[1]["uneven"]
    assert r0["out"].shape[0] == 3 and r1["out"].shape[0] == 1
    assert torch.allclose(torch.cat([r0["out"], r1["out"]]), out.detach(), atol=ATOL)
    assert torch.allclose(torch.cat([r0["grad_x"], r1["grad_x"]]), x.grad, atol=ATOL)
    # Affine gradients are per process (DDP sums/averages them): their sum is the full gradient.
    assert torch.allclose(r0["grad_weight"] + r1["grad_weight"], bn.weight.grad, atol=ATOL)
    assert torch.allclose(r0["grad_bias"] + r1["grad_bias"], bn.bias.grad, atol=ATOL)
    for r in (r0, r1):  # unbiased global variance in the running average, as BatchNorm2d
        assert torch.allclose(r["running_mean"], bn.running_mean, atol=ATOL)
        assert torch.allclose(r["running_var"], bn.running_var, atol=ATOL)
