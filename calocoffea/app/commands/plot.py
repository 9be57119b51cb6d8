"""``calocoffea plot PATH``: draw the figures of a results directory, a saved output or a
results JSON (:func:`calocoffea.app.report.draw_path`).

PATH is a directory in the layout of ``calocoffea demo`` (``outputs/``, ``results/``) or
of results JSONs (``calocoffea fit --out DIR``), a
processor output of ``calocoffea run`` (``.hist.zip``, ``.hist.json``; every dataset, or
``--dataset NAME``), or a results JSON of ``calocoffea fit`` (with the histograms of its
``input`` when that file is there). Figures go to ``--out`` (default ``DIR/plots``, or
``plots/`` next to the file) in the ``--format`` list (default ``png,pdf``), with the label
text ``--label`` (default "Simulation") and the luminosity ``--lumi`` (fb⁻¹) in the corner;
``--rebin N`` merges N mass bins. Pickled ``.coffea`` outputs only with ``--trust-pickle``
(unpickling runs any code the file carries).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _formats(text: str) -> tuple[str, ...]:
    from calocoffea.plots.style import FIGURE_FORMATS

    formats = tuple(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad or not formats:
        raise argparse.ArgumentTypeError(
            f"format {','.join(bad) or '(none)'} not allowed; choose from "
            f"{','.join(FIGURE_FORMATS)} (comma list)")
    return formats


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a luminosity > 0 (fb^-1), got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, metavar="PATH",
                        help="results directory (outputs/, results/ as written by "
                             "`calocoffea demo`), a saved output (.hist.zip / .hist.json) or "
                             "a results JSON of `calocoffea fit`")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for the figures (default DIR/plots, or plots/ next "
                             "to the file)")
    parser.add_argument("--dataset", action="append", default=None, metavar="NAME",
                        help="only this dataset of a saved output (repeatable)")
    parser.add_argument("--label", default=None,
                        help="label text after 'calocoffea' (default: Simulation)")
    parser.add_argument("--lumi", type=_positive_float, default=None,
                        help="integrated luminosity shown in the corner, fb^-1")
    parser.add_argument("--format", type=_formats, default=("png", "pdf"), dest="formats",
                        help="comma list of figure formats: png,pdf,svg,eps (default png,pdf)")
    parser.add_argument("--rebin", type=_positive_int, default=1,
                        help="merge N mass bins in the mass figures (default 1)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow pickled .coffea outputs (loading a pickle can execute "
                             "code in it)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from calocoffea.app.report import draw_path
    from calocoffea.app.terminal import progress_bar
    from calocoffea.execution.outputs import OutputFormatError, UntrustedPickleError
    from calocoffea.plots.style import figure_settings

    try:
        with (figure_settings(label=args.label, lumi=args.lumi, formats=args.formats),
              progress_bar("plotting", enabled=not args.no_progress,
                           unit="samples") as advance):
            figures, target = draw_path(args.results, out=args.out, rebin=args.rebin,
                                        datasets=args.dataset, trust_pickle=args.trust_pickle,
                                        progress=advance)
    except (FileNotFoundError, UntrustedPickleError, OutputFormatError, ValueError) as err:
        print(f"calocoffea plot: {err}", file=sys.stderr)
        return 2
    except KeyError as err:
        print(f"calocoffea plot: {err.args[0]}", file=sys.stderr)
        return 2
    print(f"wrote {len(figures)} figures ({', '.join(args.formats)}) to {target}")
    return 0
