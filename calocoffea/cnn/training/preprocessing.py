"""Input standardisation fitted on the training sample and evaluated inside the ONNX graph.

Scalars (thesis §3.4, 9.6.3): RobustScaler ``(x − median) / IQR`` for well-behaved
variables; for heavy-tailed ones a quantile transform to a standard normal, implemented as a
piecewise-linear map through fitted quantile knots (exportable to ONNX with Min/Max/Mul).
Tracks: optional signed log ``sign(x)·log1p(|x|)`` for heavy tails, then robust scaling
over real (non-padded) tracks; padded tracks stay exactly zero. Images: divided by E_acc
(shape information; the energy scale reaches the network through the scalars).

``fit_preprocessing`` returns a JSON-serialisable dict stored in the model card;
:class:`Preprocess` rebuilds the torch module from it.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import ndtri
from torch import nn

#: number of quantile knots of the quantile transform
N_KNOTS = 64
#: robust-scaled values beyond this (0.5 % / 99.5 % quantiles) mark a heavy tail
HEAVY_TAIL_Z = 4.0
#: clip standardised values: protects the network from far outliers at inference time
CLIP = 8.0


def _robust(x: np.ndarray) -> tuple[float, float]:
    q1, q2, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    scale = q3 - q1
    if not np.isfinite(scale) or scale <= 0:
        # discrete/degenerate variables: fall back to the standard deviation, then 1
        scale = float(np.std(x)) or 1.0
    return float(q2), float(scale)


def _quantile_knots(x: np.ndarray) -> tuple[list[float], list[float]]:
    probs = np.linspace(0.0005, 0.9995, N_KNOTS)
    xk = np.quantile(x, probs)
    yk = ndtri(probs)
    # discrete variables give repeated knots: keep unique x, averaging their targets
    ux, inv = np.unique(xk, return_inverse=True)
    uy = np.bincount(inv, weights=yk) / np.bincount(inv)
    if len(ux) < 2:
        ux = np.array([ux[0] - 0.5, ux[0] + 0.5])
        uy = np.array([0.0, 0.0])
    return ux.tolist(), uy.tolist()


def fit_preprocessing(
    scalars: np.ndarray,
    tracks: np.ndarray,
    track_mask: np.ndarray,
    *,
    scalar_names: list[str],
    track_names: list[str],
    track_log: list[str],
    eacc_index: int,
    eta_index: int,
) -> dict:
    """Fit the standardisation on training arrays.

    scalars (n, S), tracks (n, 15, T), track_mask (n, 15) bool; names list the columns.
    Heavy-tailed scalars (robust z beyond ±4 at the 0.5/99.5 % quantiles) get the quantile
    transform. Returns the JSON-serialisable parameter dict.
    """
    scalar_params = []
    for j, name in enumerate(scalar_names):
        col = scalars[:, j].astype(np.float64)
        col = col[np.isfinite(col)]
        center, scale = _robust(col)
        lo, hi = np.quantile((col - center) / scale, [0.005, 0.995])
        heavy = bool(lo < -HEAVY_TAIL_Z or hi > HEAVY_TAIL_Z)
        entry = {"name": name, "center": center, "scale": scale, "quantile": heavy}
        if heavy:
            entry["knots_x"], entry["knots_y"] = _quantile_knots(col)
        scalar_params.append(entry)
    track_params = []
    real = tracks[track_mask.astype(bool)].astype(np.float64)
    for j, name in enumerate(track_names):
        col = real[:, j] if len(real) else np.zeros(1)
        log = name in track_log
        if log:
            col = np.sign(col) * np.log1p(np.abs(col))
        center, scale = _robust(col)
        track_params.append({"name": name, "center": center, "scale": scale, "signed_log": log})
    return {
        "version": 1,
        "scalars": scalar_params,
        "tracks": track_params,
        "eacc_index": int(eacc_index),
        "eta_index": int(eta_index),
        "image": "divided by E_acc (scalar eacc_index); time channels (if any) divided by 10 ns",
        "clip": CLIP,
    }


class Preprocess(nn.Module):
    """Raw physical inputs → standardised network inputs (exportable to ONNX)."""

    def __init__(self, params: dict, image_channels: int = 4):
        super().__init__()
        sp = params["scalars"]
        self.eacc_index = int(params["eacc_index"])
        self.image_channels = image_channels
        self.register_buffer("s_center", torch.tensor([p["center"] for p in sp]))
        self.register_buffer("s_scale", torch.tensor([p["scale"] for p in sp]))
        qidx = [i for i, p in enumerate(sp) if p["quantile"]]
        self.has_quantile = bool(qidx)
        k = max((len(sp[i]["knots_x"]) for i in qidx), default=2)
        # pad each feature's knots to k by repeating the last knot (zero-width segments)
        kx = np.zeros((len(sp), k), np.float32)
        ky = np.zeros((len(sp), k), np.float32)
        qmask = np.zeros(len(sp), np.float32)
        for i in qidx:
            x = np.asarray(sp[i]["knots_x"], np.float64)
            y = np.asarray(sp[i]["knots_y"], np.float64)
            kx[i, : len(x)], ky[i, : len(y)] = x, y
            kx[i, len(x):], ky[i, len(y):] = x[-1], y[-1]
            qmask[i] = 1.0
        widths = np.diff(kx, axis=1)
        dy = np.diff(ky, axis=1)
        slopes = np.divide(dy, widths, out=np.zeros_like(dy), where=widths > 0)
        self.register_buffer("q_x0", torch.from_numpy(kx[:, :-1].copy()))
        self.register_buffer("q_w", torch.from_numpy(widths.astype(np.float32)))
        self.register_buffer("q_slope", torch.from_numpy(slopes.astype(np.float32)))
        self.register_buffer("q_y0", torch.from_numpy(ky[:, 0].copy()))
        self.register_buffer("q_mask", torch.from_numpy(qmask))
        tp = params["tracks"]
        self.register_buffer("t_center", torch.tensor([p["center"] for p in tp]))
        self.register_buffer("t_scale", torch.tensor([p["scale"] for p in tp]))
        self.register_buffer("t_log", torch.tensor([float(p["signed_log"]) for p in tp]))
        self.clip = float(params.get("clip", CLIP))

    def scalars(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.s_center) / self.s_scale
        if self.has_quantile:
            d = x[:, :, None] - self.q_x0
            d = torch.minimum(torch.clamp(d, min=0.0), self.q_w)
            q = self.q_y0 + (d * self.q_slope).sum(dim=2)
            z = self.q_mask * q + (1.0 - self.q_mask) * z
        return torch.clamp(z, -self.clip, self.clip)

    def tracks(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # a padded track has all variables exactly zero; pT is never zero for a real one
        mask = (t[:, :, 0] != 0).to(t.dtype)
        tl = torch.sign(t) * torch.log1p(torch.abs(t))
        t = self.t_log * tl + (1.0 - self.t_log) * t
        z = torch.clamp((t - self.t_center) / self.t_scale, -self.clip, self.clip)
        return z * mask[:, :, None], mask

    def images(self, img: torch.Tensor, raw_scalars: torch.Tensor) -> torch.Tensor:
        eacc = torch.clamp(raw_scalars[:, self.eacc_index], min=1e-3)
        e = img[:, :4] / eacc[:, None, None, None]
        if self.image_channels > 4:
            return torch.cat([e, img[:, 4 : self.image_channels] / 10.0], dim=1)
        return e

    def forward(self, images, scalars, tracks):
        t, mask = self.tracks(tracks)
        return self.images(images, scalars), self.scalars(scalars), t, mask


#: quantiles of the histogram-equalisation maps (thesis §7.4)
N_EQUALISATION_QUANTILES = 201
#: scalars never equalised: the energy the target is a ratio to, and the position and the
#: integer-valued counts (a CDF map of a discrete variable is not a bijection)
NOT_EQUALISED = ("e_acc", "eta", "eta_index", "n_tracks", "n_vtx")


def equalisation_maps(mc: np.ndarray, data: np.ndarray, names: list[str]) -> dict:
    """Thesis §7.4 histogram equalisation, 1-D per scalar: x → F_data⁻¹(F_MC(x)), as
    piecewise-linear maps between the MC and data quantiles of each column of ``mc`` and
    ``data`` ((n, S) raw scalars in ``names`` order) except :data:`NOT_EQUALISED`.
    Correlations between scalars are not matched (the thesis' stated limitation)."""
    probs = np.linspace(0.0, 1.0, N_EQUALISATION_QUANTILES)
    maps = {}
    for k, name in enumerate(names):
        if name in NOT_EQUALISED:
            continue
        xm = np.quantile(mc[:, k], probs)
        xd = np.quantile(data[:, k], probs)
        # ties (a spike, e.g. f0 = 0 beyond |η| = 1.8) collapse to their first knot
        xm, first = np.unique(xm, return_index=True)
        maps[name] = {"mc": xm.tolist(), "data": xd[first].tolist()}
    return {"definition": "x -> interp(x, mc_quantiles, data_quantiles) per scalar",
            "quantiles": N_EQUALISATION_QUANTILES, "maps": maps}


def apply_equalisation(scalars: np.ndarray, names: list[str], maps: dict) -> np.ndarray:
    """MC scalars (n, S) mapped onto the data marginals by :func:`equalisation_maps`."""
    out = np.array(scalars, copy=True)
    for name, m in maps["maps"].items():
        k = names.index(name)
        if len(m["mc"]) < 2:  # a constant column: nothing to map
            continue
        out[:, k] = np.interp(out[:, k], m["mc"], m["data"])
    return out
