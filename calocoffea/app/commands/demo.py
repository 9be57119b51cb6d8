"""``calocoffea demo --out DIR``: the whole CNN-vs-BDT story on the default samples."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo_output"), help="output directory")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every default sample size (e.g. 0.1 for a quick look)")
    parser.add_argument("--workers", type=int, default=2, help="dask workers / generation jobs")
    parser.add_argument("--chunksize", type=int, default=10_000, help="events per chunk")
    parser.add_argument("--cache", type=Path, default=None,
                        help="sample cache directory (default: $CALOCOFFEA_DATA/demo or data/demo)")
    parser.add_argument("--no-plots", action="store_true", help="skip the figures")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from calocoffea.app.demo import DemoConfig, run_demo

    console = Console(stderr=True)
    cfg = DemoConfig(out=args.out, scale=args.scale, workers=args.workers,
                     chunksize=args.chunksize, cache=args.cache, plots=not args.no_plots)
    try:
        summary = run_demo(cfg, progress=console.log)
    except FileNotFoundError as err:
        print(f"calocoffea demo: {err}", file=sys.stderr)
        return 2
    console.print((args.out / "summary.md").read_text(), markup=False)
    timings = {k: round(v, 1) for k, v in summary["timings"].items()}
    console.print(f"timings (s): {json.dumps(timings)}", markup=False)
    console.print(f"wrote {args.out}/summary.json, summary.md and plots/")
    return 0
