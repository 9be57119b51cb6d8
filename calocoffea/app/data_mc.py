"""Data/MC comparison of Z→ee electrons: 1-D input distributions, mean images and a classifier
that tells MC from data (thesis fig. 9.5: AUC 0.82 on ATLAS data).

The electrons are those of the analysis Z→ee selection (:func:`calocoffea.selection.select_zee`)
in an MC and a data(-like) file. Each electron is described by what the CNN sees, reduced to a
fixed-length vector: its 16 scalar inputs, the shower shapes and layer energies of its cluster,
its track, and coarse images (the middle layer on its 7×11 cells, the strip, presampler and
back layers as η profiles), each image normalised to E_acc. The cluster's middle-layer cell
time is compared in 1-D but is not a classifier input, as the CNN does not see time.

The MC is reweighted to the data ⟨μ⟩ distribution (unit-width bins) before anything is compared,
so that the classifier measures the detector's mis-modelling, not the pile-up profile. The
classifier (XGBoost, fixed hyper-parameters, seeded) trains on the electrons of even event
numbers and its ROC AUC is measured on those of odd event numbers, with a bootstrap error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np

log = logging.getLogger(__name__)

#: Entries read per chunk.
CHUNK_ENTRIES = 20_000
#: Cluster columns compared and classified (docs/data_format.md).
SHAPE_COLUMNS = ("rEta", "rPhi", "wEta2", "wS3", "f1", "f3", "eRatio", "sigmaIetaIeta", "r9")
#: The 1-D comparisons drawn (feature names of :func:`electron_features`).
PLOTTED = ("e_acc", "f0", "r12", "eta", "poscs2", "mu", "n_tracks", "n_vtx", "rEta", "rPhi",
           "wEta2", "wS3", "f1", "f3", "eRatio", "sigmaIetaIeta", "r9", "track_pt_over_e",
           "cluster_time")
#: Classifier hyper-parameters (fixed: the AUC measures the samples, not a tuning).
XGB_PARAMS = {"objective": "binary:logistic", "eval_metric": "auc", "max_depth": 5,
              "eta": 0.1, "subsample": 0.8, "colsample_bytree": 0.8, "min_child_weight": 5,
              "tree_method": "hist"}
N_ROUNDS = 400
N_BOOTSTRAP = 50


@dataclass
class Electrons:
    """Per-electron features (float64 arrays), event numbers, ⟨μ⟩, and the sums of the
    E_acc-normalised images (4, 56, 11) for the mean images."""

    features: dict[str, np.ndarray]
    event: np.ndarray
    mu: np.ndarray
    image_sum: np.ndarray
    files: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.event)


def _coarse_images(images: np.ndarray, e_acc: np.ndarray
                   ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Middle layer on its 7×11 cells, strips as 14 η bins, presampler and back as 7."""
    norm = images.astype(np.float64) / np.where(e_acc > 0, e_acc, 1.0)[:, None, None, None]
    n = len(norm)
    out = {}
    l2 = norm[:, 2].reshape(n, 7, 8, 11).sum(axis=2)
    for i in range(7):
        for j in range(11):
            out[f"img2_{i}_{j}"] = l2[:, i, j]
    for layer, bins in ((1, 14), (0, 7), (3, 7)):
        prof = norm[:, layer].sum(axis=2).reshape(n, bins, 56 // bins).sum(axis=2)
        for i in range(bins):
            out[f"img{layer}_eta{i}"] = prof[:, i]
    return out, norm.sum(axis=0)


def electron_features(path: str | Path, max_events: int | None = None) -> Electrons:
    """The selected Z→ee electrons of ``path`` with their features (module docstring)."""
    from calocoffea.bdt.columns import object_columns
    from calocoffea.cnn.inputs import cluster_time, inputs_from_events, scalar_names
    from calocoffea.cnn.training.labels import selected_zee_chunks

    path = Path(path)
    names = scalar_names("electron")
    parts, events_, mus, image_sum = [], [], [], np.zeros((4, 56, 11))
    for start, ev, obj in selected_zee_chunks(path, CHUNK_ENTRIES, max_events):
        inputs = inputs_from_events(obj, ev, "electron")
        keep = inputs.valid
        feats = {n: inputs.scalars[:, k].astype(np.float64) for k, n in enumerate(names)}
        cols = object_columns(obj, "electron")
        for c in SHAPE_COLUMNS:
            feats[c] = cols[c]
        feats["track_pt_over_e"] = np.nan_to_num(cols["trackPt"], nan=0.0) / np.where(
            feats["e_acc"] > 0, feats["e_acc"] / np.cosh(feats["eta"]), 1.0)
        feats["cluster_time"] = cluster_time(obj)
        coarse, img_sum = _coarse_images(inputs.images[keep], feats["e_acc"][keep])
        image_sum += img_sum
        part = {k: v[keep] for k, v in feats.items()}
        part.update(coarse)
        parts.append(part)
        events_.append(np.repeat(ak.to_numpy(ev.event), 2)[keep])
        mus.append(np.repeat(ak.to_numpy(ev.Pileup.nTrueInt).astype(np.float64), 2)[keep])
        log.info("%s [%d:...): %d electrons", path.name, start, int(keep.sum()))
    feats = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return Electrons(feats, np.concatenate(events_), np.concatenate(mus), image_sum,
                     [str(path)])


def mu_weights(mu_mc: np.ndarray, mu_data: np.ndarray) -> np.ndarray:
    """Per-MC-object weights that give the MC the data's ⟨μ⟩ distribution (unit-width bins;
    MC bins without data get 0), normalised to a mean of 1."""
    lo = np.floor(min(mu_mc.min(), mu_data.min()))
    hi = np.ceil(max(mu_mc.max(), mu_data.max())) + 1
    edges = np.arange(lo, hi + 1)
    h_mc, _ = np.histogram(mu_mc, edges)
    h_data, _ = np.histogram(mu_data, edges)
    ratio = np.where(h_mc > 0, h_data / np.maximum(h_mc, 1), 0.0)
    w = ratio[np.clip(np.searchsorted(edges, mu_mc, side="right") - 1, 0, len(ratio) - 1)]
    return w / w.mean()


def classify(mc: Electrons, data: Electrons, *, weights_mc: np.ndarray, seed: int = 1,
             n_threads: int = 1) -> dict:
    """Train MC (label 0) vs data (label 1) on even event numbers and measure the weighted
    ROC AUC on odd ones, with a bootstrap error; the classifier inputs are every feature but
    the cluster time."""
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    names = [k for k in mc.features if k != "cluster_time"]
    x = np.concatenate([np.stack([mc.features[k] for k in names], axis=1),
                        np.stack([data.features[k] for k in names], axis=1)])
    y = np.concatenate([np.zeros(len(mc)), np.ones(len(data))])
    # each class carries the same total weight: the AUC is that of balanced samples
    w = np.concatenate([weights_mc / weights_mc.sum(), np.ones(len(data)) / len(data)])
    w *= len(w) / w.sum()
    test = np.concatenate([mc.event, data.event]) % 2 == 1
    rng = np.random.default_rng(seed)
    train_idx = np.flatnonzero(~test)
    val = rng.random(len(train_idx)) < 0.2  # early stopping on a fifth of the train half
    params = {**XGB_PARAMS, "seed": seed, "nthread": n_threads}
    dtrain = xgb.DMatrix(x[train_idx[~val]], y[train_idx[~val]], weight=w[train_idx[~val]],
                         feature_names=names)
    dval = xgb.DMatrix(x[train_idx[val]], y[train_idx[val]], weight=w[train_idx[val]],
                       feature_names=names)
    booster = xgb.train(params, dtrain, N_ROUNDS, evals=[(dval, "val")],
                        early_stopping_rounds=30, verbose_eval=False)
    xt, yt, wt = x[test], y[test], w[test]
    score = booster.predict(xgb.DMatrix(xt, feature_names=names),
                            iteration_range=(0, booster.best_iteration + 1))
    auc = float(roc_auc_score(yt, score, sample_weight=wt))
    boots = []
    for _ in range(N_BOOTSTRAP):
        b = rng.integers(0, len(yt), len(yt))
        boots.append(roc_auc_score(yt[b], score[b], sample_weight=wt[b]))
    gain = booster.get_score(importance_type="gain")
    top = dict(sorted(gain.items(), key=lambda kv: -kv[1])[:10])
    return {"auc": auc, "auc_err": float(np.std(boots)), "n_test_mc": int(np.sum(yt == 0)),
            "n_test_data": int(np.sum(yt == 1)), "n_rounds": booster.best_iteration + 1,
            "top_features_by_gain": {k: float(v) for k, v in top.items()},
            "inputs": len(names)}


def plot_comparisons(mc: Electrons, data: Electrons, weights_mc: np.ndarray, out_dir: Path
                     ) -> list[Path]:
    """1-D MC (⟨μ⟩-reweighted, normalised to data) vs data with ratio panels, and the mean
    images of the four layers with their data/MC ratio; returns the written PNGs."""
    import hist
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    names = [n for n in PLOTTED if n in mc.features]
    ncol = 4
    nrow = (len(names) + ncol - 1) // ncol
    fig, axes = plt.subplots(2 * nrow, ncol, figsize=(4 * ncol, 4.2 * nrow),
                             gridspec_kw={"height_ratios": [3, 1] * nrow})
    for k, name in enumerate(names):
        ax, rax = axes[2 * (k // ncol), k % ncol], axes[2 * (k // ncol) + 1, k % ncol]
        xm, xd = mc.features[name], data.features[name]
        fin = np.concatenate([xm[np.isfinite(xm)], xd[np.isfinite(xd)]])
        lo, hi = np.quantile(fin, [0.005, 0.995]) if fin.size else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        axis = hist.axis.Regular(40, lo, hi, name=name, flow=True)
        hm = hist.Hist(axis, storage=hist.storage.Weight()).fill(xm, weight=weights_mc)
        hd = hist.Hist(axis, storage=hist.storage.Weight()).fill(xd)
        scale = hd.sum(flow=True).value / max(hm.sum(flow=True).value, 1e-12)
        hm = hm * scale
        mplhep.histplot(hm, ax=ax, label="MC", histtype="fill", alpha=0.4)
        mplhep.histplot(hd, ax=ax, label="data", histtype="errorbar", color="k")
        ax.set_xlabel("")
        ax.set_title(name, fontsize=9)
        if k == 0:
            ax.legend(fontsize=8)
        vm, vd = hm.values(), hd.values()
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(vm > 0, vd / vm, np.nan)
            err = np.where(vm > 0, np.sqrt(hd.variances()) / vm, np.nan)
        rax.errorbar(axis.centers, ratio, yerr=err, fmt="k.", ms=3)
        rax.axhline(1.0, color="grey", lw=0.8)
        rax.set_ylim(0.7, 1.3)
        rax.set_ylabel("data/MC", fontsize=8)
    for k in range(len(names), nrow * ncol):
        axes[2 * (k // ncol), k % ncol].axis("off")
        axes[2 * (k // ncol) + 1, k % ncol].axis("off")
    fig.tight_layout()
    path = out_dir / "data_mc_inputs.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    written.append(path)

    fig, axes = plt.subplots(3, 4, figsize=(12, 11))
    mean_mc = mc.image_sum / max(len(mc), 1)
    mean_data = data.image_sum / max(len(data), 1)
    for layer in range(4):
        for row, (img, title) in enumerate(((mean_mc[layer], "MC"), (mean_data[layer], "data"))):
            im = axes[row, layer].imshow(img, aspect="auto", origin="lower", cmap="viridis")
            axes[row, layer].set_title(f"layer {layer}: mean {title} E/E_acc", fontsize=9)
            fig.colorbar(im, ax=axes[row, layer])
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(mean_mc[layer] > 1e-5, mean_data[layer] / mean_mc[layer] - 1, np.nan)
        im = axes[2, layer].imshow(rel, aspect="auto", origin="lower", cmap="coolwarm",
                                   vmin=-0.1, vmax=0.1)
        axes[2, layer].set_title(f"layer {layer}: data/MC − 1", fontsize=9)
        fig.colorbar(im, ax=axes[2, layer])
    for ax in axes.flat:
        ax.set_xlabel("φ pixel")
        ax.set_ylabel("η pixel")
    fig.tight_layout()
    path = out_dir / "data_mc_mean_images.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    written.append(path)
    return written


@dataclass(frozen=True)
class DataMCConfig:
    """``calocoffea validate data-mc``: MC and data(-like) Z→ee files, at most
    ``max_events`` events of each file, plots into ``out_dir`` (None: no plots)."""

    mc: tuple[str, ...]
    data: tuple[str, ...]
    max_events: int | None = None
    out_dir: Path | None = None
    reweight_mu: bool = True
    seed: int = 1
    n_threads: int = 1


def _read(files: tuple[str, ...], max_events: int | None) -> Electrons:
    parts = [electron_features(f, max_events) for f in files]
    if not parts:
        raise ValueError("no input files")
    feats = {k: np.concatenate([p.features[k] for p in parts]) for k in parts[0].features}
    # event numbers restart in every file: offset them so that the parity split stays
    # event-wise and the files do not collide
    events = np.concatenate([p.event + np.uint64(2 * k * 10**9) for k, p in enumerate(parts)])
    return Electrons(feats, events, np.concatenate([p.mu for p in parts]),
                     sum(p.image_sum for p in parts), [f for p in parts for f in p.files])


def compare(cfg: DataMCConfig) -> dict:
    """Read, reweight, classify and (with ``out_dir``) plot; returns the JSON-ready result."""
    mc = _read(cfg.mc, cfg.max_events)
    data = _read(cfg.data, cfg.max_events)
    w = mu_weights(mc.mu, data.mu) if cfg.reweight_mu else np.ones(len(mc))
    result = {"mc_files": mc.files, "data_files": data.files, "n_mc": len(mc),
              "n_data": len(data), "mu_reweighted": cfg.reweight_mu,
              "classifier": classify(mc, data, weights_mc=w, seed=cfg.seed,
                                     n_threads=cfg.n_threads)}
    means = {}
    for name in PLOTTED:
        if name not in mc.features:
            continue
        xm, xd = mc.features[name], data.features[name]
        fm, fd = np.isfinite(xm), np.isfinite(xd)
        mean_mc = float(np.average(xm[fm], weights=w[fm])) if fm.any() else None
        mean_data = float(np.mean(xd[fd])) if fd.any() else None
        means[name] = {"mc": mean_mc, "data": mean_data}
    result["means"] = means
    if cfg.out_dir is not None:
        result["plots"] = [str(p) for p in plot_comparisons(mc, data, w, Path(cfg.out_dir))]
    return result
