"""Convert SegFormer's MiT ImageNet weights (mit_b0.pth ...) to MMSegmentation's keys.

Usage:
    python tools/model_converters/mit2mmseg.py SRC DST

Same arguments and output as MMSegmentation 0.x's tool of this name; the rules are
:func:`seglab.checkpoint.converters.convert_mit`, the command line
:func:`seglab.checkpoint.converter_cli.run_converter`.
"""
from __future__ import annotations

import os.path as osp
import sys

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from seglab.checkpoint.converter_cli import run_converter  # noqa: E402
from seglab.checkpoint.converters import convert_mit  # noqa: E402

DESCRIPTION = "Convert the keys of SegFormer's MiT weights to MMSegmentation style."


def main(argv=None) -> int:
    return run_converter(argv, prog="mit2mmseg", family="mit", description=DESCRIPTION,
                         convert=convert_mit)


if __name__ == "__main__":
    sys.exit(main())
