"""Training, tuning and export of the standard (BDT) calibration (``calocoffea train bdt``).

Three XGBoost (``hist``) regressions — electrons, unconverted and converted photons — learn
r = E_true / E_acc from the table-1.2 variables (:mod:`calocoffea.bdt.inputs`).
Objects are split event-wise into train/validation/test (60/20/20, seeded). A random search
over depth, learning rate, min_child_weight, row subsampling and the loss (squared or
absolute error) trains every trial on the training split with early stopping on the
validation loss; the trial with the smallest validation eIQR75 of E_calib/E_true is kept.
Each model is exported to ONNX (onnxmltools), checked against XGBoost, evaluated on the test
split against E_acc corrected by a per-(|η|, E_T^acc)-bin median response, and written with a
JSON model card to ``BDTTrainingConfig.out``. The command line is
:mod:`calocoffea.app.commands.train_bdt`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calocoffea.bdt.evaluation import MedianResponseCorrection, compare, eiqr, margin
from calocoffea.bdt.inputs import MODELS, feature_card, feature_matrix, feature_names
from calocoffea.bdt.standard import TARGET, model_paths, sha256_file

log = logging.getLogger(__name__)

#: ONNX opset: the highest the onnxmltools XGBoost converter supports (1.16).
ONNX_OPSET = 15
INPUT_NAME = "features"
OUTPUT_NAME = "ratio"
#: Training-only sanity cut on the target; evaluation always uses every object.
TARGET_RANGE = (0.2, 5.0)
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)

#: Random-search space (documented in the model card).
SEARCH_SPACE: dict[str, list | tuple] = {
    "max_depth": [4, 6, 8, 10],
    "learning_rate": ("log-uniform", 0.05, 0.3),
    "min_child_weight": [1, 5, 20, 100],
    "subsample": [0.7, 0.85, 1.0],
    "objective": ["reg:squarederror", "reg:absoluteerror"],
}


@dataclass
class Dataset:
    """One model's objects: features, E_acc, η, E_true and the train/val/test split."""

    model: str
    x: np.ndarray
    e_acc: np.ndarray
    eta: np.ndarray
    e_true: np.ndarray
    split: np.ndarray  # 0 train, 1 validation, 2 test

    def part(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        m = self.split == k
        return self.x[m], self.e_acc[m], self.eta[m], self.e_true[m]


@dataclass
class BDTTrainingConfig:
    """What ``calocoffea train bdt`` trains: the training files per particle (or ``toy``
    objects per particle instead), where the models go, the seed of the split, the search and
    XGBoost, and the search budget. ``eval_electron``/``eval_photon`` are extra held-out MC
    files evaluated after training (added to the cards)."""

    electron: list[Path] = field(default_factory=list)
    photon: list[Path] = field(default_factory=list)
    toy: int | None = None
    out: Path = Path("models")
    seed: int = 1
    n_trials: int = 12
    max_rounds: int = 2000
    search_objects: int = 50_000
    early_stopping: int = 50
    max_objects: int | None = None
    nthread: int = 1
    eval_electron: list[Path] = field(default_factory=list)
    eval_photon: list[Path] = field(default_factory=list)


def _event_split(keys: np.ndarray, seed: int) -> np.ndarray:
    """0/1/2 per object, drawn per unique event so objects of one event stay together."""
    uniq, inverse = np.unique(keys, return_inverse=True)
    u = np.random.default_rng([seed, 7]).random(len(uniq))
    a, b = SPLIT_FRACTIONS[0], SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1]
    per_event = np.where(u < a, 0, np.where(u < b, 1, 2))
    return per_event[inverse].astype(np.int8)


def _subset(columns: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[mask] for k, v in columns.items()}


def build_datasets(
    tables: dict[str, list[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]],
    seed: int,
    max_objects: int | None = None,
) -> dict[str, Dataset]:
    """Per-model datasets from per-particle [(columns, e_true, event_key), ...] lists."""
    out: dict[str, Dataset] = {}
    for particle, parts in tables.items():
        cols = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
        e_true = np.concatenate([p[1] for p in parts])
        keys = np.concatenate([p[2] for p in parts])
        split = _event_split(keys, seed)
        if particle == "electron":
            masks = {"electron": np.ones(len(e_true), dtype=bool)}
        else:
            conv = np.asarray(cols["convType"]) > 0
            masks = {"photon_unconverted": ~conv, "photon_converted": conv}
        for model, mask in masks.items():
            idx = np.flatnonzero(mask)
            if max_objects is not None and len(idx) > max_objects:
                idx = np.sort(np.random.default_rng([seed, 11]).choice(idx, max_objects, False))
            sub = _subset(cols, idx)
            out[model] = Dataset(
                model=model,
                x=feature_matrix(sub, model),
                e_acc=np.asarray(sub["eAcc"], dtype=np.float64),
                eta=np.asarray(sub["eta"], dtype=np.float64),
                e_true=e_true[idx],
                split=split[idx],
            )
    return out


def _sample_configs(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng([seed, 13])
    configs = []
    for _ in range(n):
        cfg = {}
        for name, space in SEARCH_SPACE.items():
            if isinstance(space, tuple):
                _, lo, hi = space
                cfg[name] = round(float(math.exp(rng.uniform(math.log(lo), math.log(hi)))), 4)
            else:
                cfg[name] = space[int(rng.integers(len(space)))]
        configs.append(cfg)
    return configs


def _fit_mask(e_acc: np.ndarray, e_true: np.ndarray) -> np.ndarray:
    """Rows used in fits and early stopping: E_acc > 0 and the target inside TARGET_RANGE."""
    with np.errstate(divide="ignore", invalid="ignore"):
        y = e_true / e_acc
    return (e_acc > 0) & (y > TARGET_RANGE[0]) & (y < TARGET_RANGE[1])


def _train_one(ds: Dataset, trial: dict, cfg: BDTTrainingConfig, max_train: int | None = None):
    """Train one configuration with early stopping; ``max_train`` caps the training rows
    (a seeded subset) to keep the search affordable on a shared CPU."""
    import xgboost as xgb

    x_tr, ea_tr, _, et_tr = ds.part(0)
    x_va, ea_va, _, et_va = ds.part(1)
    y_tr = et_tr / ea_tr
    y_va = et_va / ea_va
    ok_tr = _fit_mask(ea_tr, et_tr)
    ok_va = _fit_mask(ea_va, et_va)
    if max_train is not None and ok_tr.sum() > max_train:
        keep = np.random.default_rng([cfg.seed, 17]).choice(
            np.flatnonzero(ok_tr), max_train, replace=False
        )
        ok_tr = np.zeros_like(ok_tr)
        ok_tr[keep] = True
    dtr = xgb.DMatrix(x_tr[ok_tr], label=y_tr[ok_tr], feature_names=feature_names(ds.model))
    dva = xgb.DMatrix(x_va[ok_va], label=y_va[ok_va], feature_names=feature_names(ds.model))
    params = {
        "tree_method": "hist",
        "objective": trial["objective"],
        "max_depth": trial["max_depth"],
        "eta": trial["learning_rate"],
        "min_child_weight": trial["min_child_weight"],
        "subsample": trial["subsample"],
        "nthread": cfg.nthread,
        "seed": cfg.seed,
    }
    t0 = time.perf_counter()
    booster = xgb.train(
        params, dtr, num_boost_round=cfg.max_rounds, evals=[(dva, "val")],
        early_stopping_rounds=cfg.early_stopping, verbose_eval=False,
    )
    n_trees = booster.best_iteration + 1
    val_loss = float(booster.best_score)
    booster = booster[:n_trees]  # the ONNX export must contain exactly the kept trees
    seconds = time.perf_counter() - t0
    r_va = booster.predict(xgb.DMatrix(x_va, feature_names=feature_names(ds.model)))
    resp = ea_va * r_va / et_va
    row = {
        **trial,
        "n_trees": n_trees,
        "val_loss": val_loss,
        "val_eIQR75": eiqr(resp, 75),
        "val_eIQR95": eiqr(resp, 95),
        "fit_seconds": round(seconds, 1),
    }
    return booster, row, int(ok_tr.sum())


def export_onnx(booster, n_features: int, path: Path, name: str = "bdt") -> None:
    """Write the booster as ONNX: float32 input ``features`` [N, n_features], output ``ratio``
    [N, 1] (predicted E_true/E_acc). Byte-identical for identical boosters."""
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    # the converter maps features by position and needs the default f0..fN names
    booster = booster[:]
    booster.feature_names = None
    onx = convert_xgboost(
        booster, initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        target_opset=ONNX_OPSET,
    )
    # the converter names the graph with a random uuid; a fixed name keeps exports reproducible
    onx.graph.name = name
    for node in onx.graph.node:
        node.output[:] = [OUTPUT_NAME if o == onx.graph.output[0].name else o for o in node.output]
    onx.graph.output[0].name = OUTPUT_NAME
    path.write_bytes(onx.SerializeToString())


def onnx_agreement(booster, onnx_path: Path, x: np.ndarray) -> float:
    """Max relative difference between ONNX (onnxruntime) and XGBoost predictions on ``x``."""
    import onnxruntime as ort
    import xgboost as xgb

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    p_onnx = sess.run(None, {INPUT_NAME: x.astype(np.float32)})[0].reshape(-1)
    p_xgb = booster.predict(xgb.DMatrix(x, feature_names=booster.feature_names))
    return float(np.max(np.abs(p_onnx / p_xgb - 1.0)))


def _file_info(path: Path) -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return {"path": str(path), "sha256": h.hexdigest(), "bytes": path.stat().st_size}


def _versions() -> dict[str, str]:
    import onnxmltools
    import onnxruntime
    import xgboost

    return {"xgboost": xgboost.__version__, "onnxmltools": onnxmltools.__version__,
            "onnxruntime": onnxruntime.__version__, "numpy": np.__version__}


def reproduce_command(cfg: BDTTrainingConfig) -> str:
    """The command line that rebuilds the models of this run."""
    parts = ["calocoffea", "train", "bdt"]
    if cfg.toy is not None:
        parts += ["--toy", str(cfg.toy)]
    else:
        parts += ["--electron", *map(str, cfg.electron), "--photon", *map(str, cfg.photon)]
    parts += ["--out", str(cfg.out), "--seed", str(cfg.seed), "--n-trials", str(cfg.n_trials),
              "--max-rounds", str(cfg.max_rounds), "--early-stopping", str(cfg.early_stopping),
              "--search-objects", str(cfg.search_objects),
              "--nthread", str(cfg.nthread)]
    if cfg.max_objects is not None:
        parts += ["--max-objects", str(cfg.max_objects)]
    if cfg.eval_electron:
        parts += ["--eval-electron", *map(str, cfg.eval_electron)]
    if cfg.eval_photon:
        parts += ["--eval-photon", *map(str, cfg.eval_photon)]
    return shlex.join(parts)


def train_model(ds: Dataset, cfg: BDTTrainingConfig, sources: list[dict]) -> dict:
    """Search, train, export and evaluate one model; returns its model card (also written)."""
    onnx_path, card_path = model_paths(cfg.out, ds.model)
    counts = [int(np.sum(ds.split == k)) for k in range(3)]
    if min(counts) < 50:
        raise ValueError(f"{ds.model}: too few objects for train/val/test {counts}")
    log.info("%s: train/val/test = %s objects", ds.model, counts)

    table, best = [], None
    for i, trial in enumerate(_sample_configs(cfg.n_trials, cfg.seed)):
        booster, row, n_fit = _train_one(ds, trial, cfg, max_train=cfg.search_objects)
        row = {"trial": i, "n_fit": n_fit, **row}
        table.append(row)
        log.info("%s trial %d: %s", ds.model, i, row)
        if best is None or row["val_eIQR75"] < best[1]["val_eIQR75"]:
            best = (booster, row, n_fit)
    booster, best_row, n_fit = best
    refit = None
    _, ea_tr, _, et_tr = ds.part(0)
    if n_fit < int(np.sum(_fit_mask(ea_tr, et_tr))):
        booster, refit, n_fit = _train_one(ds, {k: best_row[k] for k in SEARCH_SPACE}, cfg)
        refit = {"n_fit": n_fit, **refit}
        log.info("%s refit on the full training split: %s", ds.model, refit)
    final = refit or best_row

    export_onnx(booster, ds.x.shape[1], onnx_path, name=f"bdt_{ds.model}")
    x_te, ea_te, eta_te, et_te = ds.part(2)
    agreement = onnx_agreement(booster, onnx_path, x_te[:1000])
    if not agreement < 1e-5:
        raise RuntimeError(f"{ds.model}: ONNX and XGBoost differ by {agreement:.2e} (relative)")

    _, ea_tr, eta_tr, et_tr = ds.part(0)
    reference = MedianResponseCorrection.fit(ea_tr, eta_tr, et_tr)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    r_te = sess.run(None, {INPUT_NAME: x_te})[0].reshape(-1).astype(np.float64)
    result = compare(et_te, eta_te, {
        "bdt": ea_te * r_te,
        "median_response": reference.energy(ea_te, eta_te),
        "e_acc": ea_te,
    })
    test_margin = margin(result["bdt"]["all"]["eIQR75"],
                         result["median_response"]["all"]["eIQR75"])

    card = {
        "name": f"bdt_{ds.model}",
        "description": "standard (ATLAS-like BDT) energy calibration, thesis table 1.2 inputs",
        "model": ds.model,
        "onnx": onnx_path.name,
        "sha256": sha256_file(onnx_path),
        "onnx_opset": ONNX_OPSET,
        "target": TARGET,
        "energy": "E_calib [GeV] = output * eAcc",
        "input": {"name": INPUT_NAME, "dtype": "float32", "shape": [None, ds.x.shape[1]],
                  "features": feature_card(ds.model),
                  "computed_by": "calocoffea.bdt.inputs.feature_matrix"},
        "output": {"name": sess.get_outputs()[0].name, "dtype": "float32", "shape": [None, 1],
                   "meaning": "predicted E_true / E_acc"},
        "training": {
            "files": sources,
            "seed": cfg.seed,
            "split": {"method": "per event, seeded", "fractions": list(SPLIT_FRACTIONS),
                      "n_train": counts[0], "n_validation": counts[1], "n_test": counts[2]},
            "n_fit_after_target_cut": n_fit,
            "target_cut": f"{TARGET_RANGE[0]} < E_true/E_acc < {TARGET_RANGE[1]}, E_acc > 0 "
                          "(training and early stopping only)",
        },
        "hyperparameters": {"tree_method": "hist", **{k: best_row[k] for k in SEARCH_SPACE},
                            "n_trees": final["n_trees"], "nthread": cfg.nthread},
        "search": {
            "method": "random search, each trial early-stopped on the validation loss, "
                      "selection by validation eIQR75; the chosen configuration is refitted "
                      "on the whole training split (early-stopped again)",
            "train_objects_per_trial": cfg.search_objects,
            "n_trials": cfg.n_trials,
            "max_rounds": cfg.max_rounds,
            "early_stopping_rounds": cfg.early_stopping,
            "space": {k: list(v) for k, v in SEARCH_SPACE.items()},
            "table": table,
            "best_trial": best_row["trial"],
            "refit": refit,
        },
        "validation": {"eIQR75": final["val_eIQR75"], "eIQR95": final["val_eIQR95"]},
        "test": result,
        "test_margin_vs_median_response": {
            "reIQR75": test_margin,
            "definition": "1 - eIQR75(bdt) / eIQR75(median_response), held-out test split",
        },
        "reference_median_response": {
            "definition": "E_acc / median(E_acc/E_true) in (|eta|, E_T^acc) bins of the "
                          "training split",
            "abs_eta_edges": reference.abs_eta_edges.tolist(),
            "et_edges": reference.et_edges.tolist(),
            "median": np.round(reference.median, 6).tolist(),
        },
        "onnx_vs_xgboost_max_rel_diff": agreement,
        "versions": _versions(),
        "reproduce": reproduce_command(cfg),
    }
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    return card


def _load_tables(cfg: BDTTrainingConfig) -> tuple[dict, dict[str, list[dict]]]:
    if cfg.toy is not None:
        from calocoffea.bdt.toy import toy_gun_columns

        tables, sources = {}, {}
        for k, particle in enumerate(("electron", "photon")):
            cols, e_true = toy_gun_columns(cfg.toy, particle, seed=cfg.seed * 100 + k)
            tables[particle] = [(cols, e_true, np.arange(cfg.toy))]
            sources[particle] = [{"path": f"toy:{particle}:{cfg.toy}",
                                  "seed": cfg.seed * 100 + k}]
        return tables, sources

    from calocoffea.bdt.samples import read_objects

    if not cfg.photon:
        raise ValueError("--photon FILE is required with --electron")
    tables, sources = {}, {}
    for particle, files in (("electron", cfg.electron), ("photon", cfg.photon)):
        tables[particle], sources[particle] = [], []
        for i, path in enumerate(files):
            t = read_objects(path, particle, truth=True)
            if len(t) == 0:
                raise ValueError(f"{path}: no matched {particle}s")
            key = (np.int64(i) << 40) + t.event.astype(np.int64)
            tables[particle].append((t.columns, t.e_true, key))
            sources[particle].append({**_file_info(Path(path)), "n_objects": len(t),
                                      "n_unmatched_dropped": t.n_unmatched})
    return tables, sources


def train_all(cfg: BDTTrainingConfig) -> dict[str, dict]:
    """Train the three models; returns {model: card}."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    tables, sources = _load_tables(cfg)
    datasets = build_datasets(tables, cfg.seed, cfg.max_objects)
    cards = {}
    for model in MODELS:
        particle = "electron" if model == "electron" else "photon"
        cards[model] = train_model(datasets[model], cfg, sources[particle])
    if cfg.eval_electron or cfg.eval_photon:
        _evaluate_samples(cfg, cards)
    return cards


def _evaluate_samples(cfg: BDTTrainingConfig, cards: dict[str, dict]) -> None:
    """Evaluate the exported models on the extra MC samples and add that to the cards."""
    from calocoffea.bdt.standard import load_standard_calibration
    from calocoffea.bdt.validate import evaluate_file

    calib = load_standard_calibration(cfg.out)
    for particle, files, models in (
        ("electron", cfg.eval_electron, ("electron",)),
        ("photon", cfg.eval_photon, ("photon_unconverted", "photon_converted")),
    ):
        for path in files:
            res = evaluate_file(path, particle, calib)
            log.info("%s: %s eIQR75 bdt %.4f, median response %.4f", path, particle,
                     res["bdt"]["all"]["eIQR75"], res["median_response"]["all"]["eIQR75"])
            for model in models:
                cards[model].setdefault("eval_samples", []).append(res)
    for model, card in cards.items():
        model_paths(cfg.out, model)[1].write_text(json.dumps(card, indent=1) + "\n")
