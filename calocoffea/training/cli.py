"""``calocoffea train cnn``: build the sample, train, export to ONNX with its model card, and
optionally evaluate on held-out files. torch is imported only when the command runs."""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shlex
import sys
import time
from pathlib import Path

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
    parser.add_argument("--eval-only", action="store_true",
                        help="only evaluate the existing --out model on --test and update "
                        "its card")


def input_spec(particle: str, n_channels: int) -> list[dict]:
    """The card's ``inputs`` entry: names, shapes (None = batch), units, columns."""
    from calocoffea.features import IMAGE_SHAPE, N_TRACKS, SCALARS, TRACK_VARS

    cols = [{"name": n, "unit": u, "description": d} for n, u, d in SCALARS[particle]]
    tcols = [{"name": n, "unit": u, "description": d} for n, u, d in TRACK_VARS]
    return [
        {"name": "images", "shape": [None, n_channels, *IMAGE_SHAPE], "dtype": "float32",
         "units": "GeV", "description": "layer energies 0-3 on the 56x11 eta x phi grid "
         "(calocoffea.images)"},
        {"name": "scalars", "shape": [None, len(cols)], "dtype": "float32", "columns": cols},
        {"name": "tracks", "shape": [None, N_TRACKS, len(tcols)], "dtype": "float32",
         "description": "tracks within dR < 0.4 sorted by pT*exp(-dR/0.1), zero-padded",
         "columns": tcols},
    ]


def _evaluate(model_path: Path, files: list[str], particle: str, cache_dir,
              bdt_models: str | None = None) -> dict:
    from calocoffea.inference import load_model
    from calocoffea.training.dataset import build_sample
    from calocoffea.training.evaluate import format_table, resolution_table

    bdt = None
    if bdt_models is not None:
        from calocoffea.calibration.standard import load_standard_calibration

        bdt = load_standard_calibration(Path(bdt_models))
    s = build_sample(files, particle, cache_dir=cache_dir, bdt=bdt)
    model = load_model(model_path)
    feed = {"images": s.images.astype("float32"), "scalars": s.scalars, "tracks": s.tracks}
    ratio = model.predict(feed)["ratio"]
    e_cnn = ratio * s.e_acc
    table = resolution_table(e_cnn, s.e_bdt, s.e_true, s.eta, s.mu)
    table["files"] = [str(f) for f in files]
    table["bdt_energy"] = (
        "file pt*cosh(eta)" if bdt is None else
        f"recomputed with {bdt_models}/bdt_*.onnx from the file's cluster columns"
    )
    if bdt_models is not None:
        from calocoffea.training.export import sha256_file

        table["bdt_models_sha256"] = {
            p.name: sha256_file(p) for p in sorted(Path(bdt_models).glob("bdt_*.onnx"))
        }
    log.info("held-out %s resolution, CNN vs BDT:\n%s", particle, format_table(table))
    # second reference: E_acc corrected by its median response in (|eta|, E_T) bins, fitted on
    # this very sample (favours the reference); independent of the BDT models
    from calocoffea.calibration.evaluation import MedianResponseCorrection

    ref = MedianResponseCorrection.fit(s.e_acc, s.eta, s.e_true).energy(s.e_acc, s.eta)
    ref_table = resolution_table(e_cnn, ref, s.e_true, s.eta, s.mu)
    log.info("CNN vs E_acc median-response reference:\n%s", format_table(ref_table))
    table["vs_median_response_reference"] = ref_table
    return table


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # training progress is always shown (the root logger may be at WARNING)
    logging.getLogger("calocoffea.training").setLevel(logging.INFO)
    from calocoffea.resources import data_dir, models_dir

    out = Path(args.out) if args.out else models_dir() / f"deepcalo_{args.particle}.onnx"
    cache_dir = Path(args.cache_dir) if args.cache_dir else data_dir() / "cache"
    if args.eval_only:
        if not args.test:
            print("--eval-only needs --test FILES", file=sys.stderr)
            return 2
        from calocoffea.training.export import write_card

        card = json.loads(out.with_suffix(".json").read_text())
        card["test"] = _evaluate(out, args.test, args.particle, cache_dir, args.bdt_models)
        write_card(out, card)
        return 0
    if not args.train:
        print("calocoffea train cnn: --train FILES is required", file=sys.stderr)
        return 2

    import numpy as np

    from calocoffea.training.dataset import build_sample, mislabel_mask
    from calocoffea.training.export import write_card
    from calocoffea.training.model import preset

    cfg = preset(args.config)
    if args.epochs is not None:
        cfg.epochs = args.epochs
    cfg.sigma_output = bool(args.sigma)
    t0 = time.time()
    sample = build_sample(args.train, args.particle, max_objects=args.max_objects,
                          cache_dir=cache_dir)
    n_read = len(sample)
    if args.mislabel_k is not None:
        sample = sample.subset(np.flatnonzero(mislabel_mask(sample, args.mislabel_k)))
    log.info("training sample: %d %ss (%d before the mislabel cut), read in %.0f s",
             len(sample), args.particle, n_read, time.time() - t0)
    rest = sys.argv[sys.argv.index("cnn") + 1 :] if "cnn" in sys.argv else []
    card = train_and_export(
        sample, cfg, out, seed=args.seed, threads=args.threads, max_minutes=args.max_minutes,
        training_info={"files": [str(f) for f in args.train], "mislabel_k": args.mislabel_k,
                       "max_objects_per_file": args.max_objects},
        reproduce=shlex.join(["calocoffea", "train", "cnn", *rest]) if rest else None,
    )
    from calocoffea.training.evaluate import format_table

    print(f"validation ({card['training']['n_val']} objects):\n"
          f"{format_table(card['validation'])}")
    print("ONNX vs torch max relative difference on 1000 objects: "
          f"{card['onnx_vs_torch_max_rel_diff_1000']:.2e}")
    if args.test:
        card["test"] = _evaluate(out, args.test, args.particle, cache_dir, args.bdt_models)
        write_card(out, card)
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


def train_and_export(sample, cfg, out: Path, *, seed: int, threads: int = 2,
                     max_minutes: float | None = None, training_info: dict | None = None,
                     reproduce: str | None = None) -> dict:
    """Train on ``sample``, export ``out`` (.onnx) and write its card; returns the card."""

    import numpy as np
    import onnxruntime as ort
    import torch

    from calocoffea.features import TRACK_VARS, scalar_names
    from calocoffea.training.export import export_onnx, write_card
    from calocoffea.training.model import count_flops
    from calocoffea.training.train import predict, train

    particle = sample.particle
    res = train(sample, cfg, seed=seed, threads=threads, max_minutes=max_minutes)
    n_s, n_t = len(scalar_names(particle)), len(TRACK_VARS)
    outputs = export_onnx(res.model, out, n_s, n_t)
    # ONNX vs torch on (up to) 1000 objects, recorded in the card
    check = sample.subset(np.arange(min(1000, len(sample))))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    onnx_ratio = sess.run(["ratio"], {"images": check.images.astype(np.float32),
                                      "scalars": check.scalars, "tracks": check.tracks})[0]
    torch_ratio, _ = predict(res.model, check)
    max_rel = float(np.max(np.abs(onnx_ratio - torch_ratio) / np.abs(torch_ratio)))
    card = {
        "model": "DeepCalo CNN (calocoffea.training)",
        "particle": particle,
        "target": "ratio = E_true / E_acc; calibrated energy = ratio * scalars[:, e_acc] (GeV)",
        "inputs": input_spec(particle, cfg.image_channels),
        "outputs": outputs,
        "output_description": {
            "ratio": "E_true/E_acc estimate, median bias correction per |eta| bin included",
            "sigma_prime": "log sigma^2 of eq. 4.4 in ratio units (only with --sigma)",
        },
        "preprocessing": {"in_graph": True, **res.preprocessing},
        "bias_correction": {"in_graph": True, **res.bias_correction},
        "config": cfg.to_dict(),
        "flops_per_object": count_flops(cfg, n_s, n_t),
        "n_parameters": int(sum(p.numel() for p in res.model.net.parameters())),
        "training": {
            **(training_info or {}), "n_objects": len(sample), "n_train": res.n_train,
            "n_val": res.n_val, "seed": seed, "threads": threads,
            "seconds": round(res.seconds, 1), "epochs_run": len(res.history),
            "stopped_early": res.stopped_early, "history": res.history,
            "torch": torch.__version__, "platform": platform.platform(), "device": "cpu",
        },
        "validation": res.validation,
        "onnx_vs_torch_max_rel_diff_1000": max_rel,
        "reproduce": reproduce,
    }
    write_card(out, card)
    return card
