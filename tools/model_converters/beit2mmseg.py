"""Convert Microsoft's BEiT weights to MMSegmentation's keys ('backbone.' prefix).

Usage:
    python tools/model_converters/beit2mmseg.py SRC DST

Same arguments and output as MMSegmentation 0.x's tool of this name; the rules are
:func:`seglab.checkpoint.converters.convert_beit`, the command line
:func:`seglab.checkpoint.converter_cli.run_converter`.
"""
from __future__ import annotations

import os.path as osp
import sys

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from seglab.checkpoint.converter_cli import run_converter  # noqa: E402
from seglab.checkpoint.converters import convert_beit  # noqa: E402

DESCRIPTION = "Convert the keys of the official BEiT weights to MMSegmentation style."


def main(argv=None) -> int:
    return run_converter(argv, prog="beit2mmseg", family="beit", description=DESCRIPTION,
                         convert=convert_beit)


if __name__ == "__main__":
    sys.exit(main())
