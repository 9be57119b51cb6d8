"""``calocoffea pileup``: the pile-up weight file (correctionlib) of MC to a data ⟨μ⟩ profile.

The inputs are processor outputs (``calocoffea run``: their ``pileup`` histogram of every
processed event) or ROOT files (their ``Events/Pileup_nTrueInt``); the output is the
correctionlib JSON ``calocoffea run --pileup FILE`` reads (correction ``pileup``, input
``nTrueInt``; :mod:`calocoffea.weights`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, nargs="+",
                        help="data(-like) processor output, or ROOT files")
    parser.add_argument("--mc", required=True, type=Path, nargs="+",
                        help="MC processor output (run without --pileup), or ROOT files")
    parser.add_argument("--out", required=True, type=Path, help="correctionlib JSON to write")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow pickled (.coffea/.pkl) outputs (can run code)")


def _profile(paths: list[Path], kind: str, trust_pickle: bool):
    """The generator-weighted ⟨μ⟩ profile of ``paths`` (all outputs or all ROOT files)."""
    from calocoffea import weights
    from calocoffea.execution.outputs import load_output

    roots = [p for p in paths if p.suffix == ".root"]
    if roots and len(roots) != len(paths):
        raise ValueError(f"--{kind}: give either ROOT files or processor outputs, not both")
    if roots:
        return weights.mu_histogram(roots)
    total = None
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such file")
        for out in weights.flat_outputs(load_output(p, trust_pickle=trust_pickle)):
            got = out.get("meta", {}).get("kind")
            if got != kind:
                raise ValueError(f"{p}: output of kind {got!r}, --{kind} needs {kind!r}")
            if "pileup" not in out:
                raise KeyError(f"{p}: no 'pileup' histogram (written by an older calocoffea "
                               "run); rerun the processor")
            h = weights.profile(out["pileup"])
            total = h if total is None else total + h
    return total


def run(args: argparse.Namespace) -> int:
    from calocoffea import weights

    try:
        data = _profile(args.data, "data", args.trust_pickle)
        mc = _profile(args.mc, "mc", args.trust_pickle)
        ratio = weights.pileup_ratio(data, mc)
        uncovered = float(data.values()[mc.values() <= 0].sum() / max(data.sum(), 1e-300))
        weights.write_correction_set(args.out, weights.pileup_correction_set(ratio))
    except (OSError, KeyError, ValueError) as err:
        print(f"calocoffea pileup: {err}", file=sys.stderr)
        return 2
    if uncovered > 0:
        log.warning("%.3g%% of the data events are at nTrueInt without MC events: the "
                    "weighted MC cannot reproduce them", 100 * uncovered)
    print(f"wrote {args.out}: data {data.sum():.0f} events, MC {mc.sum():.0f} (sum of "
          f"generator weights); data fraction without MC: {uncovered:.2g}")
    return 0
