"""Training loop of the DeepCalo CNN: logcosh on the ratio r = E_true/E_acc (with an
uncertainty head, plus the Gaussian NLL of eq. 4.4 for σ′ = ln σ² with the ratio held fixed,
so that learning σ does not pull the energy estimate), AdamW with a one-cycle learning rate,
early stopping on a validation split, then the per-|η| median bias correction and the σ
calibration per (|η|, E_T^acc) bin, both measured on the validation split."""

from __future__ import annotations

import itertools
import logging
import math
import random
import time
from dataclasses import dataclass

import numpy as np
import torch

from calocoffea.cnn.inputs import TRACK_LOG_VARS, scalar_names, track_names
from calocoffea.cnn.training.dataset import Sample
from calocoffea.cnn.training.evaluate import resolution_table
from calocoffea.cnn.training.export import DeepCaloExport
from calocoffea.cnn.training.model import DeepCaloNet, ModelConfig
from calocoffea.cnn.training.preprocessing import Preprocess, fit_preprocessing

log = logging.getLogger(__name__)

#: |η| edges of the median bias correction (0.1 wide up to the calorimeter edge 2.5)
BIAS_ETA_EDGES: list[float] = [round(0.1 * i, 1) for i in range(26)]
#: fewest validation objects for a bin's own correction (else the global median is used)
MIN_BIAS_OBJECTS = 50
#: Bins of the σ calibration: the analysis |η| bins and E_T^acc (GeV).
SIGMA_ETA_EDGES: list[float] = [0.0, 0.8, 1.37, 1.52, 2.01, 2.5]
SIGMA_ET_EDGES: list[float] = [0.0, 15.0, 25.0, 35.0, 45.0, 60.0, 100.0, 1e9]


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch; ask torch for deterministic algorithms."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (third-party code may use the global RNG)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def logcosh(pred: torch.Tensor, target: torch.Tensor, delta: float, *,
            reduce: bool = True) -> torch.Tensor:
    """δ·logcosh((pred − target)/δ) per object (its mean with ``reduce``), without
    overflow."""
    x = torch.abs(pred - target) / delta
    per = delta * (x + torch.log1p(torch.exp(-2.0 * x)) - math.log(2.0))
    return per.mean() if reduce else per


def gaussian_nll(pred: torch.Tensor, sigma_prime: torch.Tensor, target: torch.Tensor, *,
                 reduce: bool = True) -> torch.Tensor:
    """Thesis eq. 4.4 with σ² = exp(σ'): (y − ŷ)²/(2e^σ') + σ'/2 (averaged with ``reduce``)."""
    per = (target - pred) ** 2 / (2.0 * torch.exp(sigma_prime)) + 0.5 * sigma_prime
    return per.mean() if reduce else per


def ensemble_mean(per_object: torch.Tensor, is_data: torch.Tensor,
                  data_weight: float = 1.0) -> torch.Tensor:
    """Thesis eq. 5.9: the sum over the samples (MC, data) present in the batch of each
    sample's mean loss, the data mean weighted by ``data_weight`` (1 in the thesis); the
    plain mean when the batch holds one sample only."""
    n_data = int(is_data.sum())
    if n_data in (0, len(is_data)):
        return per_object.mean()
    return per_object[~is_data].mean() + data_weight * per_object[is_data].mean()


@dataclass
class TrainResult:
    model: DeepCaloExport
    preprocessing: dict
    bias_correction: dict
    history: list[dict]
    validation: dict
    n_train: int
    n_val: int
    seconds: float
    stopped_early: bool
    sigma_calibration: dict | None = None


def _batch(sample: Sample, idx: np.ndarray) -> tuple[torch.Tensor, ...]:
    return (
        torch.from_numpy(sample.images[idx].astype(np.float32)),
        torch.from_numpy(sample.scalars[idx]),
        torch.from_numpy(sample.tracks[idx]),
        torch.from_numpy(sample.target[idx]),
        torch.from_numpy(sample.is_data[idx]),
    )


def predict(model: torch.nn.Module, sample: Sample, batch_size: int = 4096, *,
            domain: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(ratio (n,), sigma_prime (n,) or None) of an eval-mode wrapper on ``sample``;
    ``domain`` is the type scalar fed to a ``type_scalar`` network (None: the exported
    graph's constant 1)."""
    model.eval()
    ratios, sigmas = [], []
    with torch.no_grad():
        for start in range(0, len(sample), batch_size):
            idx = np.arange(start, min(start + batch_size, len(sample)))
            img, sc, trk, _, _ = _batch(sample, idx)
            dom = None if domain is None else torch.full((len(idx),), float(domain))
            out = model(img, sc, trk, dom) if model.net.cfg.type_scalar else model(img, sc, trk)
            if isinstance(out, tuple):
                ratios.append(out[0].numpy())
                sigmas.append(out[1].numpy())
            else:
                ratios.append(out.numpy())
    r = np.concatenate(ratios) if ratios else np.zeros(0, np.float32)
    return r, (np.concatenate(sigmas) if sigmas else None)


def _bias_corrections(ratio_over_true: np.ndarray, aeta: np.ndarray) -> list[float]:
    overall = float(np.median(ratio_over_true))
    corr = []
    for lo, hi in itertools.pairwise(BIAS_ETA_EDGES):
        m = (aeta >= lo) & (aeta < hi)
        med = float(np.median(ratio_over_true[m])) if m.sum() >= MIN_BIAS_OBJECTS else overall
        corr.append(1.0 / med)
    return corr


def sigma_scale_table(ratio: np.ndarray, sigma_prime: np.ndarray, target: np.ndarray,
                      aeta: np.ndarray, et: np.ndarray) -> list[list[float]]:
    """s per (|η|, E_T) bin of :data:`SIGMA_ETA_EDGES` × :data:`SIGMA_ET_EDGES`: the robust
    width IQR/1.349 of the pulls (r − t)/σ, σ = exp(σ′/2); 1 for bins with fewer than
    :data:`MIN_BIAS_OBJECTS` objects."""
    pull = (ratio - target) / np.exp(0.5 * sigma_prime)
    out = []
    for lo, hi in itertools.pairwise(SIGMA_ETA_EDGES):
        row = []
        for elo, ehi in itertools.pairwise(SIGMA_ET_EDGES):
            m = (aeta >= lo) & (aeta < hi) & (et >= elo) & (et < ehi)
            if m.sum() < MIN_BIAS_OBJECTS:
                row.append(1.0)
                continue
            q25, q75 = np.percentile(pull[m], [25, 75])
            row.append(float((q75 - q25) / 1.349))
        out.append(row)
    return out


def train(sample: Sample, cfg: ModelConfig, seed: int, threads: int = 2,
          max_minutes: float | None = None, *, init_state: dict | None = None
          ) -> TrainResult:
    """Train on ``sample`` (split internally into train/validation) and return the eval-mode
    export wrapper with preprocessing and bias correction in place. ``init_state`` (the
    ``.pt`` a previous training wrote: ``{"net", "preprocessing"}``) starts from that
    network and keeps its preprocessing (fine-tuning)."""
    t0 = time.perf_counter()
    set_seed(seed)
    torch.set_num_threads(threads)
    if len(sample) and sample.is_data.all():
        raise ValueError("training sample without MC objects: the bias correction and the "
                         "sigma calibration need E_true")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(sample))
    n_val = max(round(cfg.val_fraction * len(sample)), 1)
    val, trn = sample.subset(np.sort(perm[:n_val])), sample.subset(np.sort(perm[n_val:]))
    particle = sample.particle
    s_names, t_names = scalar_names(particle), track_names()
    if init_state is not None:
        pre_params = init_state["preprocessing"]
    else:
        pre_params = fit_preprocessing(
            trn.scalars, trn.tracks, trn.tracks[:, :, 0] != 0, scalar_names=s_names,
            track_names=t_names, track_log=TRACK_LOG_VARS,
            eacc_index=s_names.index("e_acc"), eta_index=s_names.index("eta"),
        )
    pre = Preprocess(pre_params, cfg.image_channels)
    net = DeepCaloNet(cfg, len(s_names), len(t_names))
    if init_state is not None:
        net.load_state_dict(init_state["net"])
    elif cfg.sigma_output:
        with torch.no_grad():
            net.out.bias[1] = 2.0 * math.log(0.03)
    model = DeepCaloExport(pre, net, s_names.index("eta"), [0.0, 10.0], [1.0])
    steps_per_epoch = max(len(trn) // cfg.batch_size, 1)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr_max / 25, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr_max, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch
    )
    gen = torch.Generator().manual_seed(seed)

    def per_object(out, y):
        if cfg.sigma_output:
            return (logcosh(out[0], y, cfg.logcosh_delta, reduce=False)
                    + gaussian_nll(out[0].detach(), out[1], y, reduce=False))
        return logcosh(out, y, cfg.logcosh_delta, reduce=False)

    def forward(img, sc, trk, dom):
        return model(img, sc, trk, dom.to(torch.float32) if cfg.type_scalar else None)

    def val_loss() -> float:
        # eq. 5.9 on the whole validation split: per-sample means, summed
        model.eval()
        losses, doms = [], []
        with torch.no_grad():
            for start in range(0, len(val), 4096):
                idx = np.arange(start, min(start + 4096, len(val)))
                img, sc, trk, y, dom = _batch(val, idx)
                losses.append(per_object(forward(img, sc, trk, dom), y))
                doms.append(dom)
        return float(ensemble_mean(torch.cat(losses), torch.cat(doms), cfg.data_weight))

    best, best_state, bad_epochs, history = float("inf"), None, 0, []
    stopped_early = False
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(trn), generator=gen).numpy()
        run_loss = 0.0
        for step in range(steps_per_epoch):
            idx = np.sort(order[step * cfg.batch_size : (step + 1) * cfg.batch_size])
            img, sc, trk, y, dom = _batch(trn, idx)
            loss = ensemble_mean(per_object(forward(img, sc, trk, dom), y), dom,
                                 cfg.data_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run_loss += float(loss.detach())
        vl = val_loss()
        elapsed = time.perf_counter() - t0
        history.append({"epoch": epoch, "train_loss": run_loss / steps_per_epoch,
                        "val_loss": vl, "lr": sched.get_last_lr()[0], "seconds": elapsed})
        log.info("epoch %d: train %.6f val %.6f (%.0f s)", epoch, run_loss / steps_per_epoch,
                 vl, elapsed)
        if vl < best:
            best, bad_epochs = vl, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
            if bad_epochs >= cfg.patience:
                stopped_early = True
                log.info("early stopping after epoch %d", epoch)
                break
        if max_minutes is not None and elapsed > 60 * max_minutes:
            stopped_early = True
            log.warning("time limit of %.1f min reached after epoch %d", max_minutes, epoch)
            break
    model.load_state_dict(best_state)
    model.eval()
    # the corrections need E_true: measured on the MC objects of the validation split
    if val.is_data.all():
        raise ValueError("training sample without MC objects: the bias correction and the "
                         "sigma calibration need E_true")
    val = val.subset(np.flatnonzero(~val.is_data))
    # a type-scalar network: the corrections of its MC mode (the data mode, which the
    # exported graph runs, has no truth to measure them on)
    mode = 0.0 if cfg.type_scalar else None
    ratio, _ = predict(model, val, domain=mode)
    aeta = np.abs(val.eta)
    corr = _bias_corrections(ratio / val.target, aeta)
    final = DeepCaloExport(pre, net, s_names.index("eta"), BIAS_ETA_EDGES, corr,
                           eacc_index=s_names.index("e_acc")).eval()
    sigma_calibration = None
    if cfg.sigma_output:
        ratio_c, sigma_prime = predict(final, val, domain=mode)
        scale = sigma_scale_table(ratio_c, sigma_prime, val.target, aeta,
                                  val.e_acc / np.cosh(val.eta))
        final = DeepCaloExport(pre, net, s_names.index("eta"), BIAS_ETA_EDGES, corr,
                               eacc_index=s_names.index("e_acc"),
                               sigma_eta_edges=SIGMA_ETA_EDGES, sigma_et_edges=SIGMA_ET_EDGES,
                               sigma_scale=scale).eval()
        sigma_calibration = {"abs_eta_edges": SIGMA_ETA_EDGES, "et_edges": SIGMA_ET_EDGES,
                             "scale": scale, "measured_on": "validation split",
                             "definition": "sigma_prime += 2 ln s, s = IQR(pull)/1.349 of "
                                           "(r - E_true/E_acc)/exp(sigma_prime/2) per bin"}
    ratio_c, _ = predict(final, val, domain=mode)
    table = resolution_table(ratio_c * val.e_acc, val.e_bdt, val.e_true, val.eta, val.mu)
    return TrainResult(
        model=final, preprocessing=pre_params,
        bias_correction={"abs_eta_edges": BIAS_ETA_EDGES, "factors": corr,
                         "measured_on": "validation split"},
        sigma_calibration=sigma_calibration,
        history=history, validation=table, n_train=len(trn), n_val=len(val),
        seconds=time.perf_counter() - t0, stopped_early=stopped_early,
    )
