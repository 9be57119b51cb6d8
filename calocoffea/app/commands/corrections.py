"""``calocoffea corrections``: energy scale (data) and smearing (MC) as correctionlib JSON.

From the ``calocoffea fit`` results of a Z→ee MC and a data(-like) output: per calibration
``EGMScale_<calibration>`` and ``EGMSmearing_<calibration>`` (inputs ``syst``, ``absEta``,
``et``; :mod:`calocoffea.corrections`, docs/corrections.md). The written file is read back
by correctionlib (the same check as ``correction summary FILE``); ``calocoffea run
--corrections FILE`` applies it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mc", required=True, type=Path, help="fit results JSON of the MC")
    parser.add_argument("--data", required=True, type=Path,
                        help="fit results JSON of the data(-like) sample")
    parser.add_argument("--out", required=True, type=Path, help="correctionlib JSON to write")
    parser.add_argument("--calibrations", default=None,
                        help="comma list (default: every calibration with an eta-shift in "
                        "both results)")


def run(args: argparse.Namespace) -> int:
    import correctionlib

    from calocoffea import corrections as corr

    def fail(msg: object) -> int:
        print(f"calocoffea corrections: {msg}", file=sys.stderr)
        return 2

    try:
        mc, data = corr.load_results(args.mc), corr.load_results(args.data)
    except (OSError, ValueError) as err:
        return fail(err)
    if args.calibrations:
        calibs = [c.strip() for c in args.calibrations.split(",") if c.strip()]
    else:
        have = [set(r.get("mass", {}).get("eta_shift", {})) for r in (mc, data)]
        calibs = sorted(have[0] & have[1])
        if not calibs:
            return fail(f"no calibration has an eta_shift in both {args.mc} and {args.data}")
    try:
        derived = {c: corr.derive(mc, data, c) for c in calibs}
        corr.write_corrections(args.out, derived, description=(
            f"calocoffea scale and smearing from {args.mc.name} (MC) and {args.data.name} "
            "(data)"))
        correctionlib.CorrectionSet.from_file(str(args.out))  # what `correction summary` reads
    except (KeyError, ValueError, OSError) as err:
        return fail(err)
    for c, ss in derived.items():
        print(f"{c}: {int(ss.measured.sum())} of {ss.measured.size} |eta| bins measured")
        for line in corr.summary_lines(ss):
            print("  " + line)
    print(f"wrote {args.out}")
    return 0
