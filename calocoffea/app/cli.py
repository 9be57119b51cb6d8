"""The ``calocoffea`` command line.

Each subcommand lives in its own module ``calocoffea.app.commands.<name>`` exposing
``add_arguments(parser)`` and ``run(args) -> int``. A subcommand whose module does not
exist yet is listed in ``--help`` and exits with status 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from calocoffea import __version__

#: name -> one-line help. Order is the order shown in --help.
SUBCOMMANDS: dict[str, str] = {
    "generate": "simulate e/gamma events and write NanoAOD-style ROOT files",
    "train": "train the standard (BDT) or DeepCalo (CNN) calibration and export it to ONNX",
    "run": "run a coffea processor (zee, zmumugamma, hgamgam) over a fileset",
    "config": "write (dump) or validate (check) a TOML run configuration for run --config",
    "fit": "fit mass peaks, eta-shift and per-|eta| resolution from processor output",
    "plot": "draw the resolution and mass-peak plots from saved outputs",
    "demo": "generate samples, run all processors, fit and plot: the whole story",
    "quantize": "write the static int8 model of a DeepCalo CNN and its resolution guard",
    "bench": "run the performance benchmarks and write a JSON report",
    "validate": "check the standard calibration or the simulation's realism on MC files",
    "pileup": "write the correctionlib pile-up weights of MC to a data <mu> profile",
    "corrections": "write the correctionlib energy scale (data) and smearing (MC) from fits",
    "compare": "data-vs-MC figures (mass peaks, <mu> profiles) from two processor outputs",
    "resolution": "derive the BDT resolution table (correctionlib) from MC processor outputs",
    "stitch": "sum the p_T-sliced datasets of one process in a processor output into one",
}


def _load(name: str):
    try:
        return importlib.import_module(f"calocoffea.app.commands.{name}")
    except ModuleNotFoundError as err:
        if err.name == f"calocoffea.app.commands.{name}":
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calocoffea",
        description="CNN vs BDT energy calibration of electrons and photons with coffea.",
    )
    parser.add_argument("--version", action="version", version=f"calocoffea {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging: -v INFO, -vv DEBUG and dependencies' INFO")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module = _load(name)
        if module is not None:
            module.add_arguments(p)
        p.set_defaults(_module=module, _name=name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from calocoffea.app.terminal import configure_logging

    configure_logging(args.verbose)
    if args._module is None:
        print(f"calocoffea {args._name}: not built yet", file=sys.stderr)
        return 2
    return int(args._module.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
