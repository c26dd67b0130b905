"""PointHead and point_sample: bilinear sampling by hand, MMSeg's keys, the point selection of
training and of the subdivision inference (against MMSeg's sampled points), losses, errors."""
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.config import Config
from seglab.errors import ConfigError, RegistryError
from seglab.models import build_head, build_segmentor
from seglab.models.decode_heads import PointHead
from seglab.models.decode_heads.point_head import calculate_uncertainty
from seglab.models.layers import point_sample
from shared_data import SHARED

ZOO = Path(f"{SHARED}/data/mmseg-zoo")
TRAIN_CFG = dict(num_points=48, oversample_ratio=3, importance_sample_ratio=0.75)
TEST_CFG = dict(mode="whole", subdivision_steps=2, subdivision_num_points=20, scale_factor=2)


def _head(**kwargs) -> PointHead:
    cfg = dict(type="PointHead", in_channels=[6], in_index=[0], channels=8, num_fcs=2,
               num_classes=4, dropout_ratio=-1)
    cfg.update(kwargs)
    return build_head(cfg)


# -- point_sample -----------------------------------------------------------------------------

def test_point_sample_is_bilinear_at_pixel_centres():
    """With align_corners=False pixel (i, j) of an H x W map is at ((j + .5) / W, (i + .5) / H)."""
    img = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])[None, None]  # H=2, W=3
    points = torch.tensor([[[0.5 / 3, 0.25],  # centre of pixel (0, 0)
                            [0.5, 0.5],  # between (0, 1) and (1, 1): (2 + 5) / 2
                            [1 / 3, 0.25],  # between (0, 0) and (0, 1): (1 + 2) / 2
                            [0.75, 0.625],  # x: col 1.75, y: row 0.75
                            [0.0, 0.0]]])  # corner: a quarter of pixel (0, 0), zero padding
    row_075_col_175 = 0.25 * (0.25 * 2 + 0.75 * 3) + 0.75 * (0.25 * 5 + 0.75 * 6)
    expected = torch.tensor([1.0, 3.5, 1.5, row_075_col_175, 0.25])
    out = point_sample(img, points)
    assert out.shape == (1, 1, 5)
    torch.testing.assert_close(out[0, 0], expected)
    # align_corners=True: 0 and 1 are the centres of the border pixels
    corners = point_sample(img, torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.5, 0.0]]]),
                           align_corners=True)
    torch.testing.assert_close(corners[0, 0], torch.tensor([1.0, 6.0, 2.0]))


def test_point_sample_nearest_and_grid_points():
    img = torch.arange(12.0).view(1, 1, 3, 4)
    out = point_sample(img, torch.tensor([[[0.6, 0.8], [0.1, 0.1]]]), mode="nearest")
    torch.testing.assert_close(out[0, 0], torch.tensor([img[0, 0, 2, 2], img[0, 0, 0, 0]]))
    # (N, Hp, Wp, 2) points keep their grid shape; the pixel centres give the map back
    ys, xs = torch.meshgrid((torch.arange(3) + 0.5) / 3, (torch.arange(4) + 0.5) / 4,
                            indexing="ij")
    grid = torch.stack([xs, ys], dim=-1)[None]
    torch.testing.assert_close(point_sample(img, grid), img)
    with pytest.raises(ValueError, match=r"points \(N, P, 2\)"):
        point_sample(img, torch.rand(2, 5, 2))


# -- structure --------------------------------------------------------------------------------

def test_keys_equal_mmseg_point_rend():
    state = torch.load(ZOO / "point_rend.state_dict.pth", map_location="cpu", weights_only=True) \
        if (ZOO / "point_rend.state_dict.pth").is_file() else pytest.skip("no zoo fixtures")
    theirs = {k[len("decode_head.1."):]: tuple(v.shape) for k, v in state.items()
              if k.startswith("decode_head.1.")}
    head = build_head(dict(type="PointHead", in_channels=[16], in_index=[0], channels=16,
                           num_fcs=3, coarse_pred_each_layer=True, dropout_ratio=-1,
                           num_classes=5, align_corners=False))
    assert {k: tuple(v.shape) for k, v in head.state_dict().items()} == theirs
    assert theirs["fcs.0.conv.weight"] == (16, 16 + 5, 1) and "conv_seg.weight" not in theirs


def test_fc_inputs_with_and_without_coarse_each_layer():
    each = _head()
    assert [fc.conv.in_channels for fc in each.fcs] == [6 + 4, 8 + 4]
    assert each.fc_seg.in_channels == 8 + 4 and isinstance(each.fcs[0].conv, nn.Conv1d)
    once = _head(coarse_pred_each_layer=False, dropout_ratio=0.1)
    assert [fc.conv.in_channels for fc in once.fcs] == [10, 8] and once.fc_seg.in_channels == 8
    assert isinstance(once.dropout, nn.Dropout)
    fine, coarse = torch.randn(2, 6, 7), torch.randn(2, 4, 7)
    x = F.relu(once.fcs[0].conv(torch.cat([fine, coarse], 1)))
    expected = once.fc_seg(F.relu(once.fcs[1].conv(x)))
    torch.testing.assert_close(once.eval()(fine, coarse), expected)


def test_fixed_keys_and_missing_cfgs_fail_clearly():
    with pytest.raises(RegistryError, match="input_transform"):
        _head(input_transform="resize_concat")
    with pytest.raises(RegistryError, match="init_cfg"):
        _head(init_cfg=None)
    head = _head()
    feats, prev = [torch.randn(1, 6, 8, 8)], torch.randn(1, 4, 4, 4)
    label = torch.zeros(1, 1, 16, 16, dtype=torch.long)
    with pytest.raises(ConfigError, match=r"num_points, oversample_ratio, importance_sample_"
                                          r"ratio in model.train_cfg"):
        head.forward_train(feats, prev, [{}], label, dict())
    with pytest.raises(ConfigError, match="oversample_ratio=0.5 must be >= 1"):
        head.forward_train(feats, prev, [{}], label, dict(TRAIN_CFG, oversample_ratio=0.5))
    with pytest.raises(ConfigError, match="subdivision_steps.*in model.test_cfg"):
        head.forward_test(feats, prev, [{}], dict(mode="whole"))


# -- point selection --------------------------------------------------------------------------

def test_uncertainty_is_minus_the_top2_margin():
    logits = torch.tensor([[[3.0], [1.0], [2.5]], [[0.0], [-1.0], [4.0]]]).view(2, 3, 1)
    torch.testing.assert_close(calculate_uncertainty(logits), torch.tensor([[[-0.5]], [[-4.0]]]))


def test_subdivision_picks_the_most_uncertain_pixels():
    head = _head()
    logits = torch.zeros(1, 4, 3, 5)
    logits[:, 0] = 10.0  # confident everywhere ...
    unsure = [(0, 4, 0.1), (2, 1, 0.5), (1, 2, 1.0)]  # ... but here: margin 10 - 9.9 etc.
    for i, j, margin in unsure:
        logits[0, 1, i, j] = 10.0 - margin
    indices, points = head.get_points_test(logits, calculate_uncertainty,
                                           dict(subdivision_num_points=3))
    assert indices.tolist() == [[0 * 5 + 4, 2 * 5 + 1, 1 * 5 + 2]]  # least sure first
    torch.testing.assert_close(points[0], torch.tensor([[4.5 / 5, 0.5 / 3], [1.5 / 5, 2.5 / 3],
                                                        [2.5 / 5, 1.5 / 3]]))
    all_idx, _ = head.get_points_test(logits, calculate_uncertainty,
                                      dict(subdivision_num_points=100))
    assert sorted(all_idx[0].tolist()) == list(range(15))  # never more than h * w


def test_forward_test_replaces_only_the_selected_pixels():
    torch.manual_seed(0)
    head = _head().eval()
    feats, prev = [torch.randn(2, 6, 16, 16)], torch.randn(2, 4, 4, 4)
    cfg = dict(subdivision_steps=1, subdivision_num_points=20, scale_factor=2)
    with torch.no_grad():
        out = head.forward_test(feats, prev, [{}] * 2, cfg)
        up = F.interpolate(prev, scale_factor=2, mode="bilinear", align_corners=False)
        indices, points = head.get_points_test(up, calculate_uncertainty, cfg)
        fine = point_sample(feats[0], points)
        point_logits = head(fine, point_sample(prev, points))
    assert out.shape == (2, 4, 8, 8)
    flat, up_flat = out.flatten(2), up.flatten(2)
    for n in range(2):
        chosen = torch.zeros(64, dtype=torch.bool)
        chosen[indices[n]] = True
        torch.testing.assert_close(flat[n][:, chosen], point_logits[n][:, indices[n].argsort()])
        torch.testing.assert_close(flat[n][:, ~chosen], up_flat[n][:, ~chosen])
    with torch.no_grad():  # two steps of x2
        assert head.forward_test(feats, prev, [{}] * 2, TEST_CFG).shape == (2, 4, 16, 16)


def test_training_points_are_uncertain_candidates_then_random():
    head = _head()
    prev = torch.randn(2, 4, 5, 5)
    torch.manual_seed(3)
    points = head.get_points_train(prev, calculate_uncertainty, TRAIN_CFG)
    torch.manual_seed(3)
    candidates = torch.rand(2, 144, 2)  # num_points * oversample_ratio
    random_share = torch.rand(2, 12, 2)  # num_points - int(0.75 * num_points)
    uncertainty = calculate_uncertainty(point_sample(prev, candidates))[:, 0]
    assert points.shape == (2, 48, 2)
    for n in range(2):
        best = uncertainty[n].topk(36).indices
        torch.testing.assert_close(points[n, :36], candidates[n, best])
    torch.testing.assert_close(points[:, 36:], random_share)


# -- against MMSeg (zoo fixture point_rend) ---------------------------------------------------

@pytest.fixture(scope="module")
def point_rend():
    if not (ZOO / "point_rend.py.txt").is_file():
        pytest.skip("MMSeg zoo fixtures not available")
    return torch.load(ZOO / "point_rend.points.pt", map_location="cpu", weights_only=True)


def _zoo_model(tmp_path) -> nn.Module:
    shutil.copy(ZOO / "point_rend.py.txt", tmp_path / "point_rend.py")
    model = build_segmentor(Config.fromfile(str(tmp_path / "point_rend.py")).model)
    model.load_state_dict(torch.load(ZOO / "point_rend.state_dict.pth", weights_only=True))
    return model


def _rows(points: torch.Tensor):
    """Per image, the set of (x, y) points."""
    return [set(map(tuple, p.tolist())) for p in points]


def _record(monkeypatch, head, method):
    calls = []
    original = getattr(head, method)

    def wrapper(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append(out)
        return out

    monkeypatch.setattr(head, method, wrapper)
    return calls


def test_points_are_mmsegs(point_rend, tmp_path, monkeypatch):
    """Both subdivision steps' pixels and the seeded training points equal MMSeg 1.2.2's."""
    model = _zoo_model(tmp_path)
    inputs = torch.load(ZOO / "inputs.pt", weights_only=True)
    metas = [dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64))] * 2
    head = model.decode_head[1]
    test = _record(monkeypatch, head, "get_points_test")
    with torch.no_grad():  # first: training updates the batch-norm statistics
        model.eval().encode_decode(inputs["x"], metas)
    assert len(test) == 2
    for (indices, points), ref in zip(test, point_rend["subdivision"]):
        assert torch.equal(indices, ref["point_indices"])
        assert torch.equal(points, ref["points"])
    train = _record(monkeypatch, head, "get_points_train")
    torch.manual_seed(104)
    losses = model.train().forward_train(inputs["x"], metas, inputs["gt"][:, None])
    # The same points; candidates whose uncertainties differ by ~1e-6 (float noise of the
    # features) may swap places in the top-k order, which no loss term depends on.
    assert _rows(train[0]) == _rows(point_rend["train_points"])
    assert torch.equal(train[0][:, 1536:], point_rend["train_points"][:, 1536:])  # random share
    assert model.loss_names() == ["decode_0.loss_ce", "decode_1.pointloss_ce"]
    total, _ = model.parse_losses(losses)
    assert total.item() == pytest.approx(losses["decode_0.loss_ce"].item()
                                         + losses["decode_1.pointloss_ce"].item(), rel=1e-6)


def test_float64_head_trains_and_refines():
    """Points follow float64 logits (MMSeg's float32 torch.rand points make its fp64 run fail)."""
    head = _head().double()
    feats, prev = [torch.randn(2, 6, 8, 8, dtype=torch.float64)], torch.randn(
        2, 4, 4, 4, dtype=torch.float64)
    losses = head.forward_train(feats, prev, [{}] * 2, torch.randint(0, 4, (2, 1, 16, 16)),
                                TRAIN_CFG)
    assert losses["pointloss_ce"].dtype == torch.float64
    with torch.no_grad():
        out = head.eval().forward_test(feats, prev, [{}] * 2, TEST_CFG)
    assert out.dtype == torch.float64 and out.shape == (2, 4, 16, 16)
