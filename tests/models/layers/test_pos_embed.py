import pytest
import torch
import torch.nn.functional as F

from seglab.models.layers import (beit_num_relative_distance, beit_relative_position_index,
                                  double_step_seq, relative_position_bias, resize_pos_embed,
                                  resize_relative_position_bias_table,
                                  swin_relative_position_index)


def test_resize_pos_embed_keeps_cls_and_interpolates_the_grid():
    torch.manual_seed(0)
    pos = torch.randn(1, 1 + 3 * 4, 6)
    out = resize_pos_embed(pos, (5, 7), (3, 4), "bicubic")
    assert out.shape == (1, 1 + 35, 6)
    assert torch.equal(out[:, 0], pos[:, 0])
    grid = pos[:, 1:].reshape(1, 3, 4, 6).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, (5, 7), mode="bicubic", align_corners=False)
    torch.testing.assert_close(out[:, 1:], expected.flatten(2).transpose(1, 2), rtol=0, atol=0)
    same = resize_pos_embed(pos, (3, 4), (3, 4), "bilinear")
    torch.testing.assert_close(same, pos)
    nearest = resize_pos_embed(pos, (6, 8), (3, 4), "nearest")
    assert torch.equal(nearest[0, 1 + 8 + 2], pos[0, 1 + 1])  # (1, 2) of 6x8 <- (0, 1) of 3x4


def test_resize_pos_embed_without_extra_tokens_and_bad_lengths():
    grid = torch.randn(1, 4, 3)
    out = resize_pos_embed(grid, (4, 4), (2, 2), "bilinear", num_extra_tokens=0)
    assert out.shape == (1, 16, 3)
    with pytest.raises(ValueError, match=r"1 extra token\(s\) \+ a 3 x 3 grid \(10 tokens\)"):
        resize_pos_embed(torch.randn(1, 12, 3), (4, 4), (3, 3))
    with pytest.raises(ValueError, match=r"must be \(B, L, C\)"):
        resize_pos_embed(torch.randn(10, 3), (4, 4), (3, 3))


def _official_swin_index(wh, ww):
    """The Swin paper's meshgrid construction (which MMSeg's double_step_seq replaces)."""
    coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij"))
    flat = coords.flatten(1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += wh - 1
    rel[:, :, 1] += ww - 1
    rel[:, :, 0] *= 2 * ww - 1
    return rel.sum(-1)


@pytest.mark.parametrize("window", [7, (2, 3), (3, 2), 1])
def test_swin_index_equals_official_construction(window):
    wh, ww = (window, window) if isinstance(window, int) else window
    index = swin_relative_position_index(window)
    assert index.shape == (wh * ww, wh * ww) and index.dtype == torch.long
    assert torch.equal(index, _official_swin_index(wh, ww))
    assert 0 <= int(index.min()) and int(index.max()) < (2 * wh - 1) * (2 * ww - 1)


def test_double_step_seq_and_a_brute_force_entry():
    assert double_step_seq(5, 2, 1, 3).tolist() == [[0, 1, 2, 5, 6, 7]]
    index = swin_relative_position_index((2, 3))
    # token a = (1, 0) (flat 3), token b = (0, 2) (flat 2): (1 - 0 + 1) * 5 + (0 - 2 + 2) = 10
    assert index[3, 2] == 10


def test_beit_index_cls_entries_and_patch_block():
    num = beit_num_relative_distance(3)
    assert num == 5 * 5 + 3
    index = beit_relative_position_index(3)
    assert index.shape == (10, 10)
    assert index[0, 0] == num - 1
    assert index[0, 1:].eq(num - 3).all() and index[1:, 0].eq(num - 2).all()
    assert torch.equal(index[1:, 1:], _official_swin_index(3, 3))


def test_relative_position_bias_gathers_per_head():
    table = torch.randn(beit_num_relative_distance((2, 2)), 4)
    index = beit_relative_position_index((2, 2))
    bias = relative_position_bias(table, index)
    assert bias.shape == (4, 5, 5)
    for i in range(5):
        for j in range(5):
            assert torch.equal(bias[:, i, j], table[index[i, j]])
    with pytest.raises(ValueError, match="table and an \\(L, L\\) index"):
        relative_position_bias(table, index[:, :3])


def test_resize_relative_position_bias_table_like_mmseg_swin():
    torch.manual_seed(0)
    table = torch.randn(13 * 13, 3)  # window 7
    out = resize_relative_position_bias_table(table, 23 * 23)  # window 12
    assert out.shape == (529, 3)
    image = table.permute(1, 0).reshape(1, 3, 13, 13)
    expected = F.interpolate(image, size=(23, 23), mode="bicubic", align_corners=False)
    torch.testing.assert_close(out, expected.view(3, 529).permute(1, 0), rtol=0, atol=0)
    assert resize_relative_position_bias_table(table, 169) is table
    with pytest.raises(ValueError, match="both must be squares"):
        resize_relative_position_bias_table(table, 170)
