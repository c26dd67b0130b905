"""Plot training curves from json logs (MMSegmentation 0.x ``tools/analyze_logs.py``).

Usage:
    python tools/analyze_logs.py LOG.json [LOG.json ...] [--keys mIoU loss ...]
        [--legend NAME ...] [--title TITLE] [--backend BACKEND] [--style STYLE] [--out FILE]

Every (log, key) pair is one line on a single figure, so several runs compare at a glance; the
legend defaults to ``<log>_<key>``. Training values (``loss``, ``decode.acc_seg``, ``lr`` ...) are
plotted at their training iteration; evaluation values (``mIoU``, ``mAcc``, ``aAcc``, ``IoU.cat``
...) at the iteration they were computed, with markers. MMSeg 0.x keys its evaluation points on
the json ``epoch``, which an iteration-based run leaves at 1 (one point per curve); seglab uses
the iteration for both. Needs matplotlib (``pip install seglab[plot]``); seaborn styles are used
when seaborn is installed.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys
from collections import defaultdict
from typing import Dict, List

# Run from a source checkout without installing seglab.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from seglab.apis.cli import run_tool  # noqa: E402
from seglab.errors import ConfigError  # noqa: E402

Curves = Dict[str, Dict[str, List[tuple]]]  # key -> mode -> [(iter, value), ...]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Analyze Json Log")
    parser.add_argument("json_logs", type=str, nargs="+", help="path of train log in json format")
    parser.add_argument("--keys", type=str, nargs="+", default=["mIoU"],
                        help="the metric that you want to plot")
    parser.add_argument("--title", type=str, help="title of figure")
    parser.add_argument("--legend", type=str, nargs="+", default=None,
                        help="legend of each plot (one per log and key, logs outer)")
    parser.add_argument("--backend", type=str, default=None, help="backend of plt")
    parser.add_argument("--style", type=str, default="dark", help="style of plt (seaborn)")
    parser.add_argument("--out", type=str, default=None,
                        help="save the figure here (.png, .pdf, .svg ...) instead of showing it")
    return parser.parse_args(argv)


def load_json_log(json_log: str) -> Curves:
    """The (iter, value) points of every key of one seglab / MMSeg json log, by mode.

    Lines without ``iter`` (the first line: env_info, config) are skipped, as MMSeg does.
    """
    if not json_log.endswith(".json"):
        raise ConfigError(f"{json_log!r}: give the json log of a run (<timestamp>.log.json in "
                          "its work dir), not the text log.")
    if not osp.isfile(json_log):
        raise ConfigError(f"Log file {json_log!r} does not exist.")
    curves: Curves = defaultdict(lambda: defaultdict(list))
    with open(json_log, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{json_log}:{line_no} is not a json line ({exc.msg}); is "
                                  "this a json log?") from None
            if not isinstance(record, dict) or "iter" not in record:
                continue
            mode = record.get("mode", "train")
            for key, value in record.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    curves[key][mode].append((record["iter"], value))
    return curves


def points_of(curves: Curves, key: str, json_log: str) -> tuple:
    """(iters, values, is_eval) of ``key``: training points when it has any (``lr`` is in both
    kinds of record), else evaluation points."""
    if key not in curves:
        raise ConfigError(f"Key {key!r} is not in {json_log}; it has: "
                          f"{', '.join(sorted(k for k in curves if k not in ('iter', 'epoch')))}.")
    by_mode = curves[key]
    mode = "train" if "train" in by_mode else "val" if "val" in by_mode else next(iter(by_mode))
    iters, values = zip(*by_mode[mode])
    return list(iters), list(values), mode != "train"


def plot_curve(log_curves: List[Curves], args: argparse.Namespace) -> None:
    from seglab.visualization.figures import import_pyplot, save_figure

    plt = import_pyplot("tools/analyze_logs.py", args.backend, show=args.out is None)

    try:
        import seaborn as sns

        sns.set_style(args.style)
    except ImportError:
        pass  # the plain matplotlib style
    legend = args.legend
    if legend is None:
        legend = [f"{log}_{key}" for log in args.json_logs for key in args.keys]
    if len(legend) != len(args.json_logs) * len(args.keys):
        raise ConfigError(f"--legend has {len(legend)} names; give one per log and key: "
                          f"{len(args.json_logs)} logs x {len(args.keys)} keys = "
                          f"{len(args.json_logs) * len(args.keys)}.")
    # Every key of every log first: a missing one fails before anything is drawn.
    points = [[points_of(curves, key, log) for key in args.keys]
              for curves, log in zip(log_curves, args.json_logs)]
    fig, ax = plt.subplots()
    for i, log_points in enumerate(points):
        for j, (iters, values, is_eval) in enumerate(log_points):
            print(f"plot curve of {args.json_logs[i]}, metric is {args.keys[j]}")
            label = legend[i * len(args.keys) + j]
            if is_eval:
                ax.plot(iters, values, label=label, marker="o")
            else:
                ax.plot(iters, values, label=label, linewidth=0.5)
    ax.set_xlabel("iter")
    ax.legend()
    if args.title is not None:
        ax.set_title(args.title)
    if args.out is None:
        plt.show()
    else:
        print(f"save curve to: {args.out}")
        save_figure(fig, args.out)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.out is None:
        from seglab.visualization.figures import require_figure_window

        require_figure_window("--out curves.png")
    log_curves = [load_json_log(log) for log in args.json_logs]
    plot_curve(log_curves, args)
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
