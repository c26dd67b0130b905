"""Print a config fully resolved (bases merged, overrides applied), as MMSegmentation's tool does.

Usage:
    python tools/print_config.py CONFIG [--options k=v ...] [--cfg-options k=v ...] [--dump FILE]
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.config import (Config, add_cfg_options_args, convert_1x_config,  # noqa: E402
                           is_1x_config)
from seglab.errors import ConfigError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Print the resolved config")
    parser.add_argument("config", help="config file path")
    parser.add_argument("--dump", metavar="FILE", default=None,
                        help="also write the resolved config to FILE (.py, .json or .yaml)")
    add_cfg_options_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        text = cfg.pretty_text
        if is_1x_config(cfg):  # what seglab runs for it (seglab/config/v1x.py)
            text += ("\n\nMMSegmentation 1.x config; seglab runs it as this 0.x config:\n"
                     + convert_1x_config(cfg).pretty_text)
        if args.dump:
            cfg.dump(args.dump)
    except ConfigError as e:
        # A user mistake: the message says what to fix, a traceback would only hide it.
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"Config:\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
