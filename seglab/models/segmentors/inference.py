"""Whole-image and sliding-window inference as plain functions.

Both take an ``encode_decode(img) -> logits at img size`` callable, so they work for any
segmentor. Their numerics are MMSegmentation 0.x's ``EncoderDecoder.whole_inference`` /
``slide_inference``; in addition they handle padded batches of images of different sizes: each
image's logits are cropped to its own ``img_shape`` and, with ``rescale``, resized to its own
``ori_shape``, so the results equal running each image alone.
"""
from __future__ import annotations

from typing import Callable, Iterator, List, Mapping, Sequence, Tuple

import torch
import torch.nn.functional as F

from ...errors import ConfigError
from ..layers import resize

EncodeDecode = Callable[[torch.Tensor], torch.Tensor]

# Crops per forward pass in slide mode when test_cfg has no 'slide_batch_size'.
DEFAULT_SLIDE_BATCH_SIZE = 4


def _hw(shape: Sequence[int]) -> Tuple[int, int]:
    return int(shape[0]), int(shape[1])


def unpad_and_rescale(seg_logit: torch.Tensor, img_metas: Sequence[Mapping], rescale: bool,
                      align_corners: bool) -> List[torch.Tensor]:
    """Split batch logits per image, crop each to its ``img_shape``, optionally resize it.

    Args:
        seg_logit: (B, C, H, W) logits of a (possibly padded) batch.
        img_metas: one meta per image; ``img_shape`` (h, w, ...) is the un-padded size (default
            H, W) and ``ori_shape`` the original image size (default ``img_shape``).
        rescale: resize each image's logits to its ``ori_shape`` (bilinear, MMSeg's rule).
        align_corners: of the bilinear resize.

    Returns:
        B tensors (1, C, h_i, w_i).
    """
    outs = []
    for i, meta in enumerate(img_metas):
        logit = seg_logit[i:i + 1]
        h, w = _hw(meta.get("img_shape", seg_logit.shape[2:]))
        if (h, w) != tuple(logit.shape[2:]):
            logit = logit[:, :, :h, :w]
        size = _hw(meta.get("ori_shape", (h, w)))
        # A bilinear resize to the same size is the identity (weights 1 and 0, bit for bit):
        # skipping it saves a full-resolution float copy on the usual fixed-size test sets.
        if rescale and size != tuple(logit.shape[2:]):
            logit = resize(logit, size=size, mode="bilinear", align_corners=align_corners,
                           warning=False)
        outs.append(logit)
    return outs


def whole_inference(encode_decode: EncodeDecode, img: torch.Tensor, img_metas: Sequence[Mapping],
                    rescale: bool, align_corners: bool) -> List[torch.Tensor]:
    """Run the whole (padded) batch at once.

    Args:
        encode_decode: img (B, 3, H, W) -> logits (B, C, H, W).
        img: the batch.
        img_metas: one meta per image.
        rescale: resize to each ``ori_shape``.
        align_corners: of the rescale.

    Returns:
        B tensors (1, C, h_i, w_i): logits before softmax.
    """
    return unpad_and_rescale(encode_decode(img), img_metas, rescale, align_corners)


def slide_windows(h_img: int, w_img: int, crop_size: Sequence[int],
                  stride: Sequence[int]) -> Iterator[Tuple[int, int, int, int]]:
    """(y1, y2, x1, x2) of MMSeg's sliding windows, row-major; the last ones are shifted inward."""
    (h_crop, w_crop), (h_stride, w_stride) = _hw(crop_size), _hw(stride)
    if min(h_crop, w_crop, h_stride, w_stride) <= 0:
        raise ConfigError(f"test_cfg crop_size {tuple(crop_size)} and stride {tuple(stride)} must be "
                          "positive (h, w) pairs.")
    h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y2 = min(h_idx * h_stride + h_crop, h_img)
            x2 = min(w_idx * w_stride + w_crop, w_img)
            yield max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2


def slide_logits(encode_decode: EncodeDecode, img: torch.Tensor, num_classes: int,
                 crop_size: Sequence[int], stride: Sequence[int],
                 batch_size: int = DEFAULT_SLIDE_BATCH_SIZE,
                 align_corners: bool = False) -> torch.Tensor:
    """Average of the overlapping window logits (MMSeg's sum / count matrix).

    Crops are sent through the network ``batch_size`` at a time (counting the crops of every
    image of the batch; at least one window of all images per pass). All windows have the same
    size, so they stack; the sums are accumulated in MMSeg's window order, so the result does
    not depend on ``batch_size`` (up to the convolution kernels' own batch-size dependence).
    Logits smaller than the window (a head's own resolution) are upsampled to it one window at
    a time (bilinear, ``align_corners``): the values of upsampling them all at once, without a
    full-resolution copy of every window of the pass.

    Args:
        encode_decode: crops (K, 3, h, w) -> logits (K, num_classes, h', w'), at the crop size
            or smaller.
        img: (B, 3, H, W).
        num_classes: logit channels.
        crop_size: (h_crop, w_crop).
        stride: (h_stride, w_stride).
        batch_size: crops per forward pass.
        align_corners: of the upsampling to the window size.

    Returns:
        (B, num_classes, H, W) logits.
    """
    if batch_size < 1:
        raise ConfigError(f"test_cfg slide_batch_size must be >= 1, got {batch_size}")
    b, _, h_img, w_img = img.shape
    windows = list(slide_windows(h_img, w_img, crop_size, stride))
    preds = img.new_zeros((b, num_classes, h_img, w_img))
    count = img.new_zeros((1, 1, h_img, w_img))
    per_pass = max(1, batch_size // b)
    for start in range(0, len(windows), per_pass):
        chunk = windows[start:start + per_pass]
        crops = torch.cat([img[:, :, y1:y2, x1:x2] for y1, y2, x1, x2 in chunk], dim=0)
        logits = encode_decode(crops)
        for j, (y1, y2, x1, x2) in enumerate(chunk):
            window = logits[j * b:(j + 1) * b]
            if tuple(window.shape[2:]) != (y2 - y1, x2 - x1):
                window = resize(window, size=(y2 - y1, x2 - x1), mode="bilinear",
                                align_corners=align_corners)
            preds[:, :, y1:y2, x1:x2] += window
            count[:, :, y1:y2, x1:x2] += 1
    if (count == 0).any():
        raise RuntimeError("slide inference left pixels uncovered; check test_cfg crop_size/stride")
    return preds.div_(count)  # in place: no second full-resolution copy


def slide_inference(encode_decode: EncodeDecode, img: torch.Tensor, img_metas: Sequence[Mapping],
                    rescale: bool, align_corners: bool, num_classes: int,
                    crop_size: Sequence[int], stride: Sequence[int],
                    batch_size: int = DEFAULT_SLIDE_BATCH_SIZE) -> List[torch.Tensor]:
    """:func:`slide_logits`, then per-image crop to ``img_shape`` and optional rescale.

    Returns:
        B tensors (1, num_classes, h_i, w_i): logits before softmax.
    """
    logits = slide_logits(encode_decode, img, num_classes, crop_size, stride, batch_size,
                          align_corners)
    return unpad_and_rescale(logits, img_metas, rescale, align_corners)


def logits_to_probs(seg_logit: torch.Tensor, out_channels: int,
                    inplace: bool = False) -> torch.Tensor:
    """Softmax over classes, or sigmoid for a single-channel (binary) head.

    Args:
        seg_logit: (B, C, H, W) logits.
        out_channels: C; 1 means sigmoid.
        inplace: write the probabilities into ``seg_logit`` (``softmax(out=seg_logit)``: the
            kernel reads each pixel's classes before it writes them, and the values are
            bit-identical to ``F.softmax``'s, without a second full-resolution map).

    Returns:
        (B, C, H, W) probabilities (``seg_logit`` itself with ``inplace``).
    """
    if not inplace:
        return torch.sigmoid(seg_logit) if out_channels == 1 else F.softmax(seg_logit, dim=1)
    if out_channels == 1:
        return seg_logit.sigmoid_()
    # One call over the whole map: a chunked softmax would split the kernel's vector loops and
    # threads differently, and its last bits could differ from the plain softmax's.
    return torch.softmax(seg_logit, dim=1, out=seg_logit)


def flip_back(output: torch.Tensor, meta: Mapping) -> torch.Tensor:
    """Undo the test-time flip recorded in ``meta`` (``flip``, ``flip_direction``)."""
    if not meta.get("flip", False):
        return output
    direction = meta.get("flip_direction", "horizontal")
    if direction == "horizontal":
        return output.flip(dims=(3,))
    if direction == "vertical":
        return output.flip(dims=(2,))
    raise ValueError(f"img_meta flip_direction must be 'horizontal' or 'vertical', got {direction!r}")
