"""``calocoffea resolution``: the BDT resolution table σ_rel(|η|, E_T) from processor outputs.

Reads the ``response`` histograms of one or more processor outputs of held-out MC (summed;
e.g. a Z→ee output for electrons and an H→γγ one for photons), measures IQR/1.349 of
E/E_true per (|η|, E_T) bin for ``bdt`` and ``bdt_shapes`` and writes the correctionlib JSON
the processors load (:mod:`calocoffea.uncertainty`). Regenerate the shipped table with::

    calocoffea run ... --calibrations bdt,bdt_shapes,truth   # zee, hgamgam, zmumugamma MC
    calocoffea resolution zee.hist.zip hgg.hist.zip zmmg.hist.zip \
        --out calocoffea/tables/bdt_resolution.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outputs", type=Path, nargs="+", help="processor outputs (MC)")
    parser.add_argument("--out", type=Path, required=True, help="correctionlib JSON to write")
    parser.add_argument("--min-objects", type=int, default=None,
                        help="objects a bin needs to be measured (default "
                             "calocoffea.uncertainty.MIN_TABLE_OBJECTS)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow pickled (.coffea) outputs")


def run(args: argparse.Namespace) -> int:
    from calocoffea import uncertainty as unc
    from calocoffea.execution.outputs import OutputFormatError, dataset_outputs, load_output

    total = None
    sources = []
    for path in args.outputs:
        try:
            datasets = dataset_outputs(load_output(path, trust_pickle=args.trust_pickle),
                                       str(path))
        except (OutputFormatError, OSError, ValueError) as err:
            print(f"calocoffea resolution: cannot read {path}: {err}", file=sys.stderr)
            return 1
        for name, out in datasets.items():
            if "response" not in out or out.get("meta", {}).get("kind") == "data":
                print(f"calocoffea resolution: {path} dataset {name!r} has no response "
                      "histogram (data?)", file=sys.stderr)
                return 1
            total = out["response"] if total is None else total + out["response"]
            sources.append(f"{path.name}:{name} ({out.get('meta', {}).get('channel')})")
    min_objects = args.min_objects if args.min_objects is not None else unc.MIN_TABLE_OBJECTS
    try:
        entries = unc.derive_resolution_table(total, min_objects=min_objects)
    except ValueError as err:
        print(f"calocoffea resolution: {err}", file=sys.stderr)
        return 1
    unc.write_resolution_table(args.out, entries,
                               description="calocoffea BDT energy resolution from "
                                           + ", ".join(sources))
    for e in entries:
        print(f"{e.calibration}/{e.particle}: {int(e.n.sum())} objects, "
              f"{int(e.measured.sum())}/{e.measured.size} bins measured")
    print(f"wrote {args.out}")
    return 0
