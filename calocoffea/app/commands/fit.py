"""``calocoffea fit OUTPUT --out results.json``: mass fits, η-shift, per-|η| resolution, eIQR.

OUTPUT is a processor output saved with ``coffea.util.save``:
``{"response": Hist, "mass": Hist, "cutflow": dict, "meta": {"channel": ..., "kind": ...}}``.
The JSON schema of the results is documented in docs/fit_results.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", type=Path, help="processor output (.coffea, coffea.util.save)")
    parser.add_argument("--out", type=Path, required=True, help="results JSON to write")
    parser.add_argument(
        "--no-eta-shift", action="store_true", help="Z->ee: skip the eta-shift correction and refit"
    )
    parser.add_argument(
        "--no-mu-fits", action="store_true", help="skip the inclusive fits per <mu> bin"
    )
    parser.add_argument(
        "--min-entries",
        type=float,
        default=500.0,
        help="fits with fewer entries are skipped (default 500)",
    )
    parser.add_argument(
        "--max-chi2-ndf",
        type=float,
        default=3.0,
        help="accept fits with Pearson chi2/ndf below this (default 3)",
    )
    parser.add_argument(
        "--subdivisions",
        type=int,
        default=4,
        help="BW x CB convolution cells per mass bin (default 4)",
    )


def run(args: argparse.Namespace) -> int:
    if not args.output.is_file():
        print(f"calocoffea fit: no such file: {args.output}", file=sys.stderr)
        return 1
    # calocoffea.fitting first: it quiets TensorFlow before anything imports it
    from calocoffea.fitting.pipeline import fit_output  # isort: skip
    from coffea.util import load

    from calocoffea.fitting.result import AcceptanceCriteria

    try:
        output = load(args.output)
    except Exception as err:
        print(f"calocoffea fit: cannot read {args.output}: {err}", file=sys.stderr)
        return 1
    criteria = AcceptanceCriteria(min_entries=args.min_entries, max_chi2_ndf=args.max_chi2_ndf)
    try:
        results = fit_output(
            output,
            criteria=criteria,
            subdivisions=args.subdivisions,
            do_eta_shift=not args.no_eta_shift,
            fit_mu=not args.no_mu_fits,
        )
    except (TypeError, KeyError, ValueError) as err:
        print(f"calocoffea fit: {args.output}: {err}", file=sys.stderr)
        return 1
    results["input"] = str(args.output)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, allow_nan=False))
    _print_summary(results)
    return 0


def _print_summary(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    mass = results["mass"]
    table = Table(title=f"{results['channel']} ({results.get('kind')}): {mass['model']} fits")
    for col in (
        "calibration",
        "accepted categories",
        "inclusive sigma [GeV]",
        "after eta-shift [GeV]",
    ):
        table.add_column(col)
    for calib, fits in mass["fits"].items():
        inc = mass["inclusive"][calib]
        shifted = mass.get("inclusive_eta_shifted", {}).get(calib)
        table.add_row(
            calib,
            f"{sum(f['accepted'] for f in fits)}/{len(fits)}",
            _fmt(inc),
            _fmt(shifted) if shifted else "-",
        )
    console = Console(stderr=True)
    console.print(table)
    for calib, shift in mass.get("eta_shift", {}).items():
        alphas = ", ".join(
            "n/a" if e is None else f"{a:+.4f}±{e:.4f}"
            for a, e in zip(shift["alpha"], shift["alpha_error"], strict=True)
        )
        console.print(f"eta-shift alpha_i ({calib}, per |eta| bin): {alphas}")


def _fmt(res: dict) -> str:
    s, e = res["values"].get("sigma"), res["errors"].get("sigma")
    if s is None:
        return f"({res['status']}: {res['reason']})"
    flag = "" if res["accepted"] else " (rejected)"
    return f"{s:.3f} ± {e:.3f}{flag}" if e is not None else f"{s:.3f}{flag}"
