"""Reconstruction: cell energies, times and noise, and the cut-based identification.

The clusters themselves are dynamic superclusters (:mod:`calocoffea.sim.superclusters`),
built from these cells with the noise of :func:`noise_variance`.
"""

from __future__ import annotations

import numpy as np

from calocoffea import geometry as geo
from calocoffea.sim.config import SimConfig

#: Endcap noise is larger (higher capacitance per cell, JINST 3 S08003 fig. 5.32).
ENDCAP_NOISE_FACTOR = 1.3


def noise_sigma(layer: np.ndarray, abs_eta: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """Electronic noise per cell (GeV)."""
    base = np.asarray(cfg.noise_gev)[layer] * cfg.noise_scale()
    return base * np.where(geo.is_barrel(abs_eta), 1.0, ENDCAP_NOISE_FACTOR)


def spot_fluctuations(rng: np.random.Generator, e_sig: np.ndarray, cluster_of_cell: np.ndarray,
                      cfg: SimConfig) -> np.ndarray:
    """Shower-to-shower fluctuations of the lateral and longitudinal energy sharing between
    cells, as GFlash's spot sampling makes them (Grindhammer & Peters, hep-ex/0001020):
    a shower of energy E is N(E) = c ln(Z) (E/GeV)^k equal spots placed at random on its
    profile, so a cell with expected energy e receives (E/N) Poisson(N e/E). Each cell is
    drawn from a Gamma with that mean and variance, then the cluster's cells are rescaled
    to its expected total (spots move energy between cells; they do not change the sum,
    whose fluctuation is the sampling term). ``e_sig`` is the expected (profile-integrated)
    signal per cell of each cluster; returns the fluctuated energies."""
    if cfg.gflash_spot_coeff <= 0:
        return e_sig
    n_cl = int(cluster_of_cell.max()) + 1 if len(cluster_of_cell) else 0
    total = np.bincount(cluster_of_cell, weights=e_sig, minlength=n_cl)
    n_spots = cfg.gflash_spot_coeff * np.log(cfg.z_eff) * np.maximum(total, 1e-3) ** \
        cfg.gflash_spot_exponent
    scale = (total / n_spots)[cluster_of_cell]
    pos = e_sig > 0
    drawn = np.where(pos, rng.gamma(np.where(pos, e_sig / scale, 1.0), scale), 0.0)
    new_total = np.bincount(cluster_of_cell, weights=drawn, minlength=n_cl)
    ratio = np.where(new_total > 0, total / np.where(new_total > 0, new_total, 1.0), 1.0)
    return drawn * ratio[cluster_of_cell]


def pileup_noise_variance(layer: np.ndarray, eta: np.ndarray, deta: np.ndarray,
                          dphi: np.ndarray, *, mu: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """Expected variance (GeV²) of the pile-up energy in a cell at ⟨μ⟩ ``mu``, from the
    pile-up model of :mod:`calocoffea.sim.pileup` (what ATLAS' pile-up noise tables give
    its topo-clustering): Poisson deposits of neutral and charged soft particles over every
    bunch crossing, weighted by the squared pulse shape."""
    from calocoffea.sim import pileup

    ch2 = np.cosh(eta) ** 2
    w2 = float(np.sum(pileup.PULSE_WEIGHTS ** 2))
    # E[E_T^2] of 0.1 + Exp(m - 0.1) and of 0.5 + Exp(0.7) GeV
    m = cfg.pileup_mean_et - 0.1
    et2_neutral = 0.01 + 0.2 * m + 2 * m * m
    pt2_charged = 0.25 + 0.7 + 2 * 0.49
    u2 = (0.6**3 - 0.2**3) / (3 * 0.4)  # E[U(0.2, 0.6)^2]
    f_soft = pileup.SOFT_LAYER_FRACTIONS[layer]
    f_had = pileup.HADRON_LAYER_FRACTIONS[layer]
    mip = np.where(layer == 0, 0.004, 0.015 * 8.0)  # MIP per layer (order of magnitude)
    p_int = cfg.pileup_hadron_interaction
    per_particle = (cfg.pileup_density * et2_neutral * ch2 * f_soft**2
                    + cfg.pileup_track_density * (p_int * u2 * pt2_charged * ch2 * f_had**2
                                                  + (1 - p_int) * mip**2))
    return mu * deta * dphi * w2 * per_particle


def noise_variance(layer: np.ndarray, eta: np.ndarray, deta: np.ndarray, dphi: np.ndarray, *,
                   mu: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """Total noise variance (GeV²) of each cell: electronic noise ⊕ pile-up noise at the
    event's ⟨μ⟩ (the σ of the 4-2-0 topo-cluster thresholds)."""
    sigma = noise_sigma(layer, np.abs(eta), cfg)
    return sigma**2 + pileup_noise_variance(layer, eta, deta, dphi, mu=mu, cfg=cfg)


def finalize_cells(
    rng: np.random.Generator,
    e_sig: np.ndarray,
    e_other: np.ndarray,
    t_num: np.ndarray,
    t_den: np.ndarray,
    *,
    layer: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    cluster_of_cell: np.ndarray,
    cluster_factor: np.ndarray,
    cfg: SimConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Cell energy (GeV) and time (ns): shower-development (spot) fluctuations, sampling
    fluctuations, scale, noise, timing. For the data-like detector every cell's energy is
    scaled by 1 + α(η, φ) of its own position and every cell time is offset."""
    aeta = np.abs(eta)
    e_sig = spot_fluctuations(rng, e_sig, cluster_of_cell, cfg)
    a = np.where(layer == 0, cfg.sampling_presampler, cfg.sampling_term(aeta))
    # Gamma with mean e and variance a^2 e: positive, Gaussian limit a sqrt(e)
    pos = e_sig > 0
    shape = np.where(pos, e_sig / a**2, 1.0)
    sampled = np.where(pos, rng.gamma(shape, a**2), 0.0)
    sigma = noise_sigma(layer, aeta, cfg)
    e = (sampled + e_other) * cluster_factor[cluster_of_cell]
    if cfg.data is not None:
        e = e * (1.0 + cfg.data.alpha(eta, phi))
    e = e + sigma * rng.standard_normal(len(e))
    t_true = np.where(t_den > 0, t_num / np.maximum(t_den, 1e-12), 0.0)
    if cfg.data is not None:
        t_true = t_true + cfg.data.time_offset_ns()
    ae = np.maximum(np.abs(e), 1e-3)
    sig_t = np.hypot(cfg.time_a_ns_gev / ae, cfg.time_c_ns)
    t = t_true + np.minimum(sig_t, 25.0) * rng.standard_normal(len(e))
    # ATLAS stores a time only for cells well above noise
    t = np.where(np.abs(e) > 2.0 * sigma, t, 0.0)
    return e, t


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
