"""GFlash-style electromagnetic showers (Grindhammer & Peters, NIM A290 (1990) 469).

Longitudinal: each shower's energy profile is a Gamma distribution in depth t (X0),
dE/dt = E f(t; alpha, beta), with (ln T, ln alpha) drawn per shower from a correlated normal
(T = (alpha-1)/beta is the depth of the maximum). Photons start after an exponential depth
of mean 9/7 X0. Integrating over the material slabs (solenoid + cryostat, presampler, dead
material, accordion layers 1-3) gives the energy lost upstream, the presampler signal, the
layer energies and the longitudinal leakage. Lateral: two-component radial profile
f(r) = p f_C(r) + (1-p) f_T(r), f_i = 2 r R_i^2/(r^2+R_i^2)^2, with R_C, R_T, p functions of
the relative depth tau = t/T, in Moliere-radius units, sampled with energy spots.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.special import gammainc

from calocoffea import geometry as geo
from calocoffea._numba import njit
from calocoffea.kinematics import wrap_phi
from calocoffea.sim.config import SimConfig

#: Path length to each layer's mid-depth relative to the accordion front (barrel/end-cap).
LAYER_RADIUS_FACTOR = np.array([0.95, 1.03, 1.12, 1.25])


@dataclass
class Longitudinal:
    """Per shower: energies (GeV) lost upstream, presampler signal, layers 1-3, leakage."""

    lost_upstream: np.ndarray
    presampler: np.ndarray
    layers: np.ndarray  # (n, 3) deposited in accordion layers 1-3
    leakage: np.ndarray
    tau: np.ndarray  # (n, 4) mean relative depth t/T in PS, L1, L2, L3
    log_e: np.ndarray


def gflash_parameters(rng: np.random.Generator, energy: np.ndarray, cfg: SimConfig):
    """(T, alpha) per shower with GFlash's correlated fluctuations (homogeneous medium)."""
    lny = np.log(np.maximum(energy / cfg.critical_energy, 3.0))
    z = cfg.z_eff
    mu_lnt = np.log(np.maximum(lny - 0.812, 0.3))
    sig_lnt = 1.0 / np.maximum(-1.4 + 1.26 * lny, 0.8)
    mu_lna = np.log(0.81 + (0.458 + 2.26 / z) * lny)
    sig_lna = 1.0 / np.maximum(-0.58 + 0.86 * lny, 0.8)
    rho = np.clip(0.705 - 0.023 * lny, -0.99, 0.99)
    g1 = rng.standard_normal(len(energy))
    g2 = rng.standard_normal(len(energy))
    ln_t = mu_lnt + sig_lnt * g1
    ln_a = mu_lna + sig_lna * (rho * g1 + np.sqrt(1 - rho**2) * g2)
    t_max = np.clip(np.exp(ln_t), 0.3, 25.0)
    alpha = np.clip(np.exp(ln_a), 1.05, 40.0)
    return t_max, alpha


def longitudinal(
    rng: np.random.Generator,
    energy: np.ndarray,
    abs_eta: np.ndarray,
    is_photon: np.ndarray,
    cfg: SimConfig,
) -> Longitudinal:
    """Integrate the Gamma profiles over the material slabs in front of and in the calo."""
    t_max, alpha = gflash_parameters(rng, energy, cfg)
    beta = (alpha - 1.0) / t_max
    t0 = np.where(is_photon, rng.exponential(9.0 / 7.0, len(energy)), 0.0)
    x_sc = geo.solenoid_cryostat_x0(abs_eta)
    ps = np.where(geo.has_presampler(abs_eta), geo.PRESAMPLER_X0, 0.0)
    x_pa = geo.presampler_to_accordion_x0(abs_eta)
    acc = geo.accordion_depths_x0(abs_eta)
    front = x_sc + ps + x_pa
    bounds = np.stack(
        [x_sc, x_sc + ps, front, front + acc[:, 0], front + acc[:, 1], front + acc[:, 2]], axis=1
    )
    s = np.clip(bounds - t0[:, None], 0.0, None)
    cdf = gammainc(alpha[:, None], beta[:, None] * s)
    # energy-weighted mean depth inside each slab, from the first moment of the Gamma pdf
    cdf1 = gammainc(alpha[:, None] + 1.0, beta[:, None] * s)
    frac = np.diff(cdf, axis=1)  # PS, dead, L1, L2, L3
    mom = np.diff(cdf1, axis=1) * (alpha / beta)[:, None]
    mean_depth = np.where(frac > 1e-9, mom / np.maximum(frac, 1e-300), 0.5 * (s[:, :-1] + s[:, 1:]))
    tau = mean_depth[:, [0, 2, 3, 4]] / t_max[:, None]
    e = energy[:, None]
    ps_frac = frac[:, 0]
    # presampler signal: energy flow per X0 at its depth (the thin LAr gap samples it)
    presampler = np.where(ps > 0, ps_frac / np.maximum(ps, 1e-9), 0.0) * energy
    return Longitudinal(
        lost_upstream=energy * (cdf[:, 2]),
        presampler=presampler,
        layers=frac[:, 2:5] * e,
        leakage=energy * (1.0 - cdf[:, 5]),
        tau=tau,
        log_e=np.log(np.maximum(energy, 1e-3)),
    )


def lateral_parameters(tau: np.ndarray, log_e: np.ndarray, z: float):
    """GFlash (R_C, R_T, p) in Moliere radii at relative depth ``tau``."""
    z1 = 0.0251 + 0.00319 * log_e
    z2 = 0.1162 - 0.000381 * z
    k1 = 0.659 - 0.00309 * z
    k2 = 0.645
    k3 = -2.59
    k4 = 0.3585 + 0.0421 * log_e
    p1 = 2.632 - 0.00094 * z
    p2 = 0.401 + 0.00187 * z
    p3 = 1.313 - 0.0686 * log_e
    r_c = z1 + z2 * tau
    r_t = k1 * (np.exp(k3 * (tau - k2)) + np.exp(k4 * (tau - k2)))
    x = (p2 - tau) / p3
    p = np.clip(p1 * np.exp(x - np.exp(x)), 0.0, 1.0)
    return r_c, np.maximum(r_t, r_c), p


@dataclass
class Spots:
    """Energy spots to be deposited into cells."""

    event: np.ndarray
    cluster: np.ndarray  # only this cluster (-1: every cluster of the event)
    layer: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    energy: np.ndarray
    time: np.ndarray
    signal: np.ndarray  # True: shower (sampling fluctuations apply); False: pile-up, MIP

    @staticmethod
    def concat(parts: list[Spots]) -> Spots:
        f = ("event", "cluster", "layer", "eta", "phi", "energy", "time", "signal")
        return Spots(*[np.concatenate([getattr(p, k) for p in parts]) for k in f])


def lateral_spots(
    rng: np.random.Generator,
    event: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    *,
    layer_energy: np.ndarray,
    tau: np.ndarray,
    log_e: np.ndarray,
    cfg: SimConfig,
) -> Spots:
    """Sample GFlash lateral spots: ``layer_energy`` and ``tau`` are (n, 4) for PS, L1-L3."""
    n = len(eta)
    n_spots = np.clip(
        (cfg.spots_per_layer * np.sqrt(layer_energy / 20.0)).astype(np.int64),
        8,
        cfg.spots_per_layer,
    )
    n_spots = np.where(layer_energy > 0.0, n_spots, 0)
    flat_n = n_spots.reshape(-1)
    rows = np.repeat(np.arange(n * 4), flat_n)
    ish, ilay = rows // 4, rows % 4
    r_c, r_t, p = lateral_parameters(tau.reshape(-1), np.repeat(log_e, 4), cfg.z_eff)
    # Stratified sampling: the core/tail split and the radial quantiles of the spots are
    # spread evenly, so the spot count adds no artificial containment fluctuation (the
    # physical fluctuations are in the sampling term).
    n_core = np.floor(p * flat_n + rng.uniform(0, 1, len(flat_n))).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(flat_n)[:-1]])
    m = len(rows)
    j = np.arange(m) - starts[rows]
    core = j < n_core[rows]
    rank = np.where(core, j, j - n_core[rows])
    n_comp = np.where(core, n_core[rows], flat_n[rows] - n_core[rows])
    u = np.minimum((rank + rng.uniform(0, 1, m)) / np.maximum(n_comp, 1), 0.995)
    r = np.where(core, r_c[rows], r_t[rows]) * np.sqrt(u / (1 - u)) * cfg.moliere()
    psi = 2 * np.pi * ((rank * 0.6180339887 + rng.uniform(0, 1, len(flat_n))[rows]) % 1.0)
    dist = geo.calo_front_radius(eta[ish]) * LAYER_RADIUS_FACTOR[ilay]
    e_spot = (layer_energy.reshape(-1) / np.maximum(flat_n, 1))[rows]
    return Spots(
        event=event[ish],
        cluster=np.full(m, -1, np.int64),
        layer=ilay.astype(np.int64),
        eta=eta[ish] + r * np.cos(psi) / dist,
        phi=phi[ish] + r * np.sin(psi) / dist,
        energy=e_spot,
        time=np.zeros(m),
        signal=np.ones(m, bool),
    )


# --------------------------------------------------------------------------------------------
# Cluster windows and deposition (numba)
# --------------------------------------------------------------------------------------------

MAX_ROWS = 128
#: Half-sizes (middle-layer cells) of the simulated window around the seed: wide enough
#: that every cell overlapping the 7x11 window around the final barycentre is included.
SIM_HALF_ETA = 5
SIM_HALF_PHI = 8


@cache
def _grid_tables():
    grids = [geo.layer_grid(layer) for layer in geo.LAYERS]
    edge_off = np.zeros(5, np.int64)
    for i, g in enumerate(grids):
        edge_off[i + 1] = edge_off[i] + len(g.edges)
    edges = np.concatenate([g.edges for g in grids])
    valid = np.concatenate([np.append(g.valid, False) for g in grids])
    nphi = np.concatenate([np.append(g.nphi, 1) for g in grids])
    return edges, valid, nphi, edge_off


@njit()
def _build_windows(  # noqa: PLR0917
    keta, jphi, edges, valid, nphi, edge_off, deta2, dphi2, max_cells, half_eta, half_phi
):
    n = len(keta)
    pi = np.pi
    c_off = np.zeros(n + 1, np.int64)
    out_layer = np.empty(n * max_cells, np.int64)
    out_ieta = np.empty(n * max_cells, np.int64)
    out_iphi = np.empty(n * max_cells, np.int64)
    out_eta = np.empty(n * max_cells, np.float64)
    out_phi = np.empty(n * max_cells, np.float64)
    out_deta = np.empty(n * max_cells, np.float64)
    out_dphi = np.empty(n * max_cells, np.float64)
    row_ie0 = np.zeros((n, 4), np.int64)
    row_n = np.zeros((n, 4), np.int64)
    row_start = np.zeros((n, 4, MAX_ROWS), np.int64)
    row_ip0 = np.zeros((n, 4, MAX_ROWS), np.int64)
    row_nip = np.zeros((n, 4, MAX_ROWS), np.int64)
    k = 0
    for c in range(n):
        eta_lo = (keta[c] - half_eta) * deta2
        eta_hi = (keta[c] + half_eta + 1) * deta2
        phi_lo = -pi + (jphi[c] - half_phi) * dphi2
        phi_hi = -pi + (jphi[c] + half_phi + 1) * dphi2
        for lay in range(4):
            e0 = edge_off[lay]
            ncell = edge_off[lay + 1] - e0 - 1
            first = -1
            nrow = 0
            for i in range(ncell):
                ctr = 0.5 * (edges[e0 + i] + edges[e0 + i + 1])
                if ctr < eta_lo:
                    continue
                if ctr >= eta_hi:
                    break
                if first < 0:
                    first = i
                row = i - first
                row_start[c, lay, row] = k
                nrow = row + 1
                if not valid[e0 + i]:
                    row_nip[c, lay, row] = 0
                    continue
                nph = nphi[e0 + i]
                dph = 2 * pi / nph
                i_lo = int(np.ceil((phi_lo + pi) / dph - 0.5))
                i_hi = int(np.ceil((phi_hi + pi) / dph - 0.5))
                row_ip0[c, lay, row] = i_lo % nph
                row_nip[c, lay, row] = i_hi - i_lo
                for ip in range(i_lo, i_hi):
                    ipm = ip % nph
                    out_layer[k] = lay
                    out_ieta[k] = i
                    out_iphi[k] = ipm
                    out_eta[k] = ctr
                    ph = -pi + (ipm + 0.5) * dph
                    out_phi[k] = ph
                    out_deta[k] = edges[e0 + i + 1] - edges[e0 + i]
                    out_dphi[k] = dph
                    k += 1
            row_ie0[c, lay] = max(first, 0)
            row_n[c, lay] = nrow
        c_off[c + 1] = k
    return (
        c_off,
        out_layer[:k],
        out_ieta[:k],
        out_iphi[:k],
        out_eta[:k],
        out_phi[:k],
        out_deta[:k],
        out_dphi[:k],
        row_ie0,
        row_n,
        row_start,
        row_ip0,
        row_nip,
    )


@njit()
def _deposit(  # noqa: PLR0917
    s_event,
    s_cluster,
    s_layer,
    s_eta,
    s_phi,
    s_e,
    s_t,
    s_sig,
    evt_cl_off,
    edges,
    nphi,
    edge_off,
    row_ie0,
    row_n,
    row_start,
    row_ip0,
    row_nip,
    n_cells,
):
    e_sig = np.zeros(n_cells)
    e_oth = np.zeros(n_cells)
    t_num = np.zeros(n_cells)
    t_den = np.zeros(n_cells)
    pi = np.pi
    for s in range(len(s_e)):
        lay = s_layer[s]
        e0 = edge_off[lay]
        ne = edge_off[lay + 1] - e0
        ieta = np.searchsorted(edges[e0 : e0 + ne], s_eta[s], side="right") - 1
        if ieta < 0 or ieta >= ne - 1:
            continue
        nph = nphi[e0 + ieta]
        ph = s_phi[s] + pi
        ph = ph - 2 * pi * np.floor(ph / (2 * pi))
        iphi = int(ph / (2 * pi / nph)) % nph
        ev = s_event[s]
        c_lo = evt_cl_off[ev]
        c_hi = evt_cl_off[ev + 1]
        for c in range(c_lo, c_hi):
            if s_cluster[s] >= 0 and s_cluster[s] != c:
                continue
            row = ieta - row_ie0[c, lay]
            if row < 0 or row >= row_n[c, lay]:
                continue
            d = (iphi - row_ip0[c, lay, row]) % nph
            if d >= row_nip[c, lay, row]:
                continue
            cell = row_start[c, lay, row] + d
            if s_sig[s]:
                e_sig[cell] += s_e[s]
            else:
                e_oth[cell] += s_e[s]
            w = abs(s_e[s])
            t_num[cell] += w * s_t[s]
            t_den[cell] += w
    return e_sig, e_oth, t_num, t_den


@dataclass
class Windows:
    """Cells of every cluster window, flat and grouped by cluster (``offsets``)."""

    offsets: np.ndarray
    layer: np.ndarray
    ieta: np.ndarray
    iphi: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    deta: np.ndarray
    dphi: np.ndarray
    tables: tuple


def build_windows(keta: np.ndarray, jphi: np.ndarray) -> Windows:
    """Every cell of the simulated window around each seed, all layers.

    ``keta`` is the signed middle-layer lattice index floor(eta/0.025) of the seed and
    ``jphi`` its phi index floor((phi+pi)/dphi2). A cell belongs to the window when its
    centre lies inside the (2*SIM_HALF_ETA+1) x (2*SIM_HALF_PHI+1) middle-layer cells
    around the seed; the stored 7x11 cluster is cut from it after reconstruction.
    """
    edges, valid, nphi, edge_off = _grid_tables()
    res = _build_windows(
        keta.astype(np.int64),
        jphi.astype(np.int64),
        edges,
        valid,
        nphi,
        edge_off,
        geo.LAYER2_DETA,
        geo.LAYER2_DPHI,
        2048,
        SIM_HALF_ETA,
        SIM_HALF_PHI,
    )
    return Windows(*res[:8], tables=res[8:])


def deposit(spots: Spots, windows: Windows, evt_cluster_offsets: np.ndarray):
    """Sum spots into window cells: (signal energy, other energy, time numerator, weight)."""
    edges, _, nphi, edge_off = _grid_tables()
    return _deposit(
        spots.event.astype(np.int64),
        spots.cluster.astype(np.int64),
        spots.layer.astype(np.int64),
        spots.eta,
        wrap_phi(spots.phi),
        spots.energy,
        spots.time,
        spots.signal,
        evt_cluster_offsets.astype(np.int64),
        edges,
        nphi,
        edge_off,
        *windows.tables,
        len(windows.layer),
    )
