"""``calocoffea validate {bdt,sim,tracking}``: checks of the shipped models and the simulation.

- ``bdt``: the standard calibration against the E_acc median-response reference and E_acc
  on any MC file (:mod:`calocoffea.bdt.validate`);
- ``sim``: the simulation's realism with a proxy standard calibration trained on gun
  samples (:mod:`calocoffea.app.sim_realism`);
- ``tracking``: the track resolution and conversion reconstruction of the simulation
  against the published values;
- ``data-mc``: Z→ee electrons of MC and data(-like) files compared in 1-D, in mean images
  and by a classifier's ROC AUC (:mod:`calocoffea.app.data_mc`);
- ``response-tables``: markdown tables of eIQR75 per |η|, E_T, ⟨μ⟩ bin of every calibration
  from `calocoffea fit` results (:mod:`calocoffea.app.response_tables`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="check", metavar="CHECK", required=True)
    bdt = sub.add_parser("bdt", help="the standard calibration on MC files")
    bdt.add_argument("--electron", nargs="*", type=Path, default=[], metavar="FILE")
    bdt.add_argument("--photon", nargs="*", type=Path, default=[], metavar="FILE")
    bdt.add_argument("--models", type=Path, default=None, help="models directory")
    bdt.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    sim = sub.add_parser("sim", help="simulation realism with a proxy calibration")
    sim.add_argument("--egun", required=True)
    sim.add_argument("--gammagun", required=True)
    sim.add_argument("--zee", required=True)
    sim.add_argument("--hgamgam", required=True)
    sim.add_argument("--out", type=Path, default=Path("validation.json"))
    sim.add_argument("--scan", action="store_true", help="also run the barrel e-gun energy scan")
    trk = sub.add_parser("tracking", help="track resolution and conversion reconstruction "
                                          "of the simulation against the published values")
    trk.add_argument("--events", type=int, default=20000)
    trk.add_argument("--seed", type=int, default=4242)
    trk.add_argument("--out", type=Path, default=None, help="write the results as JSON")


    dm = sub.add_parser("data-mc", help="Z->ee electrons of MC and data files: 1-D and image "
                                         "comparisons and an MC-vs-data classifier AUC")
    dm.add_argument("--mc", nargs="+", required=True, metavar="FILE")
    dm.add_argument("--data", nargs="+", required=True, metavar="FILE")
    dm.add_argument("--max-events", type=int, default=None, help="per file")
    dm.add_argument("--plots", type=Path, default=None, metavar="DIR",
                    help="write the comparison plots here")
    dm.add_argument("--no-mu-reweight", action="store_true",
                    help="compare without reweighting the MC to the data <mu> distribution")
    dm.add_argument("--seed", type=int, default=1)
    dm.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    ws = sub.add_parser("window-sums", help="electron BDT with and without the four per-layer "
                                            "window energy sums (issue 17's review check)")
    ws.add_argument("--train", nargs="+", required=True, metavar="FILE")
    ws.add_argument("--test", required=True, metavar="FILE")
    ws.add_argument("--max-train", type=int, default=150_000)
    ws.add_argument("--seed", type=int, default=1)
    ws.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    rt = sub.add_parser("response-tables", help="markdown tables of eIQR75 per |eta|, E_T and "
                                                "<mu> bin from `calocoffea fit` results")
    rt.add_argument("results", nargs="+", type=Path, metavar="RESULT.json")
    rt.add_argument("--out", type=Path, default=None, help="write the markdown here")


def _window_sums(args: argparse.Namespace) -> int:
    from calocoffea.app.sim_realism import window_sum_check

    res = window_sum_check(args.train, args.test, max_train=args.max_train, seed=args.seed)
    text = json.dumps(res, indent=1) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    return 0


def _response_tables(args: argparse.Namespace) -> int:
    from calocoffea.app.response_tables import response_tables
    from calocoffea.execution.outputs import atomic_write_text

    parts = []
    for path in args.results:
        try:
            parts.append(response_tables(json.loads(path.read_text())))
        except (OSError, ValueError, KeyError) as err:
            print(f"calocoffea validate response-tables: {path}: {err}", file=sys.stderr)
            return 2
    text = "\n".join(parts)
    if args.out:
        atomic_write_text(args.out, text)
    else:
        print(text)
    return 0


def _data_mc(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from calocoffea.app.data_mc import DataMCConfig, compare

    cfg = DataMCConfig(mc=tuple(args.mc), data=tuple(args.data), max_events=args.max_events,
                       out_dir=args.plots, reweight_mu=not args.no_mu_reweight, seed=args.seed)
    try:
        res = compare(cfg)
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"calocoffea validate data-mc: {err}", file=sys.stderr)
        return 2
    console = Console()
    clf = res["classifier"]
    console.print(f"MC vs data classifier ROC AUC = {clf['auc']:.4f} ± {clf['auc_err']:.4f} "
                  f"({clf['n_test_mc']} MC, {clf['n_test_data']} data test electrons; "
                  f"thesis fig. 9.5: 0.82)")
    tab = Table(title="means (MC reweighted to the data <mu>)" if cfg.reweight_mu else "means")
    for col in ("input", "MC", "data", "data/MC - 1"):
        tab.add_column(col)
    for name, m in res["means"].items():
        if m["mc"] is None or m["data"] is None:
            continue
        rel = m["data"] / m["mc"] - 1 if m["mc"] else float("nan")
        tab.add_row(name, f"{m['mc']:.5g}", f"{m['data']:.5g}", f"{rel:+.4f}")
    console.print(tab)
    if args.out:
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


def _bdt(args: argparse.Namespace) -> int:
    from calocoffea.bdt.standard import load_standard_calibration
    from calocoffea.bdt.validate import evaluate_file, format_result

    calib = load_standard_calibration(args.models)
    results = [evaluate_file(p, "electron", calib) for p in args.electron]
    results += [evaluate_file(p, "photon", calib) for p in args.photon]
    for res in results:
        print(format_result(res), end="\n\n")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def _sim(args: argparse.Namespace) -> int:
    from calocoffea.app.sim_realism import evaluate, stochastic_scan, zee_sigma_cb

    zee = evaluate(args.egun, args.zee, "electron")
    hgg = evaluate(args.gammagun, args.hgamgam, "photon")
    proxy = zee.pop("_proxy")
    zee["mass_fit"] = zee_sigma_cb(args.zee, proxy)
    hgg.pop("_proxy")
    result = {"zee_electrons": zee, "hgamgam_photons": hgg}
    if args.scan:
        result["barrel_electron_scan"] = stochastic_scan(proxy)
    args.out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(json.dumps(result, indent=2, default=float))
    return 0


def _tracking(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from calocoffea.app.sim_realism import tracking_and_conversions

    res = tracking_and_conversions(args.events, args.seed)
    console = Console()
    tab = Table(title="track p_T resolution (relative)")
    for col in ("|eta|", "model at 40 GeV", "measured 20-60 GeV", "tracks"):
        tab.add_column(col)
    for eta, row in res["track_pt_resolution"].items():
        tab.add_row(eta, f"{row['model_at_40GeV']:.4f}", f"{row['measured_20_60GeV']:.4f}",
                    str(row["n_tracks"]))
    console.print(tab)
    for row, pub in res["published_rows"].items():
        console.print(f"JINST 3 S08003 table 10.2, {row}: sigma(q/pT) = "
                      f"{pub['sigma_qoverpt_inf_per_TeV']} /TeV (1 + {pub['p_x_GeV']} GeV/pT) "
                      f"-> {pub['relative_resolution_at_40GeV']:.4f} at 40 GeV")
    tab = Table(title="conversion reconstruction (photon gun)")
    for col in ("radius", "true conversions", "efficiency", "single-track fraction"):
        tab.add_column(col)
    for rng, row in res["conversions"]["per_radius"].items():
        tab.add_row(rng, str(row["true_conversions"]),
                    "—" if row["efficiency"] is None else f"{row['efficiency']:.3f}",
                    "—" if row["single_track_fraction"] is None
                    else f"{row['single_track_fraction']:.3f}")
    console.print(tab)
    console.print("single-track fraction of reconstructed conversions: "
                  f"{res['conversions']['single_track_fraction_of_reconstructed']:.3f}; "
                  f"{res['conversions']['published']}")
    if args.out:
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


def run(args: argparse.Namespace) -> int:
    return {"bdt": _bdt, "sim": _sim, "tracking": _tracking,
            "data-mc": _data_mc, "response-tables": _response_tables,
            "window-sums": _window_sums}[args.check](args)
