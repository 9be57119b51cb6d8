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
    parser.add_argument("--variants", default="bdt,bdt_shapes",
                        help="comma list of the BDT calibrations to train (bdt, bdt_shapes)")
    parser.add_argument("--learning-curve", type=int, default=3, metavar="K",
                        help="learning curve: refit the chosen model on 1/2, 1/4, ... 1/2^K of "
                             "the training split (0: none)")
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
        out=args.out, variants=tuple(v.strip() for v in args.variants.split(",") if v.strip()),
        learning_curve_halvings=args.learning_curve, seed=args.seed, n_trials=args.n_trials,
        max_rounds=args.max_rounds,
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

    tab = Table(title="BDT calibrations: eIQR75 of E/E_true (validation split; held-out files)")
    for col in ("variant", "model", "n val", "validation", "held-out n", "held-out BDT",
                "held-out median response", "learning curve: last doubling"):
        tab.add_column(col)
    for variant, models in cards.items():
        for model, card in models.items():
            test = card.get("test") or {}
            t_bdt = test.get("bdt", {}).get("all", {})
            t_ref = test.get("median_response", {}).get("all", {})
            last = card["learning_curve"]["last_doubling_relative_change"]
            tab.add_row(variant, model, str(card["training"]["split"]["n_validation"]),
                        f"{card['validation']['eIQR75']:.4f}", str(t_bdt.get("n", "—")),
                        f"{t_bdt['eIQR75']:.4f}" if t_bdt else "—",
                        f"{t_ref['eIQR75']:.4f}" if t_ref else "—",
                        f"{last:+.2%}" if last is not None else "—")
    Console().print(tab)
    return 0
