"""The 1.x configs under configs/1.x/ that name a type seglab neither registers nor converts, with
those types (sorted), and why each is missing. ``test_configs_1x_types_exist.py`` checks this
manifest against the tree both ways (it can only shrink: a config that now has every type must
leave it); the walking build test of the 1.x converter skips these configs.

Regenerate the dict with ``python tests/model_configs/test_configs_1x_types_exist.py``.
"""

_ALBU = ["Albu", "HorizontalFlip", "RandomBrightnessContrast", "VerticalFlip"]
_LEVIR = sorted(_ALBU + ["ConcatCDInput", "LEVIRCDDataset", "LoadMultipleRSImageFromFile"])
_NYU = ["Albu", "DepthMetric", "HueSaturationValue", "LoadDepthAnnotation", "NYUDataset",
        "RandomBrightnessContrast", "RandomDepthMix", "RandomGamma"]

MISSING = {
    # change detection (two images per sample) on LEVIR-CD
    "configs/1.x/_base_/datasets/levir_256x256.py": _LEVIR,
    "configs/1.x/swin/swin-tiny-patch4-window7_upernet_1xb8-20k_levir-256x256.py": _LEVIR,
    # depth estimation on NYU Depth v2
    "configs/1.x/_base_/datasets/nyu.py": _NYU,
    "configs/1.x/_base_/datasets/nyu_512x512.py": _NYU,
    # _base_ files of the families left out of configs/1.x (SAN, VPD)
    "configs/1.x/_base_/models/san_vit-b16.py": [
        "CLIPTextEncoder", "ClassificationCost", "CrossEntropyLossCost", "DiceCost",
        "HungarianAssigner", "MultimodalEncoderDecoder", "QuickGELU", "SideAdapterCLIPHead"],
    "configs/1.x/_base_/models/vpd_sd.py": ["DepthEstimator", "VPD"],
    # only SAN's schedule uses it
    "configs/1.x/_base_/schedules/schedule_25k.py": ["PolyLRRatio"],
}

_NO_ALBU = ("an albumentations transform inside Albu; seglab does not depend on albumentations")
WHY = {
    "Albu": "the albumentations wrapper; seglab does not depend on albumentations",
    "HorizontalFlip": _NO_ALBU,
    "VerticalFlip": _NO_ALBU,
    "RandomBrightnessContrast": _NO_ALBU,
    "HueSaturationValue": _NO_ALBU,
    "RandomGamma": _NO_ALBU,
    "ConcatCDInput": "change detection: stacks the two images of a sample (no CD models in seglab)",
    "LEVIRCDDataset": "change detection data set (two images per sample)",
    "LoadMultipleRSImageFromFile": "change detection: loads the image pair",
    "DepthMetric": "depth estimation metric (seglab does semantic segmentation only)",
    "LoadDepthAnnotation": "depth estimation: loads depth maps",
    "NYUDataset": "depth estimation data set",
    "RandomDepthMix": "depth estimation augmentation",
    "DepthEstimator": "VPD's depth estimation model (VPD is left out: Stable Diffusion backbone)",
    "VPD": "Stable Diffusion backbone (family left out of configs/1.x)",
    "CLIPTextEncoder": "SAN (CLIP, open vocabulary; family left out of configs/1.x)",
    "ClassificationCost": "SAN's Hungarian matching (mmdet-style assigner costs)",
    "CrossEntropyLossCost": "SAN's Hungarian matching (mmdet-style assigner costs)",
    "DiceCost": "SAN's Hungarian matching (mmdet-style assigner costs)",
    "HungarianAssigner": "SAN's Hungarian matching",
    "MultimodalEncoderDecoder": "SAN's segmentor (image and text encoders)",
    "QuickGELU": "CLIP's activation (SAN)",
    "SideAdapterCLIPHead": "SAN's head",
    "PolyLRRatio": "mmseg's PolyLR with a ratio floor, used only by SAN's schedule_25k",
}
