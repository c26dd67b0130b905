import pytest
import torch

from seglab.errors import ConfigError
from seglab.models.losses import LovaszLoss, lovasz_softmax
from seglab.registry import MODELS, build_from_cfg


def _jaccard_loss(mispredicted, fg):
    """Jaccard loss of a mispredicted set: |M| / |F u M| (0 when both are empty)."""
    union = fg | mispredicted
    return len(mispredicted) / len(union) if union else 0.0


def _lovasz_extension(errors, fg_set):
    """Lovasz extension from its definition, with Python sets (independent of the code)."""
    order = sorted(range(len(errors)), key=lambda i: -errors[i])
    total, prev, chosen = 0.0, 0.0, set()
    for i in order:
        chosen.add(i)
        cur = _jaccard_loss(chosen, fg_set)
        total += errors[i] * (cur - prev)
        prev = cur
    return total


def _ref_softmax(probs, labels, classes="present", ignore_index=255, class_weight=None):
    p = probs.permute(0, 2, 3, 1).reshape(-1, probs.size(1)).double()
    lab = labels.reshape(-1)
    keep = lab != ignore_index
    p, lab = p[keep], lab[keep].tolist()
    losses = []
    cls_list = range(p.size(1)) if classes in ("all", "present") else classes
    for c in cls_list:
        fg = {i for i, v in enumerate(lab) if v == c}
        if classes == "present" and not fg:
            continue
        errors = [abs((1.0 if i in fg else 0.0) - float(p[i, c])) for i in range(len(lab))]
        v = _lovasz_extension(errors, fg)
        losses.append(v * (class_weight[c] if class_weight else 1.0))
    return sum(losses) / len(losses)


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(31)
    logits = torch.randn(2, 4, 3, 3, generator=g)
    label = torch.randint(0, 3, (2, 3, 3), generator=g)  # class 3 absent
    label[0, 0, 0] = 255
    return logits, label


def test_defaults_and_registry():
    loss = build_from_cfg(dict(type="LovaszLoss", reduction="none", loss_weight=1.0), MODELS)
    assert isinstance(loss, LovaszLoss)
    assert (loss.loss_type, loss.classes, loss.per_image) == ("multi_class", "present", False)
    assert loss.loss_name == "loss_lovasz"
    assert LovaszLoss(loss_name="loss_l").loss_name == "loss_l"


@pytest.mark.parametrize("classes", ["present", "all", [0, 3]])
def test_multi_class_matches_definition(data, classes):
    logits, label = data
    probs = logits.softmax(1)
    got = LovaszLoss(classes=classes)(logits, label, ignore_index=255)
    assert got.item() == pytest.approx(_ref_softmax(probs, label, classes), rel=1e-5)


def test_hard_predictions_give_one_minus_iou():
    label = torch.tensor([[[0, 0, 1], [1, 1, 2]]])
    pred = torch.tensor([[[0, 1, 1], [1, 2, 2]]])
    probs = torch.nn.functional.one_hot(pred, 3).permute(0, 3, 1, 2).float()
    # IoU: class 0: 1/2, class 1: 2/4, class 2: 1/2
    assert lovasz_softmax(probs, label).item() == pytest.approx(0.5, rel=1e-6)


def test_class_weight_and_per_image(data):
    logits, label = data
    cw = [1.0, 2.0, 0.5, 1.0]
    probs = logits.softmax(1)
    got = LovaszLoss(class_weight=cw, loss_weight=0.5)(logits, label)
    assert got.item() == pytest.approx(0.5 * _ref_softmax(probs, label, class_weight=cw), rel=1e-5)
    per = [_ref_softmax(probs[b:b + 1], label[b:b + 1]) for b in range(2)]
    loss = LovaszLoss(per_image=True)
    assert loss(logits, label).item() == pytest.approx(sum(per) / 2, rel=1e-5)
    none = loss(logits, label, reduction_override="none")
    assert none.shape == (2,)
    assert none.tolist() == pytest.approx(per, rel=1e-5)


def test_binary_hinge_matches_definition():
    g = torch.Generator().manual_seed(32)
    logits = torch.randn(2, 1, 3, 3, generator=g)
    label = torch.randint(0, 2, (2, 3, 3), generator=g)
    label[1, 2, :] = 255
    x = logits.reshape(-1).double()
    lab = label.reshape(-1)
    keep = lab != 255
    x, lab = x[keep].tolist(), lab[keep].tolist()
    errors = [max(0.0, 1 - xi * (2 * li - 1)) for xi, li in zip(x, lab)]
    fg = {i for i, v in enumerate(lab) if v == 1}
    ref = _lovasz_extension(errors, fg)
    got = LovaszLoss(loss_type="binary")(logits, label, ignore_index=255)
    assert got.item() == pytest.approx(ref, rel=1e-5)


def test_backward_finite_and_all_ignored(data):
    logits, label = data
    for loss_type in ("multi_class", "binary"):
        x = (logits if loss_type == "multi_class" else logits[:, :1]).clone().requires_grad_(True)
        lab = label if loss_type == "multi_class" else label.clamp(max=1)
        out = LovaszLoss(loss_type=loss_type)(x, lab)
        out.backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
        void = torch.full_like(label, 255)
        assert LovaszLoss(loss_type=loss_type)(x, void).item() == 0.0


def test_bad_config():
    with pytest.raises(ConfigError, match="loss_type"):
        LovaszLoss(loss_type="multiclass")
    with pytest.raises(ConfigError, match="classes"):
        LovaszLoss(classes="some")
