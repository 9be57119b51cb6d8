"""``calocoffea plot DIR``: redraw every figure from a results directory's saved outputs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path,
                        help="directory with outputs/*.coffea and results/*.json "
                             "(as written by `calocoffea demo`)")


def run(args: argparse.Namespace) -> int:
    from calocoffea.app.report import draw_all

    try:
        pngs = draw_all(args.results)
    except FileNotFoundError as err:
        print(f"calocoffea plot: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(pngs)} figures (PNG + PDF) to {args.results / 'plots'}")
    return 0
