"""``calocoffea train bdt``: the command line of :mod:`calocoffea.bdt.training`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from calocoffea.bdt.training import BDTTrainingConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``calocoffea train bdt``."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--electron", nargs="+", type=Path, metavar="FILE",
                     help="electron-gun training file(s) (NanoAOD-style, no calibration)")
    src.add_argument("--toy", type=int, metavar="N",
                     help="train on N toy objects per particle (calocoffea.bdt.toy)")
    parser.add_argument("--photon", nargs="+", type=Path, metavar="FILE",
                        help="photon-gun training file(s); required with --electron")
    parser.add_argument("--out", type=Path, default=Path("models"), help="output directory")
    parser.add_argument("--seed", type=int, default=1, help="split, search and XGBoost seed")
    parser.add_argument("--n-trials", type=int, default=12, help="random-search trials per model")
    parser.add_argument("--max-rounds", type=int, default=2000, help="max boosting rounds")
    parser.add_argument("--search-objects", type=int, default=50_000,
                        help="training objects per search trial (the chosen configuration is "
                             "then refitted on the whole training split)")
    parser.add_argument("--early-stopping", type=int, default=50, help="patience in rounds")
    parser.add_argument("--max-objects", type=int, default=None,
                        help="use at most this many objects per model (quick runs)")
    parser.add_argument("--nthread", type=int, default=1,
                        help="XGBoost threads; on a busy machine >1 can be ~30x slower "
                             "(OpenMP spin-waiting) unless OMP_WAIT_POLICY=passive")
    parser.add_argument("--eval-electron", nargs="+", type=Path, default=[], metavar="FILE",
                        help="extra held-out MC file(s) to evaluate electrons on (e.g. Z->ee)")
    parser.add_argument("--eval-photon", nargs="+", type=Path, default=[], metavar="FILE",
                        help="extra held-out MC file(s) to evaluate photons on (e.g. H->yy)")


def config_from_args(args: argparse.Namespace) -> BDTTrainingConfig:
    """The :class:`~calocoffea.bdt.training.BDTTrainingConfig` of the parsed options."""
    return BDTTrainingConfig(
        electron=list(args.electron or []), photon=list(args.photon or []), toy=args.toy,
        out=args.out, seed=args.seed, n_trials=args.n_trials, max_rounds=args.max_rounds,
        search_objects=args.search_objects, early_stopping=args.early_stopping,
        max_objects=args.max_objects, nthread=args.nthread,
        eval_electron=list(args.eval_electron), eval_photon=list(args.eval_photon),
    )


def run(args: argparse.Namespace) -> int:
    """Entry point of ``calocoffea train bdt``."""
    from calocoffea.bdt.training import train_all

    try:
        cards = train_all(config_from_args(args))
    except (FileNotFoundError, KeyError, ValueError) as err:
        print(f"calocoffea train bdt: {err}", file=sys.stderr)
        return 1
    from rich.console import Console
    from rich.table import Table

    from calocoffea.bdt.validate import format_result

    tab = Table(title="standard calibration: held-out test split, eIQR75 of E/E_true")
    for col in ("model", "n test", "E_acc", "median response", "BDT", "reIQR75 vs median"):
        tab.add_column(col)
    for model, card in cards.items():
        t = card["test"]
        tab.add_row(model, str(t["bdt"]["all"]["n"]), f"{t['e_acc']['all']['eIQR75']:.4f}",
                    f"{t['median_response']['all']['eIQR75']:.4f}",
                    f"{t['bdt']['all']['eIQR75']:.4f}",
                    f"{card['test_margin_vs_median_response']['reIQR75']:+.1%}")
    Console().print(tab)
    # photon samples are attached to both photon cards; print each sample once
    for model in ("electron", "photon_converted"):
        for res in cards[model].get("eval_samples", []):
            print(format_result(res), end="\n\n")
    return 0
