"""Convert the original STDC ImageNet weights (type: STDC1 or STDC2) to MMSegmentation's keys.

Usage:
    python tools/model_converters/stdc2mmseg.py SRC DST TYPE

Same arguments and output as MMSegmentation 0.x's tool of this name; the rules are
:func:`seglab.checkpoint.converters.convert_stdc`, the command line
:func:`seglab.checkpoint.converter_cli.run_converter`.
"""
from __future__ import annotations

import os.path as osp
import sys

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from seglab.checkpoint.converter_cli import run_converter  # noqa: E402
from seglab.checkpoint.converters import convert_stdc  # noqa: E402

DESCRIPTION = ("Convert the keys of the original STDC1 / STDC2 ImageNet weights to MMSegmentation "
               "style.")


def main(argv=None) -> int:
    return run_converter(argv, prog="stdc2mmseg", family="stdc", description=DESCRIPTION,
                         convert=convert_stdc, choices={"type": ("STDC1", "STDC2")})


if __name__ == "__main__":
    sys.exit(main())
