"""Reconstruction: cell energies and times, cluster scalars, e/gamma/muon objects.

The cluster is every cell of the 7x11 (middle-layer units) window around the seed in every
layer. Cluster energies (E0..E3, E_acc) are summed over the 3x7 core (eta x phi, middle-layer
units) like ATLAS' sliding-window electron clusters, so that energy outside the core (lateral
leakage, brem and conversion tails, pile-up) is visible in the cells but not in the scalars.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calocoffea import geometry as geo
from calocoffea.kinematics import wrap_phi
from calocoffea.sim.config import SimConfig

#: Sliding-window core sizes (eta x phi, middle-layer cells) as in ATLAS Run 1/2 e/gamma
#: reconstruction: electrons and converted photons 3x7, unconverted photons 3x5 in the
#: barrel; 5x5 for all in the end-cap (EPJC 74 (2014) 3071 sect. 3).
CORE_BARREL_ELECTRON = (3, 7)
CORE_BARREL_UNCONVERTED = (3, 5)
CORE_ENDCAP = (5, 5)


def core_sizes(
    abs_eta: np.ndarray, is_electron: np.ndarray, converted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(n_eta, n_phi) of the energy core of each cluster."""
    barrel = geo.is_barrel(abs_eta)
    wide = is_electron | converted
    n_eta = np.where(barrel, 3, 5)
    n_phi = np.where(barrel, np.where(wide, 7, 5), 5)
    return n_eta, n_phi


#: Endcap noise is larger (higher capacitance per cell, JINST 3 S08003 fig. 5.32).
ENDCAP_NOISE_FACTOR = 1.3


def noise_sigma(layer: np.ndarray, abs_eta: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """Electronic noise per cell (GeV)."""
    base = np.asarray(cfg.noise_gev)[layer]
    return base * np.where(geo.is_barrel(abs_eta), 1.0, ENDCAP_NOISE_FACTOR)


def finalize_cells(
    rng: np.random.Generator,
    e_sig: np.ndarray,
    e_other: np.ndarray,
    t_num: np.ndarray,
    t_den: np.ndarray,
    *,
    layer: np.ndarray,
    eta: np.ndarray,
    cluster_of_cell: np.ndarray,
    cluster_factor: np.ndarray,
    cfg: SimConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Cell energy (GeV) and time (ns): sampling fluctuations, scale, noise, timing."""
    aeta = np.abs(eta)
    a = np.where(layer == 0, cfg.sampling_presampler, cfg.sampling_term(aeta))
    # Gamma with mean e and variance a^2 e: positive, Gaussian limit a sqrt(e)
    pos = e_sig > 0
    shape = np.where(pos, e_sig / a**2, 1.0)
    sampled = np.where(pos, rng.gamma(shape, a**2), 0.0)
    sigma = noise_sigma(layer, aeta, cfg)
    e = (sampled + e_other) * cluster_factor[cluster_of_cell]
    e = e + sigma * rng.standard_normal(len(e))
    t_true = np.where(t_den > 0, t_num / np.maximum(t_den, 1e-12), 0.0)
    ae = np.maximum(np.abs(e), 1e-3)
    sig_t = np.hypot(cfg.time_a_ns_gev / ae, cfg.time_c_ns)
    t = t_true + np.minimum(sig_t, 25.0) * rng.standard_normal(len(e))
    # ATLAS stores a time only for cells well above noise
    t = np.where(np.abs(e) > 2.0 * sigma, t, 0.0)
    return e, t


@dataclass
class ClusterScalars:
    e0: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    e3: np.ndarray
    e_acc: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    eta_mod: np.ndarray
    phi_mod: np.ndarray
    eta_index: np.ndarray
    e2_window: np.ndarray
    n_cell: np.ndarray


def cluster_scalars(
    offsets: np.ndarray,
    layer: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    e: np.ndarray,
    *,
    keta: np.ndarray,
    jphi: np.ndarray,
    core_eta: np.ndarray,
    core_phi: np.ndarray,
) -> ClusterScalars:
    """Scalars of every cluster from its cells (flat arrays grouped by ``offsets``)."""
    n = len(offsets) - 1
    n_cell = np.diff(offsets)
    cl = np.repeat(np.arange(n), n_cell)
    seed_eta = (keta + 0.5) * geo.LAYER2_DETA
    seed_phi = -np.pi + (jphi + 0.5) * geo.LAYER2_DPHI
    deta = eta - seed_eta[cl]
    dphi = wrap_phi(phi - seed_phi[cl])
    core = (np.abs(deta) < 0.5 * core_eta[cl] * geo.LAYER2_DETA) & (
        np.abs(dphi) < 0.5 * core_phi[cl] * geo.LAYER2_DPHI
    )

    # 7x7 middle-layer cells around the seed: denominator of R_eta
    r77 = (np.abs(deta) < 3.5 * geo.LAYER2_DETA) & (np.abs(dphi) < 3.5 * geo.LAYER2_DPHI)

    def lsum(mask, w=None):
        v = np.where(mask, e if w is None else w, 0.0)
        return np.bincount(cl, weights=v, minlength=n)

    es = [lsum(core & (layer == lay)) for lay in geo.LAYERS]
    m2 = core & (layer == 2) & (e > 0)
    w2 = lsum(m2)
    safe = np.where(w2 > 0, w2, 1.0)
    eta_c = np.where(w2 > 0, lsum(m2, e * deta) / safe, 0.0) + seed_eta
    phi_c = wrap_phi(np.where(w2 > 0, lsum(m2, e * dphi) / safe, 0.0) + seed_phi)
    u_eta = eta_c / geo.LAYER2_DETA
    u_phi = (phi_c + np.pi) / geo.LAYER2_DPHI
    return ClusterScalars(
        e0=es[0],
        e1=es[1],
        e2=es[2],
        e3=es[3],
        e_acc=es[1] + es[2] + es[3],
        eta=eta_c,
        phi=phi_c,
        eta_mod=u_eta - np.floor(u_eta),
        phi_mod=u_phi - np.floor(u_phi),
        eta_index=np.floor(u_eta).astype(np.int32),
        e2_window=lsum(r77 & (layer == 2)),
        n_cell=n_cell.astype(np.int32),
    )


def electron_cut_based(r_eta: np.ndarray, e_over_p: np.ndarray, n_pix: np.ndarray) -> np.ndarray:
    """0 fail, 1 veto, 2 loose, 3 medium, 4 tight from R_eta-like containment and E/p."""
    good_trk = (e_over_p > 0.6) & (e_over_p < 4.0) & (n_pix >= 1)
    out = np.zeros(len(r_eta), np.int32)
    for level, cut in ((1, 0.70), (2, 0.80), (3, 0.86), (4, 0.90)):
        out = np.where((r_eta > cut) & (good_trk | (level == 1)), level, out)
    return out


def photon_cut_based(r_eta: np.ndarray) -> np.ndarray:
    """0 fail, 1 loose, 2 medium, 3 tight from the middle-layer containment R_eta."""
    out = np.zeros(len(r_eta), np.int32)
    for level, cut in ((1, 0.80), (2, 0.86), (3, 0.90)):
        out = np.where(r_eta > cut, level, out)
    return out
