"""configs/1.x/segnext (MMSegmentation 1.2.2's files, 1.x only) resolve to MMSeg's values.

The expected values are written out by hand from MMSegmentation 1.2.2's
configs/segnext/segnext_mscan-{t,s,b,l}_1xb16-adamw-160k_ade20k-512x512.py (s/b/l inherit the t
file; their ``ham_kwargs`` merge into t's). Every config is converted and built on the meta device
by test_configs_1x_build.py; here the values and the full-size parameter counts.
"""
import warnings
from pathlib import Path

import pytest
import torch

from seglab.config import Config, convert_1x_config
from seglab.models import build_segmentor

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "configs/1.x/segnext").glob("*.py"))
NAME = "segnext_mscan-{}_1xb16-adamw-160k_ade20k-512x512.py"
URL = "https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segnext/"
GN = {"type": "GN", "num_groups": 32, "requires_grad": True}
HAM_KWARGS = {"MD_S": 1, "MD_R": 16, "train_steps": 6, "eval_steps": 7, "inv_t": 100,
              "rand_init": True}
# arch -> (checkpoint, embed_dims, depths, drop_path_rate, in_channels, channels = ham_channels)
ARCHS = {
    "t": ("mscan_t_20230227-119e8c9f.pth", [32, 64, 160, 256], [3, 3, 5, 2], 0.1,
          [64, 160, 256], 256),
    "s": ("mscan_s_20230227-f33ccdf2.pth", [64, 128, 320, 512], [2, 2, 4, 2], 0.1,
          [128, 320, 512], 256),
    "b": ("mscan_b_20230227-3ab7d230.pth", [64, 128, 320, 512], [3, 3, 12, 3], 0.1,
          [128, 320, 512], 512),
    "l": ("mscan_l_20230227-cef260d4.pth", [64, 128, 320, 512], [3, 5, 27, 3], 0.3,
          [128, 320, 512], 1024),
}
# MMSeg 1.2.2 built from the same files (MODELS.build, no data_preprocessor): parameters without
# num_batches_tracked (MMSeg's model zoo: 4.3M / 13.9M / 27.6M / 48.9M) and state_dict entries.
MMSEG_COUNTS = {"t": (4270870, 550), "s": (13945750, 436), "b": (27662230, 854),
                "l": (48972694, 1500)}


def _converted(arch: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_1x_config(Config.fromfile(ROOT / "configs/1.x/segnext" / NAME.format(arch)))


def test_the_1_2_2_files_are_all_there():
    assert [p.name for p in FILES] == sorted(NAME.format(a) for a in ARCHS)


def test_tiny_resolves_to_mmseg_values():
    cfg = _converted("t")
    assert cfg.to_dict()["model"] == {
        "type": "EncoderDecoder", "pretrained": None,
        "backbone": {"type": "MSCAN",
                     "init_cfg": {"type": "Pretrained", "checkpoint": URL + ARCHS["t"][0]},
                     "embed_dims": [32, 64, 160, 256], "mlp_ratios": [8, 8, 4, 4],
                     "drop_rate": 0.0, "drop_path_rate": 0.1, "depths": [3, 3, 5, 2],
                     "attention_kernel_sizes": [5, [1, 7], [1, 11], [1, 21]],
                     "attention_kernel_paddings": [2, [0, 3], [0, 5], [0, 10]],
                     "act_cfg": {"type": "GELU"},
                     "norm_cfg": {"type": "BN", "requires_grad": True}},
        "decode_head": {"type": "LightHamHead", "in_channels": [64, 160, 256],
                        "in_index": [1, 2, 3], "channels": 256, "ham_channels": 256,
                        "dropout_ratio": 0.1, "num_classes": 150, "norm_cfg": GN,
                        "align_corners": False,
                        "loss_decode": {"type": "CrossEntropyLoss", "use_sigmoid": False,
                                        "loss_weight": 1.0},
                        "ham_kwargs": HAM_KWARGS},
        "train_cfg": {}, "test_cfg": {"mode": "whole"}}
    assert cfg.optimizer.to_dict() == {
        "type": "AdamW", "lr": 0.00006, "betas": (0.9, 0.999), "weight_decay": 0.01,
        "paramwise_cfg": {"custom_keys": {"pos_block": {"decay_mult": 0.0},
                                          "norm": {"decay_mult": 0.0},
                                          "head": {"lr_mult": 10.0}}}}
    assert cfg.lr_config.to_dict()["schedulers"] == [
        {"type": "LinearLR", "start_factor": 1e-6, "begin": 0, "end": 1500},
        {"type": "PolyLR", "power": 1.0, "begin": 1500, "end": 160000, "eta_min": 0.0}]
    assert cfg.runner.max_iters == 160000 and cfg.crop_size == (512, 512)
    assert cfg.data.samples_per_gpu == 16  # train_dataloader batch_size, one GPU
    assert cfg.data.train.type == "ADE20KDataset"


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_variants_resolve_to_mmseg_values(arch):
    ckpt, dims, depths, dpr, in_channels, channels = ARCHS[arch]
    model = _converted(arch).to_dict()["model"]
    backbone, head = model["backbone"], model["decode_head"]
    assert backbone["init_cfg"] == {"type": "Pretrained", "checkpoint": URL + ckpt}
    assert (backbone["embed_dims"], backbone["depths"]) == (dims, depths)
    assert backbone["drop_path_rate"] == dpr and backbone["mlp_ratios"] == [8, 8, 4, 4]
    assert (head["in_channels"], head["channels"], head["ham_channels"]) == (
        in_channels, channels, channels)
    assert head["ham_kwargs"] == HAM_KWARGS and head["norm_cfg"] == GN


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_full_size_state_dict_has_mmseg_s_size(arch):
    model_cfg = _converted(arch).to_dict()["model"]
    model_cfg["backbone"]["init_cfg"] = None
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        state = build_segmentor(model_cfg).state_dict()
    params = sum(v.numel() for k, v in state.items() if "num_batches_tracked" not in k)
    assert (params, len(state)) == MMSEG_COUNTS[arch]


def test_tiny_runs_on_an_image():
    model_cfg = _converted("t").to_dict()["model"]
    model_cfg["backbone"]["init_cfg"] = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_segmentor(model_cfg).eval()
    img = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        logits = model.encode_decode(img, [dict(img_shape=(64, 96), ori_shape=(64, 96))])
    assert logits.shape == (1, 150, 64, 96) and torch.isfinite(logits).all()
