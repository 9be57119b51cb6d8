"""``calocoffea stitch``: one dataset from the p_T slices of a process in a processor output.

The slices are datasets of one ``calocoffea run --lumi`` output (the inclusive one with
``boson_pt_max`` in its fileset metadata, the p_T-sliced ones with their cross-sections;
:mod:`calocoffea.stitching`); the written output holds the stitched dataset under
``--name`` beside the datasets that were not stitched, so that ``fit``, ``plot`` and the
pull checks read it as any other.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", type=Path, help="processor output (calocoffea run --lumi)")
    parser.add_argument("--datasets", required=True,
                        help="comma-separated datasets to stitch (the slices of one process)")
    parser.add_argument("--name", required=True, help="name of the stitched dataset")
    parser.add_argument("--out", required=True, type=Path,
                        help="output to write (.hist.zip, .hist.json)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow a pickled (.coffea/.pkl) output (can run code)")


def run(args: argparse.Namespace) -> int:
    from calocoffea.execution.outputs import (
        OutputFormatError,
        OutputPathError,
        check_output_paths,
        dataset_outputs,
        load_output,
        save_output,
    )
    from calocoffea.stitching import stitch

    names = [n for n in args.datasets.split(",") if n]
    try:
        check_output_paths({"--out": args.out}, [args.output])
        if not args.output.is_file():
            raise FileNotFoundError(f"{args.output}: no such file")
        datasets = dataset_outputs(load_output(args.output, trust_pickle=args.trust_pickle),
                                   str(args.output))
        unknown = [n for n in names if n not in datasets]
        if unknown:
            raise KeyError(f"{args.output}: no dataset {unknown}; datasets are "
                           f"{sorted(datasets)}")
        rest = {k: v for k, v in datasets.items() if k not in names}
        if args.name in rest:
            raise ValueError(f"--name {args.name!r} is a dataset that is not stitched")
        stitched = stitch({n: datasets[n] for n in names})
        stitched["meta"]["dataset"] = args.name
        save_output({**rest, args.name: stitched}, args.out)
    except (OSError, KeyError, ValueError, OutputFormatError, OutputPathError) as err:
        print(f"calocoffea stitch: {err}", file=sys.stderr)
        return 2
    slices = ", ".join(f"{n} [{lo:g}, {'inf' if hi is None else f'{hi:g}'}) GeV"
                       for n, (lo, hi) in zip(stitched["meta"]["datasets"],
                                              stitched["meta"]["slices"], strict=True))
    print(f"wrote {args.out}: dataset {args.name!r} = {slices}")
    return 0
