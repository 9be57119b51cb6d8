"""Hard-process kinematics: Z->ee, Z->mumugamma (FSR), H->gammagamma and single-particle guns.

Every generator returns a :class:`GenParticles` table (flat arrays, one row per generator
particle, grouped by event). Units: GeV, radians, cm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calocoffea.constants import GAMMA_Z_GEV, ME_GEV, MH_GEV, MMU_GEV, MZ_GEV
from calocoffea.geometry import ETA_MAX

BEAMSPOT_SIGMA_Z = 4.5  # cm, ATLAS Run 2 luminous region

# NanoAOD GenPart statusFlags bits: isPrompt 0, isHardProcess 7, fromHardProcess 8,
# isLastCopy 13.
FLAGS_BOSON = (1 << 0) | (1 << 7) | (1 << 13)
FLAGS_DAUGHTER = (1 << 0) | (1 << 7) | (1 << 8) | (1 << 13)
FLAGS_FSR = (1 << 0) | (1 << 8) | (1 << 13)

PROCESSES: tuple[str, ...] = ("zee", "zmumugamma", "hgamgam", "egun", "gammagun")


@dataclass
class GenParticles:
    """Generator particles of ``n_events`` events; ``event`` (n,) is each row's event."""

    n_events: int
    event: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    pdg_id: np.ndarray
    status: np.ndarray
    status_flags: np.ndarray
    mother: np.ndarray  # event-local index, -1 none
    vertex_z: np.ndarray  # (n_events,) cm

    @property
    def local_index(self) -> np.ndarray:
        """Event-local index of every row."""
        starts = np.searchsorted(self.event, np.arange(self.n_events))
        return np.arange(len(self.event)) - starts[self.event]

    @property
    def energy(self) -> np.ndarray:
        return np.sqrt((self.pt * np.cosh(self.eta)) ** 2 + self.mass**2)


def _p4(pt, eta, phi, m):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + m**2)], axis=-1)


def _kin(p4):
    px, py, pz, e = p4[..., 0], p4[..., 1], p4[..., 2], p4[..., 3]
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-12))
    phi = np.arctan2(py, px)
    m = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))
    return pt, eta, phi, m


def _boost(p4, parent):
    """Boost ``p4`` (rest frame of ``parent``) to the lab; both (n, 4)."""
    m = np.sqrt(np.maximum(parent[:, 3] ** 2 - np.sum(parent[:, :3] ** 2, axis=1), 1e-12))
    b = parent[:, :3] / parent[:, 3:4]
    b2 = np.sum(b**2, axis=1)
    gamma = parent[:, 3] / m
    bp = np.sum(b * p4[:, :3], axis=1)
    g2 = np.where(b2 > 0, (gamma - 1.0) / np.maximum(b2, 1e-300), 0.0)
    p3 = p4[:, :3] + (g2 * bp + gamma * p4[:, 3])[:, None] * b
    e = gamma * (p4[:, 3] + bp)
    return np.concatenate([p3, e[:, None]], axis=1)


def _two_body(rng, parent, m_daughter, cos_theta):
    """Back-to-back decay of ``parent`` (n, 4) with the given rest-frame cos(theta)."""
    n = len(parent)
    m = np.sqrt(np.maximum(parent[:, 3] ** 2 - np.sum(parent[:, :3] ** 2, axis=1), 1e-12))
    p = np.sqrt(np.maximum((m / 2) ** 2 - m_daughter**2, 0.0))
    sin_t = np.sqrt(1 - cos_theta**2)
    ph = rng.uniform(-np.pi, np.pi, n)
    d = np.stack([p * sin_t * np.cos(ph), p * sin_t * np.sin(ph), p * cos_theta, m / 2], axis=1)
    d2 = d.copy()
    d2[:, :3] *= -1
    return _boost(d, parent), _boost(d2, parent)


#: Boson p_T spectra (GeV): f(p_T) ~ p_T (p_T² + scale²)^-BOSON_PT_POWER, capped.
BOSON_PT_SCALE_GEV: dict[str, float] = {"zee": 6.0, "zmumugamma": 6.0, "hgamgam": 12.0}
BOSON_PT_POWER = 2.0
BOSON_PT_CAP_GEV = 400.0
#: Generated Z mass range (GeV) of the Breit–Wigner.
Z_MASS_RANGE_GEV: tuple[float, float] = (60.0, 120.0)
#: Event branch (GeV) of a file generated with ``boson_pt_min`` > 0 (absent otherwise):
#: NanoEvents reads it as ``events.Generator.bosonPtMin``.
BOSON_PT_MIN_BRANCH = "Generator_bosonPtMin"
#: Processes with a boson whose p_T spectrum ``boson_pt_min`` truncates.
BOSON_PROCESSES: tuple[str, ...] = tuple(BOSON_PT_SCALE_GEV)


def _u_max(scale: float, pt_min: float) -> float:
    # the spectrum's inverse CDF is monotone falling in u: p_T >= pt_min <=> u <= u_max
    return float((1.0 + (pt_min / scale) ** 2) ** (-(BOSON_PT_POWER - 1.0)))


def _boson_pt(rng, n, scale, pt_min=0.0):
    # f(pT) ~ pT (pT^2 + M^2)^-n: Sudakov-like peak at a few GeV, power-law tail. pt_min > 0
    # draws the same spectrum above pt_min (inverse CDF on [0, u_max]): same number of draws
    u = rng.uniform(1e-9, 1.0, n) if pt_min <= 0 else \
        rng.uniform(1e-9, _u_max(scale, pt_min), n)
    pt = scale * np.sqrt(u ** (-1.0 / (BOSON_PT_POWER - 1.0)) - 1.0)
    return np.minimum(pt, BOSON_PT_CAP_GEV)


def check_boson_pt_min(process: str, pt_min: float) -> None:
    """ValueError unless ``pt_min`` (GeV) can truncate the boson p_T of ``process``."""
    if process not in BOSON_PROCESSES:
        raise ValueError(f"boson_pt_min: {process} has no boson (one of {BOSON_PROCESSES})")
    if not 0 <= pt_min < BOSON_PT_CAP_GEV:
        raise ValueError(f"boson_pt_min must be in [0, {BOSON_PT_CAP_GEV}) GeV, got {pt_min}")


def boson_pt_fraction(process: str, pt_min: float) -> float:
    """Fraction of the generated bosons of ``process`` with p_T ≥ ``pt_min`` (GeV): the
    cross-section factor of a sample generated with ``boson_pt_min`` for Z→ee and H→γγ; for
    Z→μμγ the fraction before its generator-level photon E_T cut, which keeps more boosted
    events (measured 0.70 % instead of 0.44 % above 90 GeV), so not its factor."""
    check_boson_pt_min(process, pt_min)
    return 1.0 if pt_min <= 0 else _u_max(BOSON_PT_SCALE_GEV[process], pt_min)


def complete_above_et(process: str, pt_min: float) -> float:
    """Generator E_T (GeV) above which a sample with boson p_T ≥ ``pt_min`` holds every
    object of the inclusive sample: a massless daughter of a boson of mass M and transverse
    momentum q has E_T ≤ (√(M² + q²) + q)/2 (rest-frame energy ≤ M/2, boosted by q/M; the
    longitudinal boost leaves E_T alone), so events with q < pt_min have none above that at
    the largest generated M. 0 for ``pt_min`` 0 (nothing is missing)."""
    check_boson_pt_min(process, pt_min)
    if pt_min <= 0:
        return 0.0
    m = MH_GEV if process == "hgamgam" else Z_MASS_RANGE_GEV[1]
    return float((np.hypot(m, pt_min) + pt_min) / 2)


def _bw_mass(rng, n, m0, gamma, lo, hi):  # noqa: PLR0917
    # Non-relativistic Breit-Wigner truncated to [lo, hi] by inverse CDF.
    a, b = np.arctan((lo - m0) / (gamma / 2)), np.arctan((hi - m0) / (gamma / 2))
    return m0 + gamma / 2 * np.tan(rng.uniform(a, b, n))


def _cos_theta_1pc2(rng, n):
    # 1 + cos^2(theta) by accept-reject (efficiency 2/3).
    out = np.empty(0)
    while len(out) < n:
        c = rng.uniform(-1, 1, 2 * n)
        keep = rng.uniform(0, 2, 2 * n) < 1 + c**2
        out = np.concatenate([out, c[keep]])
    return out[:n]


def _assemble(n_events, vz, rows):
    """rows: list of (pt, eta, phi, m, pdg, status, flags, mother) per event slot."""
    k = len(rows)
    cols = [np.stack([r[i] for r in rows], axis=1).reshape(-1) for i in range(8)]
    return GenParticles(
        n_events=n_events,
        event=np.repeat(np.arange(n_events), k),
        pt=cols[0].astype(np.float64),
        eta=cols[1].astype(np.float64),
        phi=cols[2].astype(np.float64),
        mass=cols[3].astype(np.float64),
        pdg_id=cols[4].astype(np.int32),
        status=cols[5].astype(np.int32),
        status_flags=cols[6].astype(np.int32),
        mother=cols[7].astype(np.int32),
        vertex_z=vz,
    )


def _full(n, v):
    return np.full(n, v)


def _boson(rng, n, mass, *, pt_scale, y_sigma, pt_min=0.0):
    pt = _boson_pt(rng, n, pt_scale, pt_min)
    y = rng.normal(0.0, y_sigma, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    mt = np.sqrt(mass**2 + pt**2)
    p4 = np.stack([pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y), mt * np.cosh(y)], axis=1)
    return p4


def generate_zll(rng: np.random.Generator, n: int, lepton_pdg: int,
                 boson_pt_min: float = 0.0) -> tuple:
    """Z -> l+ l- four-vectors: (Z, l-, l+) each (n, 4), 1+cos^2 decay, BW mass; Z p_T
    ≥ ``boson_pt_min`` (GeV)."""
    m = _bw_mass(rng, n, MZ_GEV, GAMMA_Z_GEV, *Z_MASS_RANGE_GEV)
    z = _boson(rng, n, m, pt_scale=BOSON_PT_SCALE_GEV["zee"], y_sigma=2.0, pt_min=boson_pt_min)
    ml = ME_GEV if lepton_pdg == 11 else MMU_GEV
    lm, lp = _two_body(rng, z, ml, _cos_theta_1pc2(rng, n))
    return z, lm, lp


#: QED final-state radiation of Z->ee (quasi-collinear, one emission per lepton, O(alpha)):
#: fine-structure constant at q^2 = 0 (real photons), photon energy-fraction range and the
#: maximum emission angle (rad) of the collinear approximation.
ALPHA_QED = 1.0 / 137.036
FSR_Z_RANGE = (0.002, 0.95)
FSR_THETA_MAX = 1.0


def _fsr_splitting(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """``n`` photon energy fractions z with dN/dz ~ (1 + (1-z)^2)/z on [lo, hi]."""
    zs = np.empty(0)
    while len(zs) < n:
        cand = lo * (hi / lo) ** rng.uniform(0, 1, 2 * n + 16)
        keep = rng.uniform(0, 2, len(cand)) < 1 + (1 - cand) ** 2
        zs = np.concatenate([zs, cand[keep]])
    return zs[:n]


def fsr_probability(energy: np.ndarray, m_lepton: float) -> np.ndarray:
    """Probability that a lepton of ``energy`` (GeV) radiates a photon with z in FSR_Z_RANGE.

    Quasi-collinear QED emission, dP = alpha/(2 pi) (1 + (1-z)^2)/z dz dtheta^2/(theta^2 +
    theta_0^2) with theta_0 = m/E (the soft-collinear limit behind PHOTOS, Comput. Phys.
    Commun. 79 (1994) 291), integrated over theta < FSR_THETA_MAX and z in FSR_Z_RANGE.
    """
    lo, hi = FSR_Z_RANGE
    z_int = 2 * np.log(hi / lo) - 2 * (hi - lo) + (hi**2 - lo**2) / 2
    theta0 = m_lepton / np.maximum(energy, 1e-6)
    ang = np.log1p((FSR_THETA_MAX / theta0) ** 2)
    return np.clip(ALPHA_QED / (2 * np.pi) * ang * z_int, 0.0, 1.0)


def _tilted(rng: np.random.Generator, p3: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Unit vectors at angle ``theta`` (n,) from the directions of ``p3`` (n, 3), at a uniform
    random azimuth around them (one draw per row)."""
    u = p3 / np.linalg.norm(p3, axis=1, keepdims=True)
    a = np.where(np.abs(u[:, 2:3]) < 0.9, np.array([[0, 0, 1.0]]), np.array([[1.0, 0, 0]]))
    v1 = np.cross(u, a)
    v1 /= np.linalg.norm(v1, axis=1, keepdims=True)
    v2 = np.cross(u, v1)
    psi = rng.uniform(0, 2 * np.pi, len(u))
    return np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * (
        np.cos(psi)[:, None] * v1 + np.sin(psi)[:, None] * v2
    )


def _radiate(rng: np.random.Generator, lep: np.ndarray, m_lepton: float, enabled: bool = True):
    """FSR off leptons ``lep`` (n, 4): (radiates (n,) bool, lepton after, photon), (n, 4).
    ``enabled`` False radiates nothing but draws the same random numbers (the events are
    otherwise those of the FSR sample)."""
    n = len(lep)
    e = lep[:, 3]
    rad = (rng.uniform(0, 1, n) < fsr_probability(e, m_lepton)) & enabled
    zf = _fsr_splitting(rng, n, *FSR_Z_RANGE)
    theta0 = m_lepton / e
    # dtheta^2 / (theta^2 + theta0^2) on [0, theta_max] by inverse CDF
    span = np.log1p((FSR_THETA_MAX / theta0) ** 2)
    theta = theta0 * np.sqrt(np.expm1(rng.uniform(0, 1, n) * span))
    d = _tilted(rng, lep[:, :3], theta)
    eg = np.where(rad, zf * e, 0.0)
    g = np.concatenate([eg[:, None] * d, eg[:, None]], axis=1)
    p3 = lep[:, :3] - g[:, :3]
    after = np.concatenate([p3, np.sqrt(np.sum(p3**2, axis=1) + m_lepton**2)[:, None]], axis=1)
    return rad, after, g


def gen_zee(rng: np.random.Generator, n: int, fsr: bool = True,
            boson_pt_min: float = 0.0) -> GenParticles:
    """Z -> e+ e- (gamma): each electron may radiate one QED FSR photon (:func:`fsr_probability`);
    ``fsr`` False gives the Breit–Wigner line shape of the electrons alone (the truth-energy
    check of the mass fits); ``boson_pt_min`` (GeV) the spectrum above it only.

    Momenta are rescaled so that m(e e [gamma gamma]) equals the Breit-Wigner mass. GenPart
    rows per event: Z (0), e- (1), e+ (2), then the FSR photon(s) with ``mother`` 1 or 2.
    The electrons are the bare (post-FSR) leptons, as in ATLAS/CMS truth matching.
    """
    z, em, ep = generate_zll(rng, n, 11, boson_pt_min)
    rad_m, em, g_m = _radiate(rng, em, ME_GEV, fsr)
    rad_p, ep, g_p = _radiate(rng, ep, ME_GEV, fsr)
    tot = em + ep + g_m + g_p
    m_now = np.sqrt(np.maximum(tot[:, 3] ** 2 - np.sum(tot[:, :3] ** 2, axis=1), 1e-9))
    m_target = np.sqrt(np.maximum(z[:, 3] ** 2 - np.sum(z[:, :3] ** 2, axis=1), 1e-9))
    f = (m_target / m_now)[:, None]
    em, ep, g_m, g_p = em * f, ep * f, g_m * f, g_p * f
    vz = rng.normal(0, BEAMSPOT_SIGMA_Z, n)
    kz, km, kp, kgm, kgp = _kin(z), _kin(em), _kin(ep), _kin(g_m), _kin(g_p)
    rows = [
        (*kz, _full(n, 23), _full(n, 62), _full(n, FLAGS_BOSON), _full(n, -1)),
        (*km[:3], _full(n, ME_GEV), _full(n, 11), _full(n, 1), _full(n, FLAGS_DAUGHTER),
         _full(n, 0)),
        (*kp[:3], _full(n, ME_GEV), _full(n, -11), _full(n, 1), _full(n, FLAGS_DAUGHTER),
         _full(n, 0)),
        (*kgm[:3], _full(n, 0.0), _full(n, 22), _full(n, 1), _full(n, FLAGS_FSR), _full(n, 1)),
        (*kgp[:3], _full(n, 0.0), _full(n, 22), _full(n, 1), _full(n, FLAGS_FSR), _full(n, 2)),
    ]
    keep = np.stack([np.ones(n, bool)] * 3 + [rad_m, rad_p], axis=1).reshape(-1)
    return _take_rows(_assemble(n, vz, rows), keep)


def _take_rows(g: GenParticles, keep: np.ndarray) -> GenParticles:
    """Drop rows (only trailing rows of an event, so event-local mother indices stay valid)."""
    return GenParticles(
        n_events=g.n_events,
        event=g.event[keep],
        pt=g.pt[keep],
        eta=g.eta[keep],
        phi=g.phi[keep],
        mass=g.mass[keep],
        pdg_id=g.pdg_id[keep],
        status=g.status[keep],
        status_flags=g.status_flags[keep],
        mother=g.mother[keep],
        vertex_z=g.vertex_z,
    )


#: Generator-level photon E_T threshold of Z->mumugamma (GeV), as in the ATLAS Sherpa
#: mumugamma samples used by the thesis (photon pT > 10 GeV at generation, its table 3.1).
ZMUMUGAMMA_PHOTON_ET_MIN = 10.0


def gen_zmumugamma(
    rng: np.random.Generator, n: int, photon_et_min: float = ZMUMUGAMMA_PHOTON_ET_MIN,
    boson_pt_min: float = 0.0,
) -> GenParticles:
    """Z -> mu mu gamma: one muon radiates a photon with an FSR spectrum and angle.

    The photon takes a fraction z of the muon energy, dN/dz ~ (1 + (1-z)^2)/z on
    [0.05, 0.8] (the q->q gamma splitting function), at an angle with dN/dtheta ~ 1/theta
    (collinear enhancement, cut off at theta_min ~ m_mu/E and 1 rad). Momenta are then
    rescaled so that m(mu mu gamma) equals the Breit-Wigner mass exactly. Events whose photon
    has E_T below ``photon_et_min`` are regenerated (a generator-level cut, deterministic for
    a given ``rng`` state). ``boson_pt_min`` (GeV): Z p_T above it only.
    """
    parts = []
    have = 0
    while have < n:
        vz, kz, km, kp, kg, which = _zmumugamma_block(rng, 3 * max(n - have, 64),
                                                      boson_pt_min)
        keep = kg[0] >= photon_et_min  # photon pT (GeV)
        parts.append([vz[keep], *(c[keep] for c in (*kz, *km, *kp, *kg)), which[keep]])
        have += int(keep.sum())
    cols = [np.concatenate(c)[:n] for c in zip(*parts, strict=True)]
    vz, which = cols[0], cols[-1]
    kz, km, kp, kg = (cols[1 + 4 * i : 5 + 4 * i] for i in range(4))
    rows = [
        (*kz, _full(n, 23), _full(n, 62), _full(n, FLAGS_BOSON), _full(n, -1)),
        (*km[:3], _full(n, MMU_GEV), _full(n, 13), _full(n, 1), _full(n, FLAGS_DAUGHTER),
         _full(n, 0)),
        (*kp[:3], _full(n, MMU_GEV), _full(n, -13), _full(n, 1), _full(n, FLAGS_DAUGHTER),
         _full(n, 0)),
        (*kg[:3], _full(n, 0.0), _full(n, 22), _full(n, 1), _full(n, FLAGS_FSR), 1 + which),
    ]
    return _assemble(n, vz, rows)


def _zmumugamma_block(rng: np.random.Generator, n: int, boson_pt_min: float = 0.0):
    """``n`` candidate Z->mumugamma decays: (vz, kin(Z), kin(mu-), kin(mu+), kin(gamma),
    index of the radiating muon), each kin a (pt, eta, phi, m) tuple of (n,) arrays."""
    z4, mm, mp = generate_zll(rng, n, 13, boson_pt_min)
    # splitting fraction by accept-reject on 1/z envelope
    zs = np.empty(0)
    while len(zs) < n:
        cand = 0.05 * (0.8 / 0.05) ** rng.uniform(0, 1, 2 * n)
        keep = rng.uniform(0, 2, 2 * n) < 1 + (1 - cand) ** 2
        zs = np.concatenate([zs, cand[keep]])
    zf = zs[:n]
    which = rng.integers(0, 2, n)  # 0: mu-, 1: mu+
    rad = np.where(which[:, None] == 0, mm, mp)
    other = np.where(which[:, None] == 0, mp, mm)
    e_mu = rad[:, 3]
    th_min = np.maximum(MMU_GEV / e_mu, 0.01)
    theta = th_min * (1.0 / th_min) ** rng.uniform(0, 1, n)
    theta = np.minimum(theta, 1.0)
    d = _tilted(rng, rad[:, :3], theta)  # photon direction
    eg = zf * e_mu
    g = np.concatenate([eg[:, None] * d, eg[:, None]], axis=1)
    p3 = rad[:, :3] - g[:, :3]
    mu_new = np.concatenate([p3, np.linalg.norm(p3, axis=1, keepdims=True)], axis=1)
    other = other.copy()
    other[:, 3] = np.linalg.norm(other[:, :3], axis=1)
    tot = mu_new + other + g
    m_now = np.sqrt(np.maximum(tot[:, 3] ** 2 - np.sum(tot[:, :3] ** 2, axis=1), 1e-9))
    m_target = np.sqrt(np.maximum(z4[:, 3] ** 2 - np.sum(z4[:, :3] ** 2, axis=1), 1e-9))
    f = (m_target / m_now)[:, None]
    mu_new, other, g = mu_new * f, other * f, g * f
    new_mm = np.where(which[:, None] == 0, mu_new, other)
    new_mp = np.where(which[:, None] == 0, other, mu_new)
    vz = rng.normal(0, BEAMSPOT_SIGMA_Z, n)
    return vz, _kin(z4), _kin(new_mm), _kin(new_mp), _kin(g), which


def gen_hgamgam(rng: np.random.Generator, n: int, boson_pt_min: float = 0.0) -> GenParticles:
    """gg -> H -> gamma gamma: isotropic decay, ggF-like pT (peak ~10 GeV) and rapidity;
    ``boson_pt_min`` (GeV): H p_T above it only."""
    h = _boson(rng, n, np.full(n, MH_GEV), pt_scale=BOSON_PT_SCALE_GEV["hgamgam"], y_sigma=1.8,
               pt_min=boson_pt_min)
    g1, g2 = _two_body(rng, h, 0.0, rng.uniform(-1, 1, n))
    vz = rng.normal(0, BEAMSPOT_SIGMA_Z, n)
    kh, k1, k2 = _kin(h), _kin(g1), _kin(g2)
    rows = [
        (*kh, _full(n, 25), _full(n, 62), _full(n, FLAGS_BOSON), _full(n, -1)),
        (*k1[:3], _full(n, 0.0), _full(n, 22), _full(n, 1), _full(n, FLAGS_DAUGHTER),
         _full(n, 0)),
        (*k2[:3], _full(n, 0.0), _full(n, 22), _full(n, 1), _full(n, FLAGS_DAUGHTER),
         _full(n, 0)),
    ]
    return _assemble(n, vz, rows)


def gun_et(
    rng: np.random.Generator, n: int, et_range: tuple[float, float] = (5.0, 500.0)
) -> np.ndarray:
    """Gun E_T (GeV): half log-uniform over ``et_range``, half flat over the Z/H range."""
    lo, hi = et_range
    log_u = lo * (hi / lo) ** rng.uniform(0, 1, n)
    flat = rng.uniform(max(lo, 15.0), min(hi, 100.0), n) if hi > max(lo, 15.0) else log_u
    return np.where(rng.uniform(0, 1, n) < 0.5, log_u, flat)


def gen_gun(
    rng: np.random.Generator,
    n: int,
    pdg: int,
    *,
    et_range: tuple[float, float] = (5.0, 500.0),
    eta_range: tuple[float, float] = (-ETA_MAX, ETA_MAX),
    energy: float | None = None,
) -> GenParticles:
    """Single electrons (random charge) or photons; fixed ``energy`` overrides ``et_range``."""
    eta = rng.uniform(eta_range[0], eta_range[1], n)
    pt = energy / np.cosh(eta) if energy is not None else gun_et(rng, n, et_range)
    phi = rng.uniform(-np.pi, np.pi, n)
    if pdg == 11:
        pid = np.where(rng.uniform(0, 1, n) < 0.5, 11, -11)
        m = ME_GEV
    else:
        pid = np.full(n, 22)
        m = 0.0
    vz = rng.normal(0, BEAMSPOT_SIGMA_Z, n)
    rows = [(pt, eta, phi, _full(n, m), pid, _full(n, 1), _full(n, FLAGS_DAUGHTER), _full(n, -1))]
    return _assemble(n, vz, rows)


def generate(rng: np.random.Generator, process: str, n: int, **gun_options) -> GenParticles:
    """Generator particles of ``n`` events of ``process`` (one of :data:`PROCESSES`);
    ``gun_options`` go to the guns, ``fsr`` to Z→ee and ``boson_pt_min`` (GeV) to the
    processes with a boson (:func:`complete_above_et` says where such a sample is complete)."""
    if process in BOSON_PROCESSES:
        allowed = {"boson_pt_min"} | ({"fsr"} if process == "zee" else set())
        unknown = set(gun_options) - allowed
        if unknown:
            raise ValueError(f"{process} takes only the options {sorted(allowed)}, got "
                             f"{sorted(unknown)}")
        if "boson_pt_min" in gun_options:
            check_boson_pt_min(process, gun_options["boson_pt_min"])
        fn = {"zee": gen_zee, "zmumugamma": gen_zmumugamma, "hgamgam": gen_hgamgam}[process]
        return fn(rng, n, **gun_options)
    if "boson_pt_min" in gun_options:
        check_boson_pt_min(process, gun_options["boson_pt_min"])  # raises: no boson
    if process == "egun":
        return gen_gun(rng, n, 11, **gun_options)
    if process == "gammagun":
        return gen_gun(rng, n, 22, **gun_options)
    raise ValueError(f"unknown process {process!r}; choose one of {PROCESSES}")
