"""Decode heads: ``forward(features) -> logits`` at the head's resolution, ``losses(...)``."""
from .aspp_head import ASPPHead, ASPPModule
from .decode_head import BaseDecodeHead, InputSpec
from .fcn_head import FCNHead
from .psp_head import PPM, PSPHead
from .sep_aspp_head import DepthwiseSeparableASPPHead, DepthwiseSeparableASPPModule
from .uper_head import UPerHead

__all__ = ["BaseDecodeHead", "InputSpec", "FCNHead", "PSPHead", "PPM", "ASPPHead", "ASPPModule",
           "DepthwiseSeparableASPPHead", "DepthwiseSeparableASPPModule", "UPerHead"]

from .segformer_head import SegformerHead  # noqa: E402

__all__ += ["SegformerHead"]

from .setr_mla_head import SETRMLAHead  # noqa: E402
from .setr_up_head import SETRUPHead  # noqa: E402

__all__ += ["SETRMLAHead", "SETRUPHead"]

from .fpn_head import FPNHead  # noqa: E402

__all__ += ["FPNHead"]

from .dpt_head import DPTHead  # noqa: E402
from .segmenter_mask_head import SegmenterMaskTransformerHead  # noqa: E402

__all__ += ["DPTHead", "SegmenterMaskTransformerHead"]

from .lraspp_head import LRASPPHead  # noqa: E402
from .sep_fcn_head import DepthwiseSeparableFCNHead  # noqa: E402

__all__ += ["LRASPPHead", "DepthwiseSeparableFCNHead"]

from .cascade_decode_head import BaseCascadeDecodeHead  # noqa: E402
from .ocr_head import ObjectAttentionBlock, OCRHead, SpatialGatherModule  # noqa: E402

__all__ += ["BaseCascadeDecodeHead", "OCRHead", "ObjectAttentionBlock", "SpatialGatherModule"]

from .point_head import PointHead  # noqa: E402

__all__ += ["PointHead"]

from .stdc_head import STDCHead  # noqa: E402

__all__ += ["STDCHead"]

from .apc_head import ACM, APCHead  # noqa: E402
from .cc_head import CCHead  # noqa: E402
from .da_head import CAM, PAM, DAHead  # noqa: E402
from .dm_head import DCM, DMHead  # noqa: E402
from .enc_head import EncHead, EncModule  # noqa: E402
from .gc_head import GCHead  # noqa: E402
from .psa_head import PSAHead  # noqa: E402

__all__ += ["CCHead", "DAHead", "PAM", "CAM", "GCHead", "PSAHead", "APCHead", "ACM", "DMHead",
            "DCM", "EncHead", "EncModule"]

from .ann_head import AFNB, APNB, ANNHead, PPMConcat  # noqa: E402
from .dnl_head import DisentangledNonLocal2d, DNLHead  # noqa: E402
from .ema_head import EMAHead, EMAModule  # noqa: E402
from .isa_head import ISAHead  # noqa: E402
from .nl_head import NLHead  # noqa: E402

__all__ += ["NLHead", "DNLHead", "DisentangledNonLocal2d", "ANNHead", "AFNB", "APNB",
            "PPMConcat", "ISAHead", "EMAHead", "EMAModule"]

from .knet_head import IterativeDecodeHead, KernelUpdateHead, KernelUpdator  # noqa: E402

__all__ += ["IterativeDecodeHead", "KernelUpdateHead", "KernelUpdator"]

from .ham_head import NMF2D, Hamburger, LightHamHead  # noqa: E402

__all__ += ["LightHamHead", "Hamburger", "NMF2D"]

from .ddr_head import DDRHead  # noqa: E402
from .pid_head import PIDHead  # noqa: E402

__all__ += ["DDRHead", "PIDHead"]
