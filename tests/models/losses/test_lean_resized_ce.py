"""The lean resized cross-entropy: the plain graph's numbers, bit for bit, with less kept alive."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.errors import DatasetError
from seglab.models import FCNHead
from seglab.models.losses import CrossEntropyLoss
from seglab.models.losses.cross_entropy_loss import _ResizedPixelCrossEntropy

SIZE = (29, 37)  # not a multiple of the logits' 8 x 9: bilinear weights of every kind


def _inputs(num_classes=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    logit = torch.randn(2, num_classes, 8, 9, generator=gen)
    label = torch.randint(0, num_classes, (2, *SIZE), generator=gen)
    label[:, :6] = 255
    label[1, :, :5] = 255
    return logit, label


def _plain(module, logit, label, align_corners, **kwargs):
    up = F.interpolate(logit, label.shape[1:], mode="bilinear", align_corners=align_corners)
    return module(up, label, **kwargs), up


def _loss_and_grad(fn, logit, grad_out=None):
    leaf = logit.clone().requires_grad_()
    loss, resized = fn(leaf)
    (loss if grad_out is None else (loss * grad_out).sum()).backward()
    return loss.detach(), resized.detach(), leaf.grad


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("options", [
    dict(),
    dict(class_weight=[0.5, 2.0, 1.0, 3.0, 0.25]),
    dict(avg_non_ignore=True),
    dict(reduction="sum", loss_weight=0.4),
])
def test_forward_resized_is_bit_identical_to_the_plain_graph(align_corners, options):
    module = CrossEntropyLoss(**options)
    logit, label = _inputs()
    lean = _loss_and_grad(lambda x: module.forward_resized(x, label, align_corners), logit)
    plain = _loss_and_grad(lambda x: _plain(module, x, label, align_corners), logit)
    for a, b in zip(lean, plain):
        assert torch.equal(a, b)
    assert lean[2].abs().sum() > 0


def test_per_pixel_loss_weight_and_avg_factor_match():
    module = CrossEntropyLoss(reduction="none")
    logit, label = _inputs(seed=1)
    weight = torch.rand(label.shape, generator=torch.Generator().manual_seed(2))
    grad_out = torch.randn(label.shape, generator=torch.Generator().manual_seed(3))
    lean = _loss_and_grad(lambda x: module.forward_resized(x, label, False, weight=weight),
                          logit, grad_out)
    plain = _loss_and_grad(lambda x: _plain(module, x, label, False, weight=weight), logit,
                           grad_out)
    assert lean[0].shape == label.shape
    for a, b in zip(lean, plain):
        assert torch.equal(a, b)
    mean = CrossEntropyLoss()
    lean = mean.forward_resized(logit, label, False, avg_factor=123.0)[0]
    assert torch.equal(lean, _plain(mean, logit, label, False, avg_factor=123.0)[0])


def test_bf16_autocast_is_recomputed_under_the_same_state():
    module = CrossEntropyLoss()
    logit, label = _inputs(seed=4)
    logit = logit.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lean = _loss_and_grad(lambda x: module.forward_resized(x, label, False), logit)
        plain = _loss_and_grad(lambda x: _plain(module, x, label, False), logit)
    assert lean[2].dtype == torch.bfloat16
    for a, b in zip(lean, plain):
        assert torch.equal(a, b)


def test_only_the_small_logits_and_labels_are_kept_for_backward():
    module = CrossEntropyLoss()
    logit, label = _inputs()
    saved = []

    def pack(tensor):
        saved.append(tuple(tensor.shape))
        return tensor

    leaf = logit.clone().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, resized = module.forward_resized(leaf, label, False)
    assert not resized.requires_grad
    full = (2, 5, *SIZE)
    assert full not in saved and saved  # the plain graph keeps (2, 5, 29, 37) log-probs
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _plain(module, leaf, label, False)
    assert full in saved


def test_no_zero_gradient_is_made_for_the_resized_logits():
    logit, label = _inputs()
    leaf = logit.clone().requires_grad_()
    loss, _ = _ResizedPixelCrossEntropy.apply(leaf, label, None, SIZE, False, 255)
    made = []

    class Spy(torch.utils._python_dispatch.TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if isinstance(out, torch.Tensor):
                made.append((str(func), tuple(out.shape)))
            return out

    with Spy():
        loss.sum().backward()
    # Only the recomputation's own full-size maps: the resize, the log-probs and their
    # gradients; no zeros of the resized logits' shape for their unused gradient.
    assert ("aten.zeros.default", (2, 5, *SIZE)) not in made
    assert any(name.startswith("aten._log_softmax_backward") for name, _ in made)
    assert leaf.grad.shape == logit.shape


def test_bad_labels_and_the_sigmoid_variant_are_refused():
    logit, label = _inputs()
    label[0, 10, 10] = 7
    with pytest.raises(DatasetError, match=r"label values \[7\]"):
        CrossEntropyLoss().forward_resized(logit.requires_grad_(), label, False)
    with pytest.raises(ValueError, match="use_sigmoid"):
        CrossEntropyLoss(use_sigmoid=True).forward_resized(logit, label, False)
    assert not CrossEntropyLoss(use_sigmoid=True).takes_resized_logits


def _head(**kwargs):
    torch.manual_seed(0)
    return FCNHead(in_channels=8, channels=8, num_classes=5, num_convs=1, **kwargs)


def _head_step(head, lean):
    head.lean_loss = lean
    feats = [torch.randn(2, 8, 8, 9, generator=torch.Generator().manual_seed(5))]
    label = _inputs()[1][:, None]
    head.zero_grad(set_to_none=True)
    losses = head.forward_train(feats, None, label, None)
    sum(v for k, v in losses.items() if k.startswith("loss")).backward()
    return losses, [p.grad.clone() for p in head.parameters()]


@pytest.mark.parametrize("align_corners", [False, True])
def test_decode_head_lean_loss_equals_the_plain_loss(align_corners):
    head = _head(align_corners=align_corners)
    head.train()
    torch.manual_seed(1)
    lean, lean_grads = _head_step(head, True)
    torch.manual_seed(1)  # the same dropout mask
    plain, plain_grads = _head_step(head, False)
    assert list(lean) == list(plain) == ["loss_ce", "acc_seg"]
    for key in plain:
        assert torch.equal(lean[key], plain[key])
    assert all(torch.equal(a, b) for a, b in zip(lean_grads, plain_grads))


def test_decode_head_takes_the_lean_loss_only_where_it_applies():
    logit = torch.randn(2, 5, 8, 9, requires_grad=True)
    assert _head()._lean_loss_module(logit) is None  # auto: CUDA only
    head = _head()
    head.lean_loss = True
    assert head._lean_loss_module(logit) is head.loss_decode
    assert head._lean_loss_module(logit.detach()) is None
    with torch.no_grad():
        assert head._lean_loss_module(logit) is None
    for kwargs in (dict(loss_decode=[dict(type="CrossEntropyLoss"), dict(type="DiceLoss")]),
                   dict(loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=True)),
                   dict(sampler=dict(type="OHEMPixelSampler", thresh=0.7, min_kept=10))):
        other = _head(**kwargs)
        other.lean_loss = True
        assert other._lean_loss_module(logit) is None, kwargs

    class MyLoss(CrossEntropyLoss):
        pass

    head.loss_decode = MyLoss()
    assert head._lean_loss_module(logit) is None
    assert isinstance(head.loss_decode, nn.Module)
