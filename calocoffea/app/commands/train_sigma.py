"""``calocoffea train sigma``: the command line of :mod:`calocoffea.sigma`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from calocoffea.sigma import SIGMA_MODEL_CALIBRATIONS, SigmaTrainingConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``calocoffea train sigma``."""
    parser.add_argument("--electron", nargs="+", type=Path, default=[], metavar="FILE",
                        help="electron calibration samples (MC with truth, e.g. Z->ee and an "
                             "electron gun; never a training or test file of the calibrations)")
    parser.add_argument("--photon", nargs="+", type=Path, default=[], metavar="FILE",
                        help="photon calibration samples (e.g. H->yy, Z->mumuy, a photon gun)")
    parser.add_argument("--electron-conformal", nargs="+", type=Path, default=[],
                        metavar="FILE",
                        help="electron samples for the conformal factors only (every object; "
                             "not in the quantile fit); a p_T-sliced one (generate "
                             "--boson-pt-min) only in the E_T-correction bins where it is "
                             "complete")
    parser.add_argument("--photon-conformal", nargs="+", type=Path, default=[], metavar="FILE",
                        help="photon samples for the conformal factors only")
    parser.add_argument("--recalibrate", type=Path, default=None, metavar="DIR",
                        help="keep the sigma models (ONNX) in DIR, trained on the samples "
                             "given, and recompute only their conformal factors and "
                             "validation (with the conformal-only samples; without training "
                             "samples, on the conformal-only samples alone)")
    parser.add_argument("--out", type=Path, default=Path("models"), help="output directory")
    parser.add_argument("--models", type=Path, default=None,
                        help="directory of the calibration models the sigma models are for "
                             "(default: the shipped ones)")
    parser.add_argument("--calibrations", default=",".join(SIGMA_MODEL_CALIBRATIONS),
                        help="comma list of calibrations (bdt, bdt_shapes, cnn)")
    parser.add_argument("--seed", type=int, default=1, help="split and XGBoost seed")
    parser.add_argument("--n-estimators", type=int, default=1200, help="max boosting rounds")
    parser.add_argument("--max-depth", type=int, default=5)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--nthread", type=int, default=1, help="XGBoost threads")


def config_from_args(args: argparse.Namespace) -> SigmaTrainingConfig:
    """The :class:`~calocoffea.sigma.SigmaTrainingConfig` of the parsed options."""
    return SigmaTrainingConfig(
        electron=list(args.electron), photon=list(args.photon),
        electron_conformal=list(args.electron_conformal),
        photon_conformal=list(args.photon_conformal), recalibrate=args.recalibrate,
        out=args.out,
        models_dir=args.models,
        calibrations=tuple(c.strip() for c in args.calibrations.split(",") if c.strip()),
        seed=args.seed, n_estimators=args.n_estimators, max_depth=args.max_depth,
        learning_rate=args.learning_rate, nthread=args.nthread)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``calocoffea train sigma``."""
    from calocoffea.sigma import train_sigma_models

    try:
        cards = train_sigma_models(config_from_args(args))
    except (FileNotFoundError, KeyError, ValueError, RuntimeError) as err:
        print(f"calocoffea train sigma: {err}", file=sys.stderr)
        return 1
    from rich.console import Console
    from rich.table import Table

    tab = Table(title="sigma_E models: validation pulls (E - E_ref)/sigma_E")
    for col in ("particle", "calibration", "n val", "width (IQR/1.349)", "coverage 68",
                "coverage 95", "bare truth: coverage 95"):
        tab.add_column(col)
    for particle, cals in cards.items():
        for cal, card in cals.items():
            v = card["validation"]["reference"]["inclusive"]
            b = card["validation"]["bare_truth"]["inclusive"]
            tab.add_row(particle, cal, str(v["n"]), f"{v['pull_width']:.3f}",
                        f"{v['coverage68']:.3f}", f"{v['coverage95']:.3f}",
                        f"{b['coverage95']:.3f}")
    Console().print(tab)
    return 0
