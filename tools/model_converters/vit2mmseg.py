"""Convert timm / DeiT ViT weights to MMSegmentation's keys.

Usage:
    python tools/model_converters/vit2mmseg.py SRC DST

Same arguments and output as MMSegmentation 0.x's tool of this name; the rules are
:func:`seglab.checkpoint.converters.convert_vit`, the command line
:func:`seglab.checkpoint.converter_cli.run_converter`.
"""
from __future__ import annotations

import os.path as osp
import sys

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from seglab.checkpoint.converter_cli import run_converter  # noqa: E402
from seglab.checkpoint.converters import convert_vit  # noqa: E402

DESCRIPTION = "Convert the keys of timm / DeiT ViT weights to MMSegmentation style."


def main(argv=None) -> int:
    return run_converter(argv, prog="vit2mmseg", family="vit", description=DESCRIPTION,
                         convert=convert_vit)


if __name__ == "__main__":
    sys.exit(main())
