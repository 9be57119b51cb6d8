"""``calocoffea generate``: simulate e/gamma events into a NanoAOD-style ROOT file."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys

log = logging.getLogger(__name__)


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from err


_CONDITIONS = ("scale", "nonlinearity", "shower_width", "material", "noise", "time_offset",
               "extra_constant")


def _condition(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or name not in _CONDITIONS:
        raise argparse.ArgumentTypeError(
            f"expected NAME=STRENGTH with NAME one of {', '.join(_CONDITIONS)}, got {text!r}")
    try:
        return name, float(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"strength of {name} must be a number, got "
                                         f"{value!r}") from err


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from calocoffea.sim.processes import PROCESSES

    parser.add_argument("--process", required=True, choices=PROCESSES, help="physics process")
    parser.add_argument(
        "--kind",
        default="mc",
        choices=("mc", "data"),
        help="mc (with truth) or data-like (no truth, shifted conditions)",
    )
    parser.add_argument("--events", type=int, required=True, help="number of events")
    parser.add_argument("--seed", type=int, default=1, help="random seed (>= 0)")
    parser.add_argument("--out", required=True, help="output ROOT file")
    parser.add_argument(
        "--mu-profile",
        default=None,
        help="<mu> profile: mc (flat 10-80), data (peaked 15-40), flat:LO:HI, "
        "fixed:V; default: the kind's profile",
    )
    parser.add_argument(
        "--condition",
        action="append",
        default=[],
        type=_condition,
        metavar="NAME=STRENGTH",
        help="data-like detector: strength of one data-vs-MC difference (1 = its documented "
        "size, 0 = off), repeatable; NAME one of " + ", ".join(_CONDITIONS) + "; "
        "default: every effect at 1 (docs/simulation.md)",
    )
    parser.add_argument(
        "--mc-like",
        action="store_true",
        help="data-like file whose detector is the MC one (every condition at 0): the "
        "closure sample of the data/MC tests",
    )
    parser.add_argument(
        "--map-seed",
        type=int,
        default=None,
        help="seed of the data-like detector's scale map (default: the documented one, so "
        "that every data-like file sees the same detector)",
    )
    parser.add_argument(
        "--no-standard-calibration",
        action="store_true",
        help="write E_acc-based Electron/Photon pt instead of the BDT calibration",
    )
    parser.add_argument(
        "--gun-et",
        type=_floats,
        default=None,
        metavar="LO,HI",
        help="gun E_T range in GeV (default 5,500)",
    )
    parser.add_argument(
        "--gun-eta",
        type=_floats,
        default=None,
        metavar="LO,HI",
        help="gun eta range (default -2.47,2.47)",
    )
    parser.add_argument(
        "--gun-energy",
        type=float,
        default=None,
        help="fixed gun energy in GeV (overrides --gun-et)",
    )
    parser.add_argument(
        "--no-fsr",
        action="store_true",
        help="zee: no final-state radiation (the truth mass is the Breit-Wigner alone)",
    )
    parser.add_argument(
        "--boson-pt-min",
        type=float,
        default=None,
        metavar="GEV",
        help="zee, zmumugamma, hgamgam: the boson p_T spectrum above GEV only (a p_T-sliced "
        "sample: complete above the E_T the summary prints; zee, hgamgam: cross-section x "
        "the printed fraction); recorded in the file as Generator_bosonPtMin",
    )
    parser.add_argument("--chunk-size", type=int, default=5000, help="events per chunk")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--compression",
        default=None,
        help="ROOT compression ALGORITHM[:LEVEL], algorithm one of lz4, zstd, zlib, lzma "
        "(default lz4:4, ROOT's recommended setting for analysis files); the events do not "
        "depend on it",
    )


def run(args: argparse.Namespace) -> int:
    from calocoffea.sim import default_config, generate_file
    from calocoffea.sim.conditions import DataConditions

    if args.kind == "mc" and (args.condition or args.mc_like or args.map_seed is not None):
        print("calocoffea generate: --condition/--mc-like/--map-seed need --kind data",
              file=sys.stderr)
        return 2
    if args.mc_like and args.condition:
        print("calocoffea generate: --mc-like sets every condition to 0; drop --condition",
              file=sys.stderr)
        return 2
    data = None
    if args.kind == "data":
        try:
            data = DataConditions.mc_like() if args.mc_like else DataConditions()
            changes = dict(args.condition)
            if args.map_seed is not None:
                changes["map_seed"] = args.map_seed
            data = dataclasses.replace(data, **changes)
        except ValueError as err:
            print(f"calocoffea generate: {err}", file=sys.stderr)
            return 2
    cfg = default_config(args.kind, data)
    gun: dict = {}
    for name in ("gun_et", "gun_eta"):
        value = getattr(args, name)
        if value is not None and (len(value) != 2 or value[0] >= value[1]):
            print(
                f"calocoffea generate: --{name.replace('_', '-')} needs LO,HI with LO < HI, "
                f"got {value}",
                file=sys.stderr,
            )
            return 2
    if args.no_fsr:
        if args.process != "zee":
            print("calocoffea generate: --no-fsr is a zee option", file=sys.stderr)
            return 2
        gun["fsr"] = False
    if args.boson_pt_min is not None:
        from calocoffea.sim.processes import check_boson_pt_min

        try:
            check_boson_pt_min(args.process, args.boson_pt_min)
        except ValueError as err:
            print(f"calocoffea generate: --boson-pt-min: {err}", file=sys.stderr)
            return 2
        gun["boson_pt_min"] = args.boson_pt_min
    if args.process.endswith("gun"):
        if args.gun_et is not None:
            gun["et_range"] = tuple(args.gun_et)
        if args.gun_eta is not None:
            gun["eta_range"] = tuple(args.gun_eta)
        if args.gun_energy is not None:
            gun["energy"] = args.gun_energy
    from calocoffea.sim.writer import DEFAULT_COMPRESSION, parse_compression

    compression = args.compression or DEFAULT_COMPRESSION
    try:
        parse_compression(compression)
    except ValueError as err:
        print(f"calocoffea generate: --compression: {err}", file=sys.stderr)
        return 2
    energy_fn = None
    if not args.no_standard_calibration:
        from calocoffea.bdt.standard import load_standard_calibration

        try:
            energy_fn = load_standard_calibration().energy
        except (FileNotFoundError, RuntimeError, ValueError) as err:
            print(
                f"calocoffea generate: standard calibration unavailable ({err}); train it "
                "with `calocoffea train bdt` or pass --no-standard-calibration",
                file=sys.stderr,
            )
            return 2
    from calocoffea.app.terminal import progress_bar

    try:
        with progress_bar(f"generating {args.process}", enabled=not args.no_progress,
                          unit="events") as advance:
            summary = generate_file(
                args.out,
                args.process,
                kind=args.kind,
                n_events=args.events,
                seed=args.seed,
                mu_profile=args.mu_profile,
                config=cfg,
                energy_fn=energy_fn,
                chunk_size=args.chunk_size,
                gun_options=gun or None,
                compression=compression,
                progress=advance,
            )
    except ValueError as err:
        print(f"calocoffea generate: {err}", file=sys.stderr)
        return 2
    if args.boson_pt_min is not None:
        from calocoffea.sim.processes import boson_pt_fraction, complete_above_et

        summary["boson_pt_min"] = args.boson_pt_min
        summary["boson_pt_fraction"] = boson_pt_fraction(args.process, args.boson_pt_min)
        summary["complete_above_et"] = complete_above_et(args.process, args.boson_pt_min)
    summary["events_per_s"] = summary["events"] / summary["seconds"]
    summary["bytes_per_cluster"] = summary["bytes"] / max(summary["clusters"], 1)
    print(json.dumps(summary, indent=1))
    return 0
