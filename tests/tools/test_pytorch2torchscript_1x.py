"""tools/pytorch2torchscript.py with a MMSegmentation 1.x config (read through load_config, as
tools/test.py reads it): the demo 1.x config with the real 1.x checkpoint
tests/config/fixtures_1x/fcn_tiny_1x_iter3.pth exports, its meta.json takes the classes from
the checkpoint's dataset_meta and img_norm_cfg from model.data_preprocessor (here changed by a
1.x-keyed --cfg-options), and the loaded module gives the eager model's logits."""
import cv2
import numpy as np
import torch

from after_training_helpers import load_tool
from seglab.apis import init_segmentor
from seglab.apis import torchscript_export as export
from seglab.config import load_config
from train_helpers import ROOT, data_root  # noqa: F401 (fixture)

CONFIG = ROOT / "configs/1.x/demo/fcn_tiny_4xb2-6it_synthetic-voc-24x24_1x.py"
CKPT = ROOT / "tests/config/fixtures_1x/fcn_tiny_1x_iter3.pth"


def test_1x_config_exports(tmp_path, data_root, capsys):
    pt_file = tmp_path / "fcn_1x.pt"
    assert load_tool("pytorch2torchscript.py").main([
        str(CONFIG), "--checkpoint", str(CKPT), "--output-file", str(pt_file), "--shape", "32",
        "--verify", "--cfg-options", "model.data_preprocessor.bgr_to_rgb=False"]) == 0
    assert "max abs logit difference" in capsys.readouterr().out
    meta = export.read_meta(str(pt_file))
    assert meta["input_shape"] == [1, 3, 32, 32]
    assert meta["CLASSES"][:2] == ["background", "disc"] and len(meta["PALETTE"]) == 6
    assert load_config(CONFIG).img_norm_cfg.to_rgb is True  # the file's bgr_to_rgb
    assert meta["img_norm_cfg"] == dict(mean=[123.675, 116.28, 103.53],
                                        std=[58.395, 57.12, 57.375], to_rgb=False)
    norm = meta["img_norm_cfg"]
    img = cv2.imread(f"{data_root}/JPEGImages/val_00000.jpg").astype(np.float32)  # BGR kept
    img = (img - np.array(norm["mean"], np.float32)) / np.array(norm["std"], np.float32)
    img = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
    with torch.inference_mode():
        logits = torch.jit.load(str(pt_file))(img)
        eager = init_segmentor(str(CONFIG), str(CKPT), device="cpu", fuse_conv_bn=False,
                               channels_last=False).encode_decode(img)
    assert logits.shape == (1, 6, 32, 32)
    torch.testing.assert_close(logits, eager, rtol=0, atol=1e-5)
