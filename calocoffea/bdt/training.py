"""Training, tuning and export of the BDT calibrations (``calocoffea train bdt``).

For each variant (``bdt``: the egammaMVACalib inputs; ``bdt_shapes``: those plus shower
shapes, :mod:`calocoffea.bdt.inputs`), three XGBoost (``hist``) regressions — electrons,
unconverted and converted photons — learn r = E_true / E_acc. The objects of the training
files are split event-wise into training and validation (85/15, seeded: the fraction the CNN
keeps for validation, so that both learn from the same objects of the same files). A random
search over depth, learning rate, min_child_weight, row subsampling and the loss (squared or
absolute error) trains every trial on a seeded subset of the training split with early
stopping on the validation loss; the trial with the smallest validation eIQR75 of
E_calib/E_true is kept and refitted on the whole training split. A learning curve refits that
configuration on nested halves of the training split (validation eIQR75 against training
size). Each model is exported to ONNX (onnxmltools), checked against XGBoost, evaluated on
held-out files (``eval_electron``/``eval_photon``, never used in training) against E_acc
corrected by a per-(|η|, E_T^acc)-bin median response, and written with a JSON model card to
``BDTTrainingConfig.out``. The command line is :mod:`calocoffea.app.commands.train_bdt`.
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

from calocoffea.bdt.evaluation import MedianResponseCorrection, compare, eiqr
from calocoffea.bdt.inputs import (
    MODELS,
    VARIANTS,
    feature_card,
    feature_matrix,
    feature_names,
    photon_is_converted,
)
from calocoffea.bdt.standard import TARGET, model_paths, sha256_file

log = logging.getLogger(__name__)

#: ONNX opset: the highest the onnxmltools XGBoost converter supports (1.16).
ONNX_OPSET = 15
INPUT_NAME = "features"
OUTPUT_NAME = "ratio"
#: Training-only sanity cut on the target; evaluation always uses every object.
TARGET_RANGE = (0.2, 5.0)
#: Training / validation fractions of the per-event split of the training files.
SPLIT_FRACTIONS = (0.85, 0.15)

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
    """One model's objects: features, E_acc, η, E_true and the split (0 train, 1 val)."""

    model: str
    variant: str
    x: np.ndarray
    e_acc: np.ndarray
    eta: np.ndarray
    e_true: np.ndarray
    split: np.ndarray

    def part(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        m = self.split == k
        return self.x[m], self.e_acc[m], self.eta[m], self.e_true[m]


@dataclass
class BDTTrainingConfig:
    """What ``calocoffea train bdt`` trains: the training files per particle (or ``toy``
    objects per particle instead), the variants, where the models go, the seed of the split,
    the search and XGBoost, the search budget and the learning curve. ``eval_electron`` /
    ``eval_photon`` are held-out MC files (never in training) for the test figures."""

    electron: list[Path] = field(default_factory=list)
    photon: list[Path] = field(default_factory=list)
    toy: int | None = None
    out: Path = Path("models")
    variants: tuple[str, ...] = VARIANTS
    seed: int = 1
    n_trials: int = 12
    max_rounds: int = 2000
    search_objects: int = 50_000
    early_stopping: int = 50
    max_objects: int | None = None
    nthread: int = 1
    #: Learning-curve points: the full training split and this many halvings of it.
    learning_curve_halvings: int = 3
    eval_electron: list[Path] = field(default_factory=list)
    eval_photon: list[Path] = field(default_factory=list)


def _event_split(keys: np.ndarray, seed: int) -> np.ndarray:
    """0 (train) / 1 (validation) per object, drawn per unique event so objects of one
    event stay together."""
    uniq, inverse = np.unique(keys, return_inverse=True)
    u = np.random.default_rng([seed, 7]).random(len(uniq))
    return (u >= SPLIT_FRACTIONS[0]).astype(np.int8)[inverse]


def _subset(columns: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[mask] for k, v in columns.items()}


def _model_masks(particle: str, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if particle == "electron":
        return {"electron": np.ones(len(cols["eAcc"]), dtype=bool)}
    conv = photon_is_converted(cols["convType"])
    return {"photon_unconverted": ~conv, "photon_converted": conv}


def build_datasets(
    tables: dict[str, list[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]],
    seed: int,
    max_objects: int | None = None,
    variant: str = "bdt",
) -> dict[str, Dataset]:
    """Per-model datasets of ``variant`` from per-particle [(columns, e_true, event_key),
    ...] lists."""
    out: dict[str, Dataset] = {}
    for particle, parts in tables.items():
        cols = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
        e_true = np.concatenate([p[1] for p in parts])
        keys = np.concatenate([p[2] for p in parts])
        split = _event_split(keys, seed)
        for model, mask in _model_masks(particle, cols).items():
            idx = np.flatnonzero(mask)
            if max_objects is not None and len(idx) > max_objects:
                idx = np.sort(np.random.default_rng([seed, 11]).choice(idx, max_objects, False))
            sub = _subset(cols, idx)
            out[model] = Dataset(
                model=model,
                variant=variant,
                x=feature_matrix(sub, model, variant),
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


def _train_one(ds: Dataset, trial: dict, cfg: BDTTrainingConfig, max_train: int | None = None,
               subset_seed: int = 17):
    """Train one configuration with early stopping; ``max_train`` caps the training rows
    (the first rows of a seeded permutation, so growing caps give nested subsets)."""
    import xgboost as xgb

    x_tr, ea_tr, _, et_tr = ds.part(0)
    x_va, ea_va, _, et_va = ds.part(1)
    y_tr = et_tr / ea_tr
    y_va = et_va / ea_va
    ok_tr = _fit_mask(ea_tr, et_tr)
    ok_va = _fit_mask(ea_va, et_va)
    if max_train is not None and ok_tr.sum() > max_train:
        perm = np.random.default_rng([cfg.seed, subset_seed]).permutation(np.flatnonzero(ok_tr))
        ok_tr = np.zeros_like(ok_tr)
        ok_tr[perm[:max_train]] = True
    names = feature_names(ds.model, ds.variant)
    dtr = xgb.DMatrix(x_tr[ok_tr], label=y_tr[ok_tr], feature_names=names)
    dva = xgb.DMatrix(x_va[ok_va], label=y_va[ok_va], feature_names=names)
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
    r_va = booster.predict(xgb.DMatrix(x_va, feature_names=names))
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
    parts += ["--out", str(cfg.out), "--variants", ",".join(cfg.variants), "--seed",
              str(cfg.seed), "--n-trials", str(cfg.n_trials), "--max-rounds",
              str(cfg.max_rounds), "--early-stopping", str(cfg.early_stopping),
              "--search-objects", str(cfg.search_objects), "--nthread", str(cfg.nthread),
              "--learning-curve", str(cfg.learning_curve_halvings)]
    if cfg.max_objects is not None:
        parts += ["--max-objects", str(cfg.max_objects)]
    if cfg.eval_electron:
        parts += ["--eval-electron", *map(str, cfg.eval_electron)]
    if cfg.eval_photon:
        parts += ["--eval-photon", *map(str, cfg.eval_photon)]
    return shlex.join(parts)


def learning_curve(ds: Dataset, best: dict, cfg: BDTTrainingConfig, n_full: int,
                   full_row: dict) -> dict:
    """The chosen configuration refitted on nested halves of the training split: points
    (training objects, validation eIQR75, trees), smallest first, ending with the full
    refit, and the relative eIQR75 change of the last doubling."""
    points = []
    for k in range(cfg.learning_curve_halvings, 0, -1):
        n = max(50, n_full // 2**k)
        _, row, n_fit = _train_one(ds, best, cfg, max_train=n, subset_seed=23)
        points.append({"n_train": n_fit, "val_eIQR75": row["val_eIQR75"],
                       "n_trees": row["n_trees"]})
        log.info("%s %s learning curve: %d objects -> eIQR75 %.5f", ds.variant, ds.model,
                 n_fit, row["val_eIQR75"])
    points.append({"n_train": n_full, "val_eIQR75": full_row["val_eIQR75"],
                   "n_trees": full_row["n_trees"]})
    last = (points[-1]["val_eIQR75"] / points[-2]["val_eIQR75"] - 1.0
            if len(points) > 1 else None)
    return {"points": points, "last_doubling_relative_change": last,
            "definition": "eIQR75 of E/E_true on the validation split; each point refits "
                          "the chosen hyperparameters on the first n objects of one seeded "
                          "permutation of the training split (nested subsets)"}


def _held_out(ds: Dataset, onnx_path: Path, reference: MedianResponseCorrection,
              tables: list[tuple[dict, np.ndarray]]) -> dict | None:
    """Test figures on the held-out tables: this model's objects of each (columns, e_true),
    BDT vs the median-response reference vs E_acc (overall and per |η| region)."""
    import onnxruntime as ort

    if not tables:
        return None
    particle = "electron" if ds.model == "electron" else "photon"
    cols_all, e_true = [], []
    for cols, et in tables:
        m = _model_masks(particle, cols)[ds.model]
        cols_all.append(_subset(cols, m))
        e_true.append(et[m])
    cols = {k: np.concatenate([c[k] for c in cols_all]) for k in cols_all[0]}
    e_true = np.concatenate(e_true)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = feature_matrix(cols, ds.model, ds.variant)
    r = sess.run(None, {INPUT_NAME: x})[0].reshape(-1).astype(np.float64)
    e_acc = np.asarray(cols["eAcc"], dtype=np.float64)
    eta = np.asarray(cols["eta"], dtype=np.float64)
    return compare(e_true, eta, {
        "bdt": e_acc * r, "median_response": reference.energy(e_acc, eta), "e_acc": e_acc,
    })


def train_model(ds: Dataset, cfg: BDTTrainingConfig, sources: list[dict],
                held_out: list[tuple[dict, np.ndarray]], held_out_sources: list[dict]) -> dict:
    """Search, train, learning curve, export and held-out evaluation of one model; returns
    its model card (also written)."""
    onnx_path, card_path = model_paths(cfg.out, ds.model, ds.variant)
    counts = [int(np.sum(ds.split == k)) for k in range(2)]
    if min(counts) < 50:
        raise ValueError(f"{ds.variant} {ds.model}: too few objects for train/val {counts}")
    log.info("%s %s: train/val = %s objects", ds.variant, ds.model, counts)

    table, best = [], None
    for i, trial in enumerate(_sample_configs(cfg.n_trials, cfg.seed)):
        booster, row, n_fit = _train_one(ds, trial, cfg, max_train=cfg.search_objects)
        row = {"trial": i, "n_fit": n_fit, **row}
        table.append(row)
        log.info("%s %s trial %d: %s", ds.variant, ds.model, i, row)
        if best is None or row["val_eIQR75"] < best[1]["val_eIQR75"]:
            best = (booster, row, n_fit)
    booster, best_row, n_fit = best
    refit = None
    _, ea_tr, _, et_tr = ds.part(0)
    if n_fit < int(np.sum(_fit_mask(ea_tr, et_tr))):
        booster, refit, n_fit = _train_one(ds, {k: best_row[k] for k in SEARCH_SPACE}, cfg)
        refit = {"n_fit": n_fit, **refit}
        log.info("%s %s refit on the full training split: %s", ds.variant, ds.model, refit)
    final = refit or best_row
    curve = learning_curve(ds, {k: best_row[k] for k in SEARCH_SPACE}, cfg, n_fit, final)

    export_onnx(booster, ds.x.shape[1], onnx_path, name=f"{ds.variant}_{ds.model}")
    x_va = ds.part(1)[0]
    agreement = onnx_agreement(booster, onnx_path, x_va[:1000])
    if not agreement < 1e-5:
        raise RuntimeError(f"{ds.model}: ONNX and XGBoost differ by {agreement:.2e} (relative)")

    _, ea_tr, eta_tr, et_tr = ds.part(0)
    reference = MedianResponseCorrection.fit(ea_tr, eta_tr, et_tr)
    test = _held_out(ds, onnx_path, reference, held_out)

    card = {
        "name": f"{ds.variant}_{ds.model}",
        "calibration": ds.variant,
        "description": {
            "bdt": "standard calibration: ATLAS egammaMVACalib inputs on the supercluster",
            "bdt_shapes": "strong baseline: egammaMVACalib inputs plus shower shapes and the "
                          "per-layer window energies",
        }[ds.variant],
        "model": ds.model,
        "onnx": onnx_path.name,
        "sha256": sha256_file(onnx_path),
        "onnx_opset": ONNX_OPSET,
        "target": TARGET,
        "energy": "E_calib [GeV] = output * eAcc",
        "input": {"name": INPUT_NAME, "dtype": "float32", "shape": [None, ds.x.shape[1]],
                  "features": feature_card(ds.model, ds.variant),
                  "computed_by": "calocoffea.bdt.inputs.feature_matrix"},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [None, 1],
                   "meaning": "predicted E_true / E_acc"},
        "training": {
            "files": sources,
            "seed": cfg.seed,
            "split": {"method": "per event, seeded", "fractions": list(SPLIT_FRACTIONS),
                      "n_train": counts[0], "n_validation": counts[1]},
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
        "learning_curve": curve,
        "validation": {"eIQR75": final["val_eIQR75"], "eIQR95": final["val_eIQR95"]},
        "test": test,
        "test_files": held_out_sources,
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


def _read_tables(files: list[Path], particle: str) -> tuple[list, list[dict]]:
    from calocoffea.bdt.samples import read_objects

    tables, sources = [], []
    for i, path in enumerate(files):
        t = read_objects(path, particle, truth=True)
        if len(t) == 0:
            raise ValueError(f"{path}: no matched {particle}s")
        key = (np.int64(i) << 40) + t.event.astype(np.int64)
        tables.append((t.columns, t.e_true, key))
        sources.append({**_file_info(Path(path)), "n_objects": len(t),
                        "n_unmatched_dropped": t.n_unmatched})
    return tables, sources


def _load_tables(cfg: BDTTrainingConfig):
    """(training tables, their sources, held-out tables, their sources) per particle."""
    if cfg.toy is not None:
        from calocoffea.bdt.toy import toy_gun_columns

        tables, sources, held, held_src = {}, {}, {}, {}
        for k, particle in enumerate(("electron", "photon")):
            cols, e_true = toy_gun_columns(cfg.toy, particle, seed=cfg.seed * 100 + k)
            tables[particle] = [(cols, e_true, np.arange(cfg.toy))]
            sources[particle] = [{"path": f"toy:{particle}:{cfg.toy}",
                                  "seed": cfg.seed * 100 + k}]
            evals = cfg.eval_electron if particle == "electron" else cfg.eval_photon
            if evals:  # held-out files given: those are the test sample
                ev_tables, held_src[particle] = _read_tables(evals, particle)
                held[particle] = [(c, e) for c, e, _ in ev_tables]
                continue
            n_test = max(cfg.toy // 4, 200)
            cols, e_true = toy_gun_columns(n_test, particle, seed=cfg.seed * 100 + 50 + k)
            held[particle] = [(cols, e_true)]
            held_src[particle] = [{"path": f"toy:{particle}:{n_test}",
                                   "seed": cfg.seed * 100 + 50 + k}]
        return tables, sources, held, held_src
    if not cfg.photon:
        raise ValueError("photon training files are required with electron ones")
    tables, sources, held, held_src = {}, {}, {}, {}
    for particle, files, evals in (("electron", cfg.electron, cfg.eval_electron),
                                   ("photon", cfg.photon, cfg.eval_photon)):
        tables[particle], sources[particle] = _read_tables(files, particle)
        ev_tables, held_src[particle] = _read_tables(evals, particle)
        held[particle] = [(c, e) for c, e, _ in ev_tables]
    return tables, sources, held, held_src


def train_all(cfg: BDTTrainingConfig) -> dict[str, dict[str, dict]]:
    """Train the three models of every variant; returns {variant: {model: card}}."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    unknown = [v for v in cfg.variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown BDT variant(s) {unknown}; choose from {VARIANTS}")
    tables, sources, held, held_src = _load_tables(cfg)
    cards: dict[str, dict[str, dict]] = {}
    for variant in cfg.variants:
        datasets = build_datasets(tables, cfg.seed, cfg.max_objects, variant)
        cards[variant] = {}
        for model in MODELS:
            particle = "electron" if model == "electron" else "photon"
            cards[variant][model] = train_model(
                datasets[model], cfg, sources[particle], held[particle], held_src[particle]
            )
    return cards
