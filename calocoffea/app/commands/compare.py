"""``calocoffea compare``: data-vs-MC figures from two processor outputs.

Per calibration the inclusive mass peak (data-like points over the weighted MC, ratio
panel; ``--categories`` adds one figure per |η| category) and the ⟨μ⟩ profile of every
processed event before and after the pile-up weights (:mod:`calocoffea.plots.data_mc`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="data(-like) processor output")
    parser.add_argument("--mc", required=True, type=Path, help="MC processor output")
    parser.add_argument("--out", required=True, type=Path, help="directory for the figures")
    parser.add_argument("--calibrations", default=None,
                        help="comma list (default: those filled in both outputs)")
    parser.add_argument("--categories", action="store_true",
                        help="also one mass figure per |eta| category")
    parser.add_argument("--no-normalise", action="store_true",
                        help="draw the MC as filled (e.g. xsec x lumi) instead of scaled to "
                        "the data")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow pickled (.coffea/.pkl) outputs (can run code)")


def run(args: argparse.Namespace) -> int:
    from calocoffea.app.terminal import batch_backend
    from calocoffea.execution.outputs import load_output

    batch_backend()
    from calocoffea.plots import data_mc, style

    try:
        from calocoffea.weights import flat_outputs

        found = []
        for path in (args.data, args.mc):
            outs = flat_outputs(load_output(path, trust_pickle=args.trust_pickle))
            if len(outs) != 1:
                raise ValueError(f"{path}: {len(outs)} datasets; give one dataset per output")
            found.append(outs[0])
        data, mc = found
        kinds = (data.get("meta", {}).get("kind"), mc.get("meta", {}).get("kind"))
        if kinds != ("data", "mc"):
            raise ValueError(f"--data and --mc outputs have kinds {kinds}, need data and mc")
        if args.calibrations:
            calibs = [c.strip() for c in args.calibrations.split(",") if c.strip()]
        else:
            filled = [{c for c in o["mass"].axes["calibration"]
                       if o["mass"][c, sum, sum, sum].value > 0} for o in (data, mc)]
            calibs = sorted(filled[0] & filled[1])
        args.out.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        norm = not args.no_normalise
        for cal in calibs:
            cats = [None] + (list(range(data["mass"].axes["etacat"].size))
                             if args.categories else [])
            for cat in cats:
                fig = data_mc.plot_data_mc(
                    data_mc.mass_slice(data, cal, cat), data_mc.mass_slice(mc, cal, cat),
                    xlabel=r"$m_{ee}$ [GeV]", normalise=norm,
                    text=style.calib_label(cal) + ("" if cat is None else f", category {cat}"))
                name = f"data_mc_mass_{cal}" + ("" if cat is None else f"_cat{cat}")
                written += style.save(fig, args.out, name)
        if "pileup" in data and "pileup" in mc:
            for row in ("raw", "weighted"):
                fig = data_mc.plot_data_mc(
                    data_mc.pileup_slice(data, "raw"), data_mc.pileup_slice(mc, row),
                    xlabel=r"$\mu_{true}$", normalise=True, ratio_range=(0.0, 2.0),
                    text=f"MC {row}" + (" (pile-up weights)" if row == "weighted" else ""))
                written += style.save(fig, args.out, f"data_mc_pileup_{row}")
    except (OSError, KeyError, ValueError) as err:
        print(f"calocoffea compare: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files to {args.out}")
    return 0
