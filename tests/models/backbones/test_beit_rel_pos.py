"""Resizing BEiT relative position tables: MMSeg's geometric offsets and bicubic spline."""
import numpy as np
import pytest
import torch

from seglab.models.backbones.beit_rel_pos import (geometric_offsets, resize_rel_pos_bias_table,
                                                  spline_interpolation_matrix)


def test_geometric_offsets_follow_mmseg_bisection():
    # 224 // 16 = 14 -> 640 // 16 = 40: table sides 27 -> 79
    offsets = np.array(geometric_offsets(27, 79))
    assert len(offsets) == 27 and offsets[13] == 0 and np.all(np.diff(offsets) > 0)
    np.testing.assert_array_equal(offsets[:13], -offsets[14:][::-1])
    steps = np.diff(offsets[13:])  # 1, q, q**2, ...: a geometric progression
    q = steps[1]
    assert 1.01 < q < 1.5
    np.testing.assert_allclose(steps, q ** np.arange(13), rtol=1e-12)
    assert offsets[-1] == pytest.approx(79 // 2, abs=1e-3)  # the outermost offset reaches 39


def test_spline_reproduces_cubics_and_interpolates_the_knots():
    src = np.array(geometric_offsets(9, 15))
    dst = np.arange(-7.0, 7.1)
    w = spline_interpolation_matrix(src, dst)
    cubic = lambda x: 0.3 * x ** 3 - x ** 2 + 2 * x - 5  # noqa: E731
    # not-a-knot cubic splines are exact on cubics (inside the source range)
    inside = np.abs(dst) <= src[-1]
    np.testing.assert_allclose((w @ cubic(src))[inside], cubic(dst)[inside], rtol=1e-9)
    np.testing.assert_allclose(spline_interpolation_matrix(src, src), np.eye(9), atol=1e-12)


def test_table_resize_keeps_the_extra_tokens_dtype_and_same_size():
    torch.manual_seed(0)
    table = torch.randn(7 * 7 + 3, 2)
    assert resize_rel_pos_bias_table(table, 4) is table  # same grid: untouched
    out = resize_rel_pos_bias_table(table, 6)
    assert out.shape == (11 * 11 + 3, 2) and out.dtype == torch.float32
    torch.testing.assert_close(out[-3:], table[-3:], rtol=0, atol=0)
    # the centre offset (0, 0) stays where it was: the source grid has an offset 0
    torch.testing.assert_close(out[60], table[24], rtol=0, atol=1e-6)
    # a constant table stays constant
    const = resize_rel_pos_bias_table(torch.full((7 * 7 + 3, 1), 0.25), 6)
    torch.testing.assert_close(const, torch.full((11 * 11 + 3, 1), 0.25))


@pytest.mark.parametrize("src_grid, dst_grid", [(14, 40), (4, 6), (6, 3)])
def test_table_resize_equals_scipy_fitpack(src_grid, dst_grid):
    """MMSeg calls interp2d(x, y, z, kind='cubic'), gone since scipy 1.14; on a grid it is
    FITPACK's interpolating bicubic spline, which RectBivariateSpline(s=0) computes too."""
    interpolate = pytest.importorskip("scipy.interpolate")
    src, dst = 2 * src_grid - 1, 2 * dst_grid - 1
    torch.manual_seed(1)
    table = torch.randn(src * src + 3, 3)
    x = np.array(geometric_offsets(src, dst))
    t = dst // 2.0
    dx = np.arange(-t, t + 0.1, 1.0)
    expected = torch.cat([torch.Tensor(interpolate.RectBivariateSpline(
        x, x, table[:-3, h].view(src, src).numpy(), kx=3, ky=3, s=0)(dx, dx)).reshape(-1, 1)
        for h in range(3)], dim=1)
    out = resize_rel_pos_bias_table(table, dst_grid)
    torch.testing.assert_close(out[:-3], expected, rtol=0, atol=1e-6)
