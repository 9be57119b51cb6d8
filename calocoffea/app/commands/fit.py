"""``calocoffea fit OUTPUT --out RESULTS``: mass fits, η-shift, per-|η| resolution, eIQR.

OUTPUT is a processor output written by ``calocoffea run`` (``.hist.zip`` or ``.hist.json``,
:func:`calocoffea.execution.outputs.load_output`), keyed by dataset:
``{dataset: {"response": Hist, "mass": Hist, "cutflow": dict, "meta": {"channel", "kind",
...}}}``. Each dataset is fitted separately (``--dataset NAME`` picks some); a dataset that
mixes MC and data files is refused (exit 2). ``--out`` is a results JSON (``*.json``) when
one dataset is fitted, else a directory that receives ``<dataset>.json`` per dataset. A
pickled ``.coffea`` file is read only with ``--trust-pickle`` (unpickling runs any code the
file carries). The results JSON (schema in docs/fit_results.md) is written atomically and may
not be the input file.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", type=Path,
                        help="processor output (.hist.zip / .hist.json of calocoffea run)")
    parser.add_argument("--out", type=Path, required=True,
                        help="results JSON to write (one dataset), or a directory that gets "
                        "<dataset>.json per dataset")
    parser.add_argument("--dataset", action="append", default=None, metavar="NAME",
                        help="fit only this dataset of OUTPUT (repeatable; default: all)")
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
        "--max-width-rel-error",
        type=float,
        default=0.5,
        help="reject fits whose width error exceeds this fraction of the width (default 0.5)",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow a pickled .coffea input (loading a pickle can execute code in it)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--model",
        default=None,
        help="mass model (default: the channel's: zee bwcb, zmumugamma bwcb_bkg, hgamgam "
        "dscb; hgamgam also double_gauss, the thesis eq. 4.8)",
    )
    parser.add_argument(
        "--subdivisions",
        type=int,
        default=4,
        help="BW x CB convolution cells per mass bin (default 4)",
    )


def run(args: argparse.Namespace) -> int:
    from calocoffea.execution.outputs import (
        OutputFormatError,
        OutputPathError,
        UntrustedPickleError,
        check_output_paths,
        load_output,
        select_datasets,
        write_json,
    )

    if not args.output.is_file():
        print(f"calocoffea fit: no such file: {args.output}", file=sys.stderr)
        return 1
    try:
        check_output_paths({"--out": args.out}, [args.output])
    except OutputPathError as err:
        print(f"calocoffea fit: {err}", file=sys.stderr)
        return 2
    try:
        output = load_output(args.output, trust_pickle=args.trust_pickle)
    except UntrustedPickleError as err:
        print(f"calocoffea fit: {err}", file=sys.stderr)
        return 2
    except (OutputFormatError, OSError, ValueError) as err:
        print(f"calocoffea fit: cannot read {args.output}: {err}", file=sys.stderr)
        return 1
    try:
        datasets = select_datasets(output, args.dataset, where=str(args.output))
    except OutputFormatError as err:
        print(f"calocoffea fit: {err}", file=sys.stderr)
        return 1
    except KeyError as err:
        print(f"calocoffea fit: {err.args[0]}", file=sys.stderr)
        return 2
    single = args.out.suffix == ".json"
    if single and len(datasets) > 1:
        print(f"calocoffea fit: {args.output} holds datasets {sorted(datasets)}: give --out a "
              "directory (one <dataset>.json each) or pick one with --dataset NAME",
              file=sys.stderr)
        return 2
    targets = {name: args.out if single else args.out / f"{name}.json" for name in datasets}
    try:
        check_output_paths({f"--out ({name})": path for name, path in targets.items()},
                           [args.output])
    except OutputPathError as err:
        print(f"calocoffea fit: {err}", file=sys.stderr)
        return 2
    from calocoffea.app.terminal import progress_bar

    # calocoffea.fitting first: it quiets TensorFlow before anything imports it
    from calocoffea.fitting.pipeline import MixedKindsError, fit_datasets  # isort: skip
    from calocoffea.fitting.result import AcceptanceCriteria

    criteria = AcceptanceCriteria(min_entries=args.min_entries, max_chi2_ndf=args.max_chi2_ndf,
                                  max_width_rel_error=args.max_width_rel_error)
    try:
        with progress_bar("fitting", enabled=not args.no_progress) as advance:
            results = fit_datasets(
                datasets,
                criteria=criteria,
                subdivisions=args.subdivisions,
                do_eta_shift=not args.no_eta_shift,
                fit_mu=not args.no_mu_fits,
                progress=advance,
                model=args.model,
            )
    except MixedKindsError as err:
        print(f"calocoffea fit: {args.output}: {err}", file=sys.stderr)
        return 2
    except (TypeError, KeyError, ValueError) as err:
        print(f"calocoffea fit: {args.output}: {err}", file=sys.stderr)
        return 1
    from calocoffea.fitting.categories import add_uncertainty_results

    for name, res in results.items():
        # pulls and sigma_m/m categories (terciles of this dataset's own sigma_m/m; the demo
        # takes a data-like sample's boundaries from its MC)
        add_uncertainty_results(datasets[name], res)
        res["input"] = str(args.output)
        write_json(res, targets[name], indent=1, allow_nan=False)
        _print_summary(res)
    return 0


def _print_summary(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    mass = results["mass"]
    name = results.get("dataset") or results["channel"]
    table = Table(title=f"{name} ({results['channel']}, {results.get('kind')}): "
                  f"{mass['model']} fits")
    for col in (
        "calibration",
        "accepted categories",
        "inclusive sigma [GeV]",
        "after eta-shift [GeV]",
        "chi2/ndf",
        "sigma_eff [GeV]",
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
            "-" if inc.get("chi2_ndf") is None else f"{inc['chi2_ndf']:.2f}",
            _fmt_eff(mass.get("sigma_eff", {}).get(calib)),
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


def _fmt_eff(entry: dict | None) -> str:
    if not entry or entry.get("sigma_eff") is None:
        return "-"
    err = entry.get("sigma_eff_err")
    return f"{entry['sigma_eff']:.3f}" + ("" if err is None else f" ± {err:.3f}")
