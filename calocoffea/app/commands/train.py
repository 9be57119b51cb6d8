"""``calocoffea train {bdt,cnn,sigma}``: dispatch to the BDT baseline or the DeepCalo CNN trainer.

The trainers are ``calocoffea.app.commands.train_bdt``, ``train_cnn`` and ``train_sigma``,
each exposing ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

TRAINERS = {
    "bdt": ("calocoffea.app.commands.train_bdt", "train the standard BDT calibration (XGBoost)"),
    "cnn": ("calocoffea.app.commands.train_cnn",
            "train the DeepCalo CNN (needs the 'train' extra: torch)"),
    "sigma": ("calocoffea.app.commands.train_sigma",
              "train the per-object energy-uncertainty (sigma_E) models (XGBoost quantile)"),
}


def _load(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            return None
        raise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model", metavar="MODEL", required=True)
    for name, (module_name, help_text) in TRAINERS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module = _load(module_name)
        if module is not None:
            module.add_arguments(p)
        p.set_defaults(_trainer=module)


def run(args: argparse.Namespace) -> int:
    if args._trainer is None:
        print(f"calocoffea train {args.model}: not built yet", file=sys.stderr)
        return 2
    return int(args._trainer.run(args) or 0)
