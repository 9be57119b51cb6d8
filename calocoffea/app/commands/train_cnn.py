"""``calocoffea train cnn``: the command line of :mod:`calocoffea.cnn.training.workflow`."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--particle", choices=["electron", "photon"], required=True)
    parser.add_argument("--train", nargs="+", default=[], metavar="FILE",
                        help="simulated MC files (NanoAOD-style ROOT) to train on")
    parser.add_argument("--test", nargs="*", default=[], metavar="FILE",
                        help="held-out MC files (seeds never used in training) to evaluate on")
    parser.add_argument("--out", default=None,
                        help="output .onnx (card written beside it); default "
                        "models/deepcalo_<particle>.onnx")
    parser.add_argument("--config", choices=["lite", "full"], default="lite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (2 threads on a busy machine spin-wait: slower)")
    parser.add_argument("--epochs", type=int, default=None, help="override the config")
    parser.add_argument("--lr-max", type=float, default=None,
                        help="peak learning rate of the one-cycle schedule (override the "
                        "config; e.g. lower for a fine-tune with --init-from)")
    parser.add_argument("--max-objects", type=int, default=None,
                        help="at most this many objects per training file")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop training after the epoch that passes this wall time")
    parser.add_argument("--mislabel-k", type=float, default=None,
                        help="thesis eq. 3.4 cut |E_BDT/E_true - 1| < k on the training sample")
    parser.add_argument("--sigma", action="store_true",
                        help="second output sigma' trained with the Gaussian NLL (eq. 4.4)")
    parser.add_argument("--cache-dir", default=None,
                        help="cache the per-file input arrays here (default data/cache)")
    parser.add_argument("--bdt-models", default=None, metavar="DIR",
                        help="recompute the standard (BDT) energy of the --test objects with "
                        "the models in DIR (for test files generated with "
                        "--no-standard-calibration); default: the file's pt*cosh(eta)")
    parser.add_argument("--data-train", nargs="*", default=[], metavar="FILE",
                        help="ensemble training (thesis eq. 5.9): data-like Z->ee files whose "
                        "electrons, labelled with E_label,data (eq. 5.6), are trained on "
                        "together with the MC files (electrons)")
    parser.add_argument("--data-weight", type=float, default=None,
                        help="weight of the data-like sample's mean loss in the ensemble "
                        "loss (default 1, thesis eq. 5.9); needs --data-train")
    parser.add_argument("--type-scalar", action="store_true",
                        help="thesis 5.4: an MC/data type scalar as an extra input (the "
                        "exported model runs in data mode); needs --data-train")
    parser.add_argument("--equalise-to", nargs="*", default=[], metavar="FILE",
                        help="thesis 7.4 histogram equalisation: map the MC scalar inputs "
                        "onto the marginals of these data-like Z->ee files (electrons)")
    parser.add_argument("--time-channels", choices=["none", "concat", "gate"], default="none",
                        help="thesis 7.4 time channel: the four layer-time images as four "
                        "more input channels (concat) or as a per-pixel sigmoid gate on the "
                        "layer energies (gate); reads CaloCell_time")
    parser.add_argument("--init-from", default=None, metavar="PT",
                        help="fine-tune: start from the network and preprocessing of the .pt "
                        "a previous training wrote beside its .onnx")
    parser.add_argument("--eval-only", action="store_true",
                        help="only evaluate the existing --out model on --test and update "
                        "its card")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # training progress is always shown (the root logger may be at WARNING)
    logging.getLogger("calocoffea.cnn.training").setLevel(logging.INFO)
    from calocoffea.cnn.training.evaluate import format_table
    from calocoffea.cnn.training.workflow import CNNTrainingConfig, train_cnn

    if args.eval_only and not args.test:
        print("calocoffea train cnn: --eval-only needs --test FILES", file=sys.stderr)
        return 2
    if not args.eval_only and not args.train:
        print("calocoffea train cnn: --train FILES is required", file=sys.stderr)
        return 2
    rest = sys.argv[sys.argv.index("cnn") + 1 :] if "cnn" in sys.argv else []
    cfg = CNNTrainingConfig(
        particle=args.particle, train=list(args.train), test=list(args.test), out=args.out,
        config=args.config, seed=args.seed, threads=args.threads, epochs=args.epochs,
        lr_max=args.lr_max, data_weight=args.data_weight,
        max_objects=args.max_objects, max_minutes=args.max_minutes, mislabel_k=args.mislabel_k,
        sigma=args.sigma, cache_dir=args.cache_dir, bdt_models=args.bdt_models,
        eval_only=args.eval_only, data_train=list(args.data_train),
        type_scalar=args.type_scalar, equalise_to=list(args.equalise_to),
        init_from=args.init_from, time_channels=args.time_channels,
        reproduce=shlex.join(["calocoffea", "train", "cnn", *rest]) if rest else None,
    )
    try:
        card = train_cnn(cfg)
    except (ValueError, FileNotFoundError) as err:
        print(f"calocoffea train cnn: {err}", file=sys.stderr)
        return 2
    out = cfg.out_path()
    if not cfg.eval_only:
        print(f"validation ({card['training']['n_val']} objects):\n"
              f"{format_table(card['validation'])}")
        print("ONNX vs torch max relative difference on 1000 objects: "
              f"{card['onnx_vs_torch_max_rel_diff_1000']:.2e}")
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0
