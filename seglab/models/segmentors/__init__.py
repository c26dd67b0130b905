"""Segmentors (MMSegmentation 0.x API) and the inference functions they use."""
from .base import BaseSegmentor
from .encoder_decoder import EncoderDecoder
from .inference import slide_inference, slide_logits, whole_inference

__all__ = ["BaseSegmentor", "EncoderDecoder", "slide_inference", "slide_logits", "whole_inference"]

from .cascade_encoder_decoder import CascadeEncoderDecoder  # noqa: E402

__all__ += ["CascadeEncoderDecoder"]
