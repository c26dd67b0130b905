"""Convert Meituan's Twins weights (MODEL: pcpvt or svt) to MMSegmentation's keys.

Usage:
    python tools/model_converters/twins2mmseg.py SRC DST MODEL

Same arguments and output as MMSegmentation 0.x's tool of this name; the rules are
:func:`seglab.checkpoint.converters.convert_twins`, the command line
:func:`seglab.checkpoint.converter_cli.run_converter`.
"""
from __future__ import annotations

import os.path as osp
import sys

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from seglab.checkpoint.converter_cli import run_converter  # noqa: E402
from seglab.checkpoint.converters import convert_twins  # noqa: E402

DESCRIPTION = "Convert the keys of the official Twins weights to MMSegmentation style."


def main(argv=None) -> int:
    return run_converter(argv, prog="twins2mmseg", family="twins", description=DESCRIPTION,
                         convert=convert_twins, choices={"model": ("pcpvt", "svt")})


if __name__ == "__main__":
    sys.exit(main())
