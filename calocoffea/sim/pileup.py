"""Pile-up: <mu> profiles, soft in-time and out-of-time deposits in cells, pile-up tracks.

Soft particles from the other pp interactions are drawn per bunch crossing around each
cluster window. The LAr bipolar pulse shaping (JINST 3 S08003 sect. 5.7) makes a deposit from
bunch crossing k contribute g(k) times its energy to the in-time sample, with
sum_k g(k) = 0 so that pile-up averages to zero over a long train while its fluctuations
stay; the cell time records when the deposit happened (25 ns * k).
"""

from __future__ import annotations

import numpy as np

from calocoffea import geometry as geo
from calocoffea.kinematics import wrap_phi
from calocoffea.sim.config import SimConfig
from calocoffea.sim.detector import Tracks, d0_resolution, track_resolution
from calocoffea.sim.processes import BEAMSPOT_SIGMA_Z
from calocoffea.sim.shower import Spots

#: Bunch crossings considered (relative to the triggered one) and the pulse weights g(k).
CROSSINGS = np.arange(-20, 1)
PULSE_WEIGHTS = np.concatenate([np.full(18, -1.6 / 18), [0.1, 0.5, 1.0]])
BUNCH_SPACING_NS = 25.0
#: Fractions of a soft photon's energy in PS, L1, L2, L3.
SOFT_LAYER_FRACTIONS = np.array([0.08, 0.37, 0.50, 0.05])

PROFILES = {"mc": (10.0, 80.0), "data": (15.0, 40.0)}


def sample_mu(rng: np.random.Generator, n: int, profile: str) -> np.ndarray:
    """<mu> per event. ``profile``: 'mc' (flat 10-80), 'data' (peaked, 15-40),
    'flat:LO:HI', or 'fixed:V'."""
    if profile == "mc":
        return rng.uniform(10.0, 80.0, n)
    if profile == "data":
        mu = rng.normal(28.0, 6.0, 2 * n + 10)
        mu = mu[(mu >= 15.0) & (mu <= 40.0)]
        while len(mu) < n:
            extra = rng.normal(28.0, 6.0, n)
            mu = np.concatenate([mu, extra[(extra >= 15.0) & (extra <= 40.0)]])
        return mu[:n]
    parts = profile.split(":")
    try:
        if parts[0] == "flat" and len(parts) == 3:
            return rng.uniform(float(parts[1]), float(parts[2]), n)
        if parts[0] == "fixed" and len(parts) == 2:
            return np.full(n, float(parts[1]))
    except ValueError:
        pass
    raise ValueError(f"bad <mu> profile {profile!r}: use mc, data, flat:LO:HI or fixed:V")


def n_vertices(rng: np.random.Generator, mu: np.ndarray) -> np.ndarray:
    """Reconstructed primary vertices: hard scatter + ~55% of the pile-up interactions."""
    return 1 + rng.binomial(rng.poisson(mu), 0.55)


def pileup_spots(
    rng: np.random.Generator,
    cl_event: np.ndarray,
    cl_eta: np.ndarray,
    cl_phi: np.ndarray,
    *,
    mu_event: np.ndarray,
    cfg: SimConfig,
) -> Spots:
    """Soft pile-up deposits around each cluster (one spot per layer per soft photon)."""
    half_eta = 0.5 * geo.WINDOW_ETA_CELLS * geo.LAYER2_DETA + 0.05
    half_phi = 0.5 * geo.WINDOW_PHI_CELLS * geo.LAYER2_DPHI + 0.1
    area = 4 * half_eta * half_phi
    lam = (mu_event[cl_event] * cfg.pileup_density * area)[:, None] * np.ones(len(CROSSINGS))
    counts = rng.poisson(lam)  # (n_cl, n_crossings)
    flat = counts.reshape(-1)
    rows = np.repeat(np.arange(flat.size), flat)
    icl, ibx = rows // len(CROSSINGS), rows % len(CROSSINGS)
    m = len(rows)
    eta = cl_eta[icl] + rng.uniform(-half_eta, half_eta, m)
    phi = cl_phi[icl] + rng.uniform(-half_phi, half_phi, m)
    et = 0.1 + rng.exponential(cfg.pileup_mean_et - 0.1, m)
    e = et * np.cosh(eta) * PULSE_WEIGHTS[ibx]
    # the optimal-filter time is meaningful only near the pulse peak: deposits in the
    # undershoot (k <= -3) read as 'long before' (-75 ns)
    t = np.maximum(CROSSINGS[ibx] * BUNCH_SPACING_NS, -3 * BUNCH_SPACING_NS) + rng.normal(0, 0.5, m)
    lay = np.tile(np.arange(4), m)
    rep = np.repeat(np.arange(m), 4)
    return Spots(
        event=cl_event[icl][rep],
        cluster=icl[rep].astype(np.int64),
        layer=lay,
        eta=eta[rep],
        phi=phi[rep],
        energy=e[rep] * SOFT_LAYER_FRACTIONS[lay],
        time=t[rep],
        signal=np.zeros(4 * m, bool),
    )


def muon_spots(event: np.ndarray, eta: np.ndarray, phi: np.ndarray, rng) -> Spots:
    """Minimum-ionising deposits of muons: ~15 MeV per X0 of accordion (EM scale)."""
    n = len(eta)
    depth = geo.accordion_depths_x0(np.abs(eta))
    thick = np.diff(np.concatenate([np.zeros((n, 1)), depth], axis=1), axis=1)
    e = 0.015 * thick * rng.lognormal(0.0, 0.3, (n, 3))
    e = np.concatenate([np.full((n, 1), 0.004), e], axis=1)
    lay = np.tile(np.arange(4), n)
    rep = np.repeat(np.arange(n), 4)
    return Spots(
        event=event[rep],
        cluster=np.full(4 * n, -1, np.int64),
        layer=lay,
        eta=eta[rep],
        phi=phi[rep],
        energy=e.reshape(-1),
        time=np.zeros(4 * n),
        signal=np.zeros(4 * n, bool),
    )


def pileup_tracks(
    rng: np.random.Generator,
    obj_event: np.ndarray,
    obj_eta: np.ndarray,
    obj_phi: np.ndarray,
    *,
    mu_event: np.ndarray,
    npv: np.ndarray,
    cfg: SimConfig,
    cone: float = 0.4,
) -> Tracks:
    """Pile-up tracks (pT > 0.5 GeV) within dR < ``cone`` of each object (others not stored)."""
    lam = mu_event[obj_event] * cfg.pileup_track_density * np.pi * cone**2
    n = rng.poisson(lam)
    io = np.repeat(np.arange(len(obj_eta)), n)
    m = len(io)
    r = cone * np.sqrt(rng.uniform(0, 1, m))
    a = rng.uniform(0, 2 * np.pi, m)
    eta = obj_eta[io] + r * np.cos(a)
    phi = wrap_phi(obj_phi[io] + r * np.sin(a))
    pt_true = 0.5 + rng.exponential(0.7, m)
    ev = obj_event[io]
    n_pu_vtx = np.maximum(npv[ev] - 1, 0)
    vtx = np.where(n_pu_vtx > 0, 1 + rng.integers(0, np.maximum(n_pu_vtx, 1)), -1)
    sd0 = d0_resolution(pt_true)
    d0 = sd0 * rng.standard_normal(m)
    # tracks of one pile-up vertex share its z; unassigned tracks come from anywhere
    vz = rng.normal(0, BEAMSPOT_SIGMA_Z, int(npv.sum()))
    voff = np.concatenate([[0], np.cumsum(npv)[:-1]])
    z_vtx = np.where(vtx > 0, vz[voff[ev] + np.maximum(vtx, 0)], rng.normal(0, BEAMSPOT_SIGMA_Z, m))
    z0 = z_vtx + np.hypot(0.005, 0.01 / pt_true) * rng.standard_normal(m)
    in_trt = np.abs(eta) < geo.TRT_MAX_ETA
    keep = np.abs(eta) < 2.5
    tr = Tracks(
        event=ev,
        pt=pt_true * (1 + track_resolution(pt_true) * rng.standard_normal(m)),
        eta=eta,
        phi=phi,
        charge=np.where(rng.uniform(0, 1, m) < 0.5, -1, 1).astype(np.int32),
        d0=d0,
        d0sig=d0 / sd0,
        z0=z0,
        n_pix=rng.binomial(4, 0.95, m).astype(np.int32),
        n_sct=rng.binomial(8, 0.97, m).astype(np.int32),
        n_trt=np.where(in_trt, rng.binomial(34, 0.85, m), 0).astype(np.int32),
        vtx=vtx.astype(np.int32),
        gen_idx=np.full(m, -1, np.int32),
        obj=np.full(m, -1, np.int32),
    )
    return tr.take(np.nonzero(keep)[0])
