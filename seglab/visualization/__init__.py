"""Palettes, class names and segmentation overlays (MMSeg 0.x ``show_result``)."""
from .class_names import get_classes
from .display import DisplayUnavailableError, display_problems, require_display
from .overlay import colorize, show_result, write_image
from .palettes import (ade_palette, cityscapes_palette, get_palette, random_palette,
                       resolve_palette, voc_palette)

__all__ = [
    "get_palette", "get_classes", "voc_palette", "cityscapes_palette", "ade_palette",
    "random_palette", "resolve_palette", "colorize", "show_result", "write_image",
    "DisplayUnavailableError", "display_problems", "require_display",
]
