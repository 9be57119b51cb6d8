"""``calocoffea quantize``: the static int8 model of a DeepCalo CNN, with its resolution
guard.

Example::

    calocoffea quantize --particle electron --train train_zee_s1101.root \\
        --test test_zee_s9101.root --out int8/

writes ``int8/deepcalo_electron.int8.onnx`` and its card ``int8/deepcalo_electron.int8.json``
(the guard result inside: per-|η| eIQR75 of the int8 and the float model on the held-out
objects). Copy both beside the float model to ship them: the processors then run int8 by
default (``--precision``). Exit status 0 when the guard passed, 1 when it failed (the files
are still written, marked failed), 2 for bad inputs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--particle", choices=["electron", "photon"], required=True)
    parser.add_argument("--model", type=Path, default=None,
                        help="float model .onnx (default: the shipped deepcalo_<particle>.onnx)")
    parser.add_argument("--train", nargs="+", required=True, metavar="FILE",
                        help="training ROOT files: calibration objects")
    parser.add_argument("--test", nargs="+", required=True, metavar="FILE",
                        help="held-out MC ROOT files: the resolution guard")
    parser.add_argument("--out", type=Path, required=True,
                        help="directory for <stem>.int8.onnx and its card (not models/)")
    parser.add_argument("--max-train", type=int, default=8192,
                        help="objects read per training file (calibration draws 4096)")
    parser.add_argument("--max-test", type=int, default=None,
                        help="objects read per held-out file (default all)")
    parser.add_argument("--cache-dir", default=None,
                        help="per-file input-array cache (calocoffea.cnn.training.dataset)")
    parser.add_argument("--method", choices=["MinMax", "Percentile", "Entropy"],
                        default="MinMax", help="activation-range calibration")
    parser.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales")
    parser.add_argument("--quantise-input-conv", action="store_true",
                        help="also quantise the first convolution (raw GeV inputs)")
    parser.add_argument("--seed", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    from calocoffea.cnn.inference import ModelError, card_with_time, load_card
    from calocoffea.cnn.quantize import QuantisationConfig, build_int8
    from calocoffea.cnn.training.dataset import build_sample
    from calocoffea.resources import cnn_model_path, shipped_models_dir

    model = args.model if args.model is not None else cnn_model_path(args.particle)
    try:
        if not Path(model).is_file():
            raise ModelError(f"float model {model} not found")
        card = load_card(model)
        if card.get("precision", "fp32") != "fp32":
            raise ModelError(f"{model} is a {card['precision']} model, not a float one")
        if card.get("particle") not in (None, args.particle):
            raise ModelError(f"{model} is a {card['particle']} model, asked for "
                             f"{args.particle}")
        for f in [*args.train, *args.test]:
            if not Path(f).is_file():
                raise FileNotFoundError(f"input file {f} not found")
        if Path(args.out).resolve() == shipped_models_dir().resolve():
            raise ModelError(f"--out {args.out} is the package's shipped models folder: write "
                             "elsewhere and ship the int8 model and its card by copying them")
        if Path(args.out).resolve() == Path(model).resolve().parent:
            log.warning("writing the int8 model beside the float model in %s", args.out)
    except (ModelError, FileNotFoundError) as err:
        print(f"calocoffea quantize: {err}", file=sys.stderr)
        return 2
    config = QuantisationConfig(method=args.method, per_channel=not args.per_tensor,
                                skip_input_conv=not args.quantise_input_conv)
    # a time-channel model is calibrated and checked on images with times
    with_time = card_with_time(card)
    train = build_sample(args.train, args.particle, max_objects=args.max_train,
                         cache_dir=args.cache_dir, with_time=with_time)
    test = build_sample(args.test, args.particle, max_objects=args.max_test,
                        cache_dir=args.cache_dir, with_time=with_time)
    path, card = build_int8(model, train, test, args.out, config, seed=args.seed)
    g = card["guard"]
    print(json.dumps({"model": str(path), "passed": g["passed"],
                      "max_abs_relative": g["max_abs_relative"], "limit": g["limit"],
                      "relative": [b["relative"] for b in g["bins"]]}))
    return 0 if g["passed"] else 1
