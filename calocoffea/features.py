"""Model inputs of the DeepCalo CNN built from coffea objects (or the same fields as arrays).

One code path serves training (``calocoffea.training.dataset``) and inference
(``calocoffea.inference``), so the network always sees identically built inputs:

- ``images``: float32 (n, 4, 56, 11), layer energies in GeV from :mod:`calocoffea.images`;
- ``scalars``: float32 (n, 16), thesis table 3.3 (:data:`SCALARS`; photons swap the
  track-only variables for conversion variables);
- ``tracks``: float32 (n, 15, 10), tracks within ΔR < 0.4 of the cluster, sorted by the
  isolation weight of thesis eq. 3.1, pT·exp(−ΔR/σ_R) with a = b = 1 and σ_R = 0.1,
  zero-padded (thesis table 3.4, :data:`TRACK_VARS`);
- ``valid``: bool (n,), False where the CNN must not be used (no cells, non-finite input,
  E_acc ≤ 0, |η| outside the tracker acceptance); those rows are zero-filled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import awkward as ak
import numpy as np

from calocoffea.geometry import ETA_MAX, LAYER2_DETA
from calocoffea.images import images_from_clusters

log = logging.getLogger(__name__)

#: Number of tracks per object (zero-padded).
N_TRACKS: int = 15
#: Cone for the tracks around the cluster.
TRACK_DR: float = 0.4
#: σ_R of thesis eq. 3.1 (the ordering only depends on it through the pT–ΔR balance).
SIGMA_R: float = 0.1
#: Image shape (η × φ pixels) and energy channels.
IMAGE_SHAPE: tuple[int, int] = (56, 11)
IMAGE_CHANNELS: int = 4

#: Scalar inputs per particle: (name, unit, description), thesis table 3.3.
SCALARS: dict[str, list[tuple[str, str, str]]] = {
    "electron": [
        ("e_acc", "GeV", "E_acc = E1+E2+E3"),
        ("eta_index", "", "layer-2 η cell index of the cluster"),
        ("f0", "", "E0/E_acc for |η| < 1.8, else 0"),
        ("r12", "", "E1/E2"),
        ("pt_track", "GeV", "pT of the electron's track (0 if none)"),
        ("e_tg3", "", "E_tile-gap/E_acc for 1.4 < |η| < 1.6, else 0"),
        ("e_tilegap", "GeV", "tile-gap scintillator energy"),
        ("eta", "", "cluster η"),
        ("dphi2", "rad", "q·(φ_track − φ_cluster) at the perigee (sign-folded bending)"),
        ("eta_mod", "", "η position inside the layer-2 cell, cell units"),
        ("deta2", "", "η_track − η_cluster"),
        ("poscs2", "", "2(η_cluster − η_maxEcell,layer2)/0.025 − 1"),
        ("dphi_th3", "rad", "mod(2π + φ, π/32) − π/32"),
        ("mu", "", "⟨μ⟩ (Pileup_nTrueInt)"),
        ("n_tracks", "", "tracks within ΔR < 0.4"),
        ("n_vtx", "", "reconstructed vertices (PV_npvs)"),
    ],
    "photon": [
        ("e_acc", "GeV", "E_acc = E1+E2+E3"),
        ("eta_index", "", "layer-2 η cell index of the cluster"),
        ("f0", "", "E0/E_acc for |η| < 1.8, else 0"),
        ("r12", "", "E1/E2"),
        ("conv_type", "", "0 unconverted, 1 single-track, 2 double-track"),
        ("e_tg3", "", "E_tile-gap/E_acc for 1.4 < |η| < 1.6, else 0"),
        ("e_tilegap", "GeV", "tile-gap scintillator energy"),
        ("eta", "", "cluster η"),
        ("conv_radius", "cm", "conversion radius, 0 if unconverted"),
        ("eta_mod", "", "η position inside the layer-2 cell, cell units"),
        ("phi_mod", "", "φ position inside the layer-2 cell, cell units"),
        ("poscs2", "", "2(η_cluster − η_maxEcell,layer2)/0.025 − 1"),
        ("dphi_th3", "rad", "mod(2π + φ, π/32) − π/32"),
        ("mu", "", "⟨μ⟩ (Pileup_nTrueInt)"),
        ("n_tracks", "", "tracks within ΔR < 0.4"),
        ("n_vtx", "", "reconstructed vertices (PV_npvs)"),
    ],
}

#: Track inputs (name, unit, description), thesis table 3.4.
TRACK_VARS: list[tuple[str, str, str]] = [
    ("pt_over_q", "GeV", "pT/q"),
    ("d0sig", "", "d0/σ(d0)"),
    ("dr", "", "ΔR to the cluster"),
    ("vtx", "", "vertex index (0 = hard scatter)"),
    ("z0", "cm", "longitudinal impact parameter"),
    ("abs_eta", "", "|η| of the track"),
    ("dphi", "rad", "φ_track − φ_cluster"),
    ("n_pix", "", "pixel hits"),
    ("n_sct", "", "SCT hits"),
    ("n_trt", "", "TRT hits"),
]
#: Heavy-tailed track variables standardised after a signed log.
TRACK_LOG_VARS: list[str] = ["pt_over_q", "d0sig", "z0"]

PARTICLES = ("electron", "photon")


@dataclass
class ModelInputs:
    """Raw physical CNN inputs for n objects (see module docstring for shapes/units)."""

    images: np.ndarray
    scalars: np.ndarray
    tracks: np.ndarray
    valid: np.ndarray

    def __len__(self) -> int:
        return len(self.valid)

    def feed(self) -> dict[str, np.ndarray]:
        """The onnxruntime feed dict."""
        return {"images": self.images, "scalars": self.scalars, "tracks": self.tracks}


def scalar_names(particle: str) -> list[str]:
    """Column names of ``scalars`` for ``particle``."""
    _check_particle(particle)
    return [s[0] for s in SCALARS[particle]]


def track_names() -> list[str]:
    """Column names of the last axis of ``tracks``."""
    return [t[0] for t in TRACK_VARS]


def _check_particle(particle: str) -> None:
    if particle not in PARTICLES:
        raise ValueError(f"particle must be one of {PARTICLES}, got {particle!r}")


def _np(x, fill=np.nan, dtype=np.float64) -> np.ndarray:
    """Flat numpy copy of a 1-D (possibly option-type) awkward/numpy array."""
    if isinstance(x, ak.Array):
        x = ak.fill_none(x, fill)
        return ak.to_numpy(x).astype(dtype)
    return np.asarray(x, dtype=dtype)


def _wrap(dphi):
    return (dphi + np.pi) % (2.0 * np.pi) - np.pi


def _flat(x) -> ak.Array:
    return ak.flatten(x, axis=1)


def _tracks_near(trk: ak.Array, clu_eta: np.ndarray, clu_phi: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(tracks (n, 15, 10) float32, n_in_cone (n,)) from per-object track lists ``trk``."""
    deta = trk.eta - clu_eta
    dphi = _wrap(trk.phi - clu_phi)
    dr = np.sqrt(deta**2 + dphi**2)
    sel = dr < TRACK_DR
    trk, dr, dphi = trk[sel], dr[sel], dphi[sel]
    n_in = ak.to_numpy(ak.num(trk, axis=1))
    order = ak.argsort(trk.pt * np.exp(-dr / SIGMA_R), axis=1, ascending=False)
    trk, dr, dphi = trk[order], dr[order], dphi[order]
    charge = ak.where(trk.charge == 0, 1, trk.charge)
    cols = [
        trk.pt / charge, trk.d0Sig, dr, trk.vtxIdx, trk.z0, abs(trk.eta), dphi,
        trk.nPixHits, trk.nSCTHits, trk.nTRTHits,
    ]
    out = np.zeros((len(n_in), N_TRACKS, len(cols)), np.float32)
    for j, c in enumerate(cols):
        padded = ak.fill_none(ak.pad_none(c, N_TRACKS, axis=1, clip=True), 0.0)
        out[:, :, j] = ak.to_numpy(padded).astype(np.float32)
    return out, n_in


def _poscs2(cells: ak.Array, clu_eta: np.ndarray) -> np.ndarray:
    l2 = cells[cells.layer == 2]
    imax = ak.argmax(l2.e, axis=1, keepdims=True)
    eta_max = _np(ak.firsts(l2.eta[imax]))
    return 2.0 * (clu_eta - eta_max) / LAYER2_DETA - 1.0


def inputs_from_events(objects, events, particle: str) -> ModelInputs:
    """Build the CNN inputs for every object of ``objects`` (flattened in event order).

    objects: jagged Electron/Photon collection aligned with ``events`` (e.g.
    ``events.Electron[mask]``), read with :class:`calocoffea.schema.CaloNanoAODSchema`.
    events: the NanoEvents (needs Track, Pileup.nTrueInt, PV.npvs).
    """
    _check_particle(particle)
    counts = ak.to_numpy(ak.num(objects, axis=1))
    n = int(counts.sum())
    n_scalar = len(SCALARS[particle])
    if n == 0:
        return ModelInputs(
            np.zeros((0, IMAGE_CHANNELS, *IMAGE_SHAPE), np.float32),
            np.zeros((0, n_scalar), np.float32),
            np.zeros((0, N_TRACKS, len(TRACK_VARS)), np.float32),
            np.zeros(0, bool),
        )
    evt = np.repeat(np.arange(len(counts)), counts)
    clu = objects.cluster
    # a missing cluster (index -1) makes every cluster field None
    has_cluster = ~ak.to_numpy(ak.is_none(_flat(clu.eAcc), axis=0))
    e_acc = _np(_flat(clu.eAcc))
    e0, e1, e2 = (_np(_flat(clu[f"e{i}"])) for i in range(3))
    eta = _np(_flat(clu.eta))
    phi = _np(_flat(clu.phi))
    aeta = np.abs(eta)
    etg = _np(_flat(clu.eTileGap))
    cells = _flat(clu.cells)
    n_cell = _np(ak.fill_none(ak.num(cells, axis=1), 0))
    safe_eacc = np.where(e_acc > 0, e_acc, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f0 = np.where(aeta < 1.8, e0 / safe_eacc, 0.0)
        r12 = np.where(e2 > 0, e1 / np.where(e2 > 0, e2, 1.0), 0.0)
        e_tg3 = np.where((aeta > 1.4) & (aeta < 1.6), etg / safe_eacc, 0.0)
    track_fields = ["pt", "eta", "phi", "charge", "d0Sig", "vtxIdx", "z0", "nPixHits",
                    "nSCTHits", "nTRTHits"]
    ev_trk = ak.zip({f: events.Track[f] for f in track_fields}, depth_limit=2)
    tracks, n_in = _tracks_near(ev_trk[evt], eta, phi)
    mu = _np(events.Pileup.nTrueInt)[evt]
    # events.PV needs x, y, z (coffea Vertex validation) that calocoffea files do not store
    npv = _np(events["PV", "npvs"])[evt]
    dphi_th3 = np.mod(2.0 * np.pi + phi, np.pi / 32) - np.pi / 32
    cols = {
        "e_acc": e_acc, "eta_index": _np(_flat(clu.etaIndex)), "f0": f0, "r12": r12,
        "e_tg3": e_tg3, "e_tilegap": etg, "eta": eta, "eta_mod": _np(_flat(clu.etaMod)),
        "poscs2": _poscs2(cells, eta), "dphi_th3": dphi_th3, "mu": mu,
        "n_tracks": n_in.astype(np.float64), "n_vtx": npv,
    }
    if particle == "electron":
        own = objects.track
        t_pt = _np(_flat(own.pt), fill=0.0)
        t_eta = _np(_flat(own.eta))
        t_phi = _np(_flat(own.phi))
        t_q = _np(_flat(own.charge), fill=1.0)
        has_trk = np.isfinite(t_eta)
        cols["pt_track"] = t_pt
        cols["deta2"] = np.where(has_trk, t_eta - eta, 0.0)
        cols["dphi2"] = np.where(has_trk, t_q * _wrap(t_phi - phi), 0.0)
    else:
        cols["conv_type"] = _np(_flat(objects.convType))
        cols["conv_radius"] = _np(_flat(objects.convRadius))
        cols["phi_mod"] = _np(_flat(clu.phiMod))
    scalars = np.stack([cols[name] for name in scalar_names(particle)], axis=1)
    valid = has_cluster & (n_cell > 0) & (e_acc > 0) & (aeta < ETA_MAX)
    valid &= np.all(np.isfinite(scalars), axis=1)
    images, img_valid = images_from_clusters(clu)
    images = np.asarray(images, dtype=np.float32)[:, :IMAGE_CHANNELS]
    valid &= np.asarray(img_valid, bool) & np.all(np.isfinite(images), axis=(1, 2, 3))
    # invalid rows are zero-filled (finite) so that a batch never carries NaN into the graph
    scalars[~valid] = 0.0
    images[~valid] = 0.0
    tracks[~valid] = 0.0
    n_bad = int((~valid).sum())
    if n_bad:
        log.debug("%d of %d %ss have invalid CNN inputs", n_bad, n, particle)
    return ModelInputs(images, scalars.astype(np.float32), tracks, valid)
