"""Pile-up: <mu> profiles, the in-time interactions, their particles in the calorimeter and
the tracker, and out-of-time deposits.

Every event has Poisson(⟨μ⟩) in-time pile-up interactions, each with a z drawn from the
luminous region. Around each e/γ object the soft particles of those interactions are drawn
per interaction: neutral ones (π0 photons) deposit their energy in the cells; charged ones
(p_T > 0.5 GeV) bend in the solenoid, leave a track (with the z of their interaction) when
within ΔR < 0.4 of the object, and deposit an EM-scale fraction of their energy where they
reach the calorimeter. Tracks and pile-up energy therefore come from the same interactions.
Out-of-time bunch crossings only leave deposits. The LAr bipolar pulse shaping (JINST 3
S08003 sect. 5.7) makes a deposit from bunch crossing k contribute g(k) times its energy to
the in-time sample, with sum_k g(k) = 0 so that pile-up averages to zero over a long train
while its fluctuations stay; the cell time records when the deposit happened (25 ns * k).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calocoffea import geometry as geo
from calocoffea.kinematics import wrap_phi
from calocoffea.sim import tracking
from calocoffea.sim.config import SimConfig
from calocoffea.sim.detector import CURV, Tracks, charged_offset
from calocoffea.sim.processes import BEAMSPOT_SIGMA_Z
from calocoffea.sim.shower import Spots

#: Bunch crossings considered (relative to the triggered one) and the pulse weights g(k).
CROSSINGS = np.arange(-20, 1)
PULSE_WEIGHTS = np.concatenate([np.full(18, -1.6 / 18), [0.1, 0.5, 1.0]])
BUNCH_SPACING_NS = 25.0
#: Fractions of a soft photon's energy in PS, L1, L2, L3.
SOFT_LAYER_FRACTIONS = np.array([0.08, 0.37, 0.50, 0.05])
#: Charged hadrons that interact in the accordion leave most of their EM-scale signal deep:
#: fractions in PS, L1, L2, L3.
HADRON_LAYER_FRACTIONS = np.array([0.03, 0.12, 0.50, 0.35])
#: Half-sizes (η, φ) of the region around an object where in-time particles are drawn: wide
#: in φ so that soft charged particles bending into the calorimeter window are included.
PARTICLE_REGION = (0.45, 1.0)

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


@dataclass
class Interactions:
    """In-time pile-up interactions: ``offsets`` (n_events + 1) into their ``z`` (cm)."""

    offsets: np.ndarray
    z: np.ndarray

    def count(self) -> np.ndarray:
        return np.diff(self.offsets)


def interactions(rng: np.random.Generator, mu: np.ndarray) -> Interactions:
    """Poisson(⟨μ⟩) in-time pile-up interactions per event, z ~ N(0, σ_z) of the luminous
    region."""
    n = rng.poisson(mu)
    offsets = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
    return Interactions(offsets, rng.normal(0.0, BEAMSPOT_SIGMA_Z, int(offsets[-1])))


def _deposits(rng: np.random.Generator, charged: np.ndarray, pt: np.ndarray, eta: np.ndarray,
              cfg: SimConfig) -> tuple[np.ndarray, np.ndarray]:
    """EM-scale energy (GeV, (n,)) and layer fractions ((n, 4): PS, L1, L2, L3) that soft
    particles leave in the EM calorimeter: neutral ones (π0 photons) all of their energy;
    charged hadrons a fraction U(0.2, 0.6) of it when they interact in the accordion
    (probability ``cfg.pileup_hadron_interaction``), else a minimum-ionising track
    (15 MeV per X0 of accordion, as the muons)."""
    n = len(pt)
    energy = pt * np.cosh(eta)
    interact = rng.uniform(0.0, 1.0, n) < cfg.pileup_hadron_interaction
    frac = rng.uniform(0.2, 0.6, n)
    depth = geo.accordion_depths_x0(np.abs(eta))
    thick = np.diff(np.concatenate([np.zeros((n, 1)), depth], axis=1), axis=1)
    mip = np.concatenate([np.full((n, 1), 0.004), 0.015 * thick], axis=1)
    mip_e = mip.sum(axis=1)
    e = np.where(charged, np.where(interact, frac * energy, mip_e), energy)
    layers = np.where(
        charged[:, None],
        np.where(interact[:, None], HADRON_LAYER_FRACTIONS[None, :], mip / mip_e[:, None]),
        SOFT_LAYER_FRACTIONS[None, :],
    )
    return e, layers


def _spots(event, cluster, eta, phi, energy, layers, time) -> Spots:  # noqa: PLR0917
    """One spot per layer for each soft deposit (``layers``: (n, 4) fractions)."""
    m = len(eta)
    lay = np.tile(np.arange(4), m)
    rep = np.repeat(np.arange(m), 4)
    return Spots(
        event=event[rep],
        cluster=cluster[rep].astype(np.int64),
        layer=lay,
        eta=eta[rep],
        phi=phi[rep],
        energy=(energy[:, None] * layers).reshape(-1),
        time=time[rep],
        signal=np.zeros(4 * m, bool),
    )


def out_of_time_spots(
    rng: np.random.Generator,
    cl_event: np.ndarray,
    cl_eta: np.ndarray,
    cl_phi: np.ndarray,
    *,
    mu_event: np.ndarray,
    cfg: SimConfig,
) -> Spots:
    """Soft deposits of the bunch crossings before the triggered one around each cluster
    window (neutral and charged particles, Poisson(⟨μ⟩) interactions per crossing), weighted
    by the pulse shape g(k)."""
    half_eta = 0.5 * geo.WINDOW_ETA_CELLS * geo.LAYER2_DETA + 0.05
    half_phi = 0.5 * geo.WINDOW_PHI_CELLS * geo.LAYER2_DPHI + 0.1
    area = 4 * half_eta * half_phi
    oot = CROSSINGS != 0
    density = cfg.pileup_density + cfg.pileup_track_density
    lam = (mu_event[cl_event] * density * area)[:, None] * np.ones(int(oot.sum()))
    counts = rng.poisson(lam)  # (n_cl, n_out_of_time_crossings)
    flat = counts.reshape(-1)
    rows = np.repeat(np.arange(flat.size), flat)
    icl, ibx = rows // int(oot.sum()), np.flatnonzero(oot)[rows % int(oot.sum())]
    m = len(rows)
    eta = cl_eta[icl] + rng.uniform(-half_eta, half_eta, m)
    phi = cl_phi[icl] + rng.uniform(-half_phi, half_phi, m)
    charged = rng.uniform(0.0, 1.0, m) < cfg.pileup_track_density / density
    pt = np.where(charged, 0.5 + rng.exponential(0.7, m),
                  0.1 + rng.exponential(cfg.pileup_mean_et - 0.1, m))
    e, layers = _deposits(rng, charged, pt, eta, cfg)
    # the optimal-filter time is meaningful only near the pulse peak: deposits in the
    # undershoot (k <= -3) read as 'long before' (-75 ns)
    t = np.maximum(CROSSINGS[ibx] * BUNCH_SPACING_NS, -3 * BUNCH_SPACING_NS) + rng.normal(0, 0.5, m)
    return _spots(cl_event[icl], icl, eta, phi, e * PULSE_WEIGHTS[ibx], layers, t)


def in_time_particles(
    rng: np.random.Generator,
    obj_event: np.ndarray,
    obj_eta: np.ndarray,
    obj_phi: np.ndarray,
    inter: Interactions,
    *,
    cfg: SimConfig,
    cone: float = 0.4,
) -> tuple[Spots, Tracks]:
    """The in-time pile-up particles around each object, drawn per interaction of its event:
    their calorimeter deposits (neutral and charged, the charged ones where they reach the
    calorimeter after bending) and the tracks of the charged ones within ΔR < ``cone`` and
    |η| < 2.5 (z0 from their interaction's z; the vertex index is assigned later from the
    reconstructed vertices)."""
    a_eta, a_phi = PARTICLE_REGION
    area = 4 * a_eta * a_phi
    n_int = inter.count()[obj_event]
    n_neu = rng.poisson(n_int * cfg.pileup_density * area)
    n_chg = rng.poisson(n_int * cfg.pileup_track_density * area)
    parts = []
    for n, charged in ((n_neu, False), (n_chg, True)):
        io = np.repeat(np.arange(len(obj_eta)), n)
        m = len(io)
        eta = obj_eta[io] + rng.uniform(-a_eta, a_eta, m)
        phi = wrap_phi(obj_phi[io] + rng.uniform(-a_phi, a_phi, m))
        pt = (0.5 + rng.exponential(0.7, m) if charged
              else 0.1 + rng.exponential(cfg.pileup_mean_et - 0.1, m))
        parts.append((io, eta, phi, pt, np.full(m, charged)))
    io, eta, phi, pt, charged = (np.concatenate(x) for x in zip(*parts, strict=True))
    m = len(io)
    q = np.where(rng.uniform(0.0, 1.0, m) < 0.5, -1, 1)
    # charged particles reach the calorimeter bent by the solenoid field
    r_c = geo.calo_front_radius(eta) * 1.1
    y, _ = charged_offset(r_c, 0.0, geo.field_exit_radius(eta), q * CURV * geo.BFIELD_T / pt)
    phi_calo = np.where(charged, wrap_phi(phi + y / r_c), phi)
    e, layers = _deposits(rng, charged, pt, eta, cfg)
    ev = obj_event[io]
    spots = _spots(ev, io, eta, phi_calo, e, layers, rng.normal(0.0, 0.5, m))

    # tracks of the charged particles inside the cone, from their own interaction's z
    dr = np.hypot(eta - obj_eta[io], wrap_phi(phi - obj_phi[io]))
    trk = np.flatnonzero(charged & (dr < cone) & (np.abs(eta) < 2.5))
    k = len(trk)
    # every object with particles has at least one interaction in its event
    which = np.minimum((rng.uniform(0.0, 1.0, k) * n_int[io[trk]]).astype(np.int64),
                       n_int[io[trk]] - 1)
    z_true = inter.z[inter.offsets[ev[trk]] + which]
    pt_t, eta_t = pt[trk], eta[trk]
    sz0 = tracking.z0_resolution(pt_t, eta_t)
    sd0 = tracking.d0_resolution(pt_t, eta_t)
    d0 = sd0 * rng.standard_normal(k)
    npix, nsct, ntrt = tracking.hits(rng, eta_t)
    tracks = Tracks(
        event=ev[trk],
        pt=pt_t * (1 + tracking.pt_resolution(pt_t, eta_t) * rng.standard_normal(k)),
        eta=eta_t + tracking.eta_resolution(pt_t, eta_t) * rng.standard_normal(k),
        phi=wrap_phi(phi[trk] + tracking.phi_resolution(pt_t, eta_t) * rng.standard_normal(k)),
        charge=q[trk].astype(np.int32),
        d0=d0,
        d0sig=d0 / sd0,
        z0=z_true + sz0 * rng.standard_normal(k),
        n_pix=npix,
        n_sct=nsct,
        n_trt=ntrt,
        vtx=np.full(k, -1, np.int32),
        gen_idx=np.full(k, -1, np.int32),
        obj=np.full(k, -1, np.int32),
        sz0=sz0,
    )
    return spots, tracks


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
