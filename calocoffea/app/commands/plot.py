"""``calocoffea plot DIR``: redraw every figure from a results directory's saved outputs.

Reads ``DIR/outputs/*.hist.zip`` (or ``.hist.json``) and ``DIR/results/*.json``; pickled
``.coffea`` outputs only with ``--trust-pickle`` (unpickling runs any code the file carries).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path,
                        help="directory with outputs/*.hist.zip and results/*.json "
                             "(as written by `calocoffea demo`)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow pickled outputs/*.coffea (loading a pickle can execute "
                             "code in it)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from calocoffea.app.report import draw_all
    from calocoffea.app.terminal import progress_bar
    from calocoffea.execution.outputs import OutputFormatError, UntrustedPickleError

    try:
        with progress_bar("plotting", enabled=not args.no_progress, unit="samples") as advance:
            pngs = draw_all(args.results, trust_pickle=args.trust_pickle, progress=advance)
    except (FileNotFoundError, UntrustedPickleError, OutputFormatError) as err:
        print(f"calocoffea plot: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(pngs)} figures (PNG + PDF) to {args.results / 'plots'}")
    return 0
