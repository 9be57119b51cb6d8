"""Particles through the inner detector and the solenoid, up to the calorimeter front face.

Electrons lose energy by bremsstrahlung in the inner-detector material (Bethe-Heitler
energy-loss distribution, two emission zones) and bend in the 2 T solenoid; photons convert
with probability 1 - exp(-7/9 X/X0) into e+e- pairs that bend and radiate in the remaining
material. The result is a list of electromagnetic "showers" (energy, impact eta/phi at the
calorimeter, start depth offset) per calorimeter object, the hard-scatter tracks, and the
truth conversion record. Units: GeV, cm, radians, X0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from calocoffea import geometry as geo
from calocoffea.kinematics import wrap_phi
from calocoffea.sim import tracking
from calocoffea.sim.processes import GenParticles

#: Curvature constant: 1/R [1/cm] = CURV * B[T] / pT[GeV].
CURV = 0.003
#: Inner silicon/TRT boundary radius (cm) separating the two brem emission zones.
ID_MID_RADIUS = 55.0
ID_INNER_RADIUS = 3.3
#: Conversions are reconstructed only inside the TRT volume (ATLAS: R_conv < 800 mm).
CONV_RECO_MAX_RADIUS = 80.0
#: Per-leg track-reconstruction efficiency of conversion electrons by conversion radius (cm):
#: upper radius edges and efficiency. Legs starting inside the pixel/SCT volume leave
#: silicon tracks; beyond the last SCT layer (R ≈ 52 cm) only TRT-only tracks exist, which
#: are found less often and make single-track conversions dominate at large radius (the
#: shape of the conversion efficiency against radius of JINST 14 (2019) P12006 §4.2,
#: approximate; docs/simulation.md).
CONV_LEG_EFFICIENCY: tuple[tuple[float, float], ...] = ((30.0, 0.96), (55.0, 0.85), (80.0, 0.35))
#: Legs below this p_T (GeV) curl up or are lost; efficiency rises linearly to its plateau
#: over the next 1.5 GeV.
CONV_LEG_MIN_PT = 0.5
CONV_LEG_TURN_ON = 1.5
#: Mean free path of a high-energy photon: 9/7 X0 (PDG).
PHOTON_MFP_X0 = 9.0 / 7.0
#: Minimum object E_T (GeV) and |eta| for a calorimeter cluster.
OBJECT_MIN_ET = 4.5


@dataclass
class Objects:
    """Calorimeter objects (true electrons/photons in acceptance), one row per cluster."""

    event: np.ndarray
    gen_idx: np.ndarray  # event-local GenPart index
    pdg: np.ndarray  # signed pdgId
    energy: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    # true conversion record (photons): radius (cm, 0 = none), leg momentum fraction
    conv_radius: np.ndarray
    conv_x: np.ndarray
    # electron: remaining energy fraction after the inner brem zone (for the track)
    z_inner: np.ndarray
    # reconstructed-track quantities used to match satellite clusters (reco level, not
    # truth): electron track η and φ at the perigee; per conversion leg (n, 2) whether its
    # track was reconstructed, its measured p_T, whether it has silicon hits and the φ where
    # the reconstructed track meets the calorimeter (NaN when absent)
    conv_z: np.ndarray | None = None
    trk_eta: np.ndarray | None = None
    trk_phi: np.ndarray | None = None
    leg_reco: np.ndarray | None = None
    leg_pt: np.ndarray | None = None
    leg_si: np.ndarray | None = None
    leg_phi_calo: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.event)


@dataclass
class Showers:
    """EM showers entering the calorimeter: one row per (sub)shower."""

    obj: np.ndarray
    energy: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    is_photon: np.ndarray  # photons start showering after an exponential depth


@dataclass
class Tracks:
    """Charged tracks: perigee parameters and hit counts; ``obj`` = owning object or -1."""

    event: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    charge: np.ndarray
    d0: np.ndarray
    d0sig: np.ndarray
    z0: np.ndarray
    n_pix: np.ndarray
    n_sct: np.ndarray
    n_trt: np.ndarray
    vtx: np.ndarray
    gen_idx: np.ndarray
    obj: np.ndarray
    #: σ(z0) in cm (used for the vertex association; not written to the file)
    sz0: np.ndarray

    @staticmethod
    def concat(parts: list[Tracks]) -> Tracks:
        return Tracks(*[np.concatenate([getattr(p, f) for p in parts]) for f in _TRACK_FIELDS])

    def take(self, idx: np.ndarray) -> Tracks:
        return Tracks(*[getattr(self, f)[idx] for f in _TRACK_FIELDS])


_TRACK_FIELDS = [
    "event",
    "pt",
    "eta",
    "phi",
    "charge",
    "d0",
    "d0sig",
    "z0",
    "n_pix",
    "n_sct",
    "n_trt",
    "vtx",
    "gen_idx",
    "obj",
    "sz0",
]


def id_outer_radius(eta: np.ndarray) -> np.ndarray:
    """Transverse radius (cm) where a particle leaves the inner-detector volume."""
    a = np.maximum(np.abs(eta), 1e-6)
    return np.minimum(geo.ID_OUTER_RADIUS, 272.0 / np.sinh(a))


def charged_offset(r, r0, r_exit, qk):
    """Transverse displacement (cm) and direction change (rad) at radius ``r``.

    Small-angle helix of a charged particle created at radius ``r0`` moving radially, with
    signed curvature ``qk`` (1/cm) inside the field (r < r_exit) and straight outside.
    """
    rf = np.clip(np.minimum(r, r_exit) - r0, 0.0, None)
    y_field = -0.5 * qk * rf**2
    slope = -qk * rf
    y = y_field + slope * np.clip(r - np.maximum(r_exit, r0), 0.0, None)
    return y, slope


def pair_energy_fraction(rng: np.random.Generator, n: int) -> np.ndarray:
    """Energy fraction x of the electron in photon conversions, dσ/dx ∝ 1 − 4/3 x(1 − x)
    (complete screening; PDG review "Passage of particles through matter", pair
    production), by rejection sampling."""
    out = np.empty(n)
    todo = np.arange(n)
    while len(todo):
        x = rng.uniform(0.0, 1.0, len(todo))
        ok = rng.uniform(0.0, 1.0, len(todo)) < 1.0 - 4.0 / 3.0 * x * (1.0 - x)
        out[todo[ok]] = x[ok]
        todo = todo[~ok]
    return out


def conversion_leg_efficiency(r_conv: np.ndarray, pt_leg: np.ndarray) -> np.ndarray:
    """Probability that a conversion leg's track is reconstructed
    (:data:`CONV_LEG_EFFICIENCY` by radius, times the low-p_T turn-on)."""
    eff = np.zeros_like(np.asarray(r_conv, dtype=float))
    lo = 0.0
    for hi, value in CONV_LEG_EFFICIENCY:
        eff = np.where((r_conv >= lo) & (r_conv < hi), value, eff)
        lo = hi
    turn_on = np.clip((pt_leg - CONV_LEG_MIN_PT) / CONV_LEG_TURN_ON, 0.0, 1.0)
    return eff * turn_on


def _in_acceptance(gen: GenParticles) -> np.ndarray:
    apdg = np.abs(gen.pdg_id)
    return (
        ((apdg == 11) | (apdg == 22))
        & (gen.status == 1)
        & (np.abs(gen.eta) < geo.ETA_MAX)
        & (gen.pt > OBJECT_MIN_ET)
    )


def merged_fsr(gen: GenParticles) -> tuple[np.ndarray, np.ndarray]:
    """FSR photons that fall inside their mother electron's cluster window.

    Returns (photon rows, mother rows), global row indices of ``gen``. Such a photon reaches
    the calorimeter inside the electron's 7x11 window (generator directions; the electron's
    bending is small against the window at Z energies), so it is reconstructed as part of
    the electron cluster (as ATLAS superclusters collect satellite deposits), not as a
    photon of its own.
    """
    starts = np.searchsorted(gen.event, np.arange(gen.n_events))
    cand = np.nonzero((gen.pdg_id == 22) & (gen.status == 1) & (gen.mother >= 0))[0]
    mom = starts[gen.event[cand]] + gen.mother[cand]
    is_e = np.abs(gen.pdg_id[mom]) == 11
    cand, mom = cand[is_e], mom[is_e]
    acc = _in_acceptance(gen)
    deta = np.abs(gen.eta[cand] - gen.eta[mom])
    dphi = np.abs(wrap_phi(gen.phi[cand] - gen.phi[mom]))
    inside = (
        acc[mom]
        & (deta < 0.5 * geo.WINDOW_ETA_CELLS * geo.LAYER2_DETA)
        & (dphi < 0.5 * geo.WINDOW_PHI_CELLS * geo.LAYER2_DPHI)
    )
    return cand[inside], mom[inside]


def select_objects(gen: GenParticles) -> Objects:
    """True electrons/photons with E_T > 4.5 GeV and |eta| < 2.47: one cluster each.

    FSR photons inside their electron's window (:func:`merged_fsr`) belong to the electron.
    """
    sel = _in_acceptance(gen)
    sel[merged_fsr(gen)[0]] = False
    idx = np.nonzero(sel)[0]
    n = len(idx)
    return Objects(
        event=gen.event[idx],
        gen_idx=gen.local_index[idx].astype(np.int32),
        pdg=gen.pdg_id[idx],
        energy=gen.energy[idx],
        pt=gen.pt[idx],
        eta=gen.eta[idx],
        phi=gen.phi[idx],
        conv_radius=np.zeros(n),
        conv_x=np.zeros(n),
        z_inner=np.ones(n),
    )


def _bethe_heitler(rng, x0):
    """Remaining energy fraction after ``x0`` X0: -ln z ~ Gamma(x0 / ln 2) (Bethe-Heitler)."""
    c = np.maximum(np.asarray(x0) / np.log(2.0), 1e-9)
    return np.exp(-rng.gamma(c))


#: Bremsstrahlung is emitted continuously along the path: the material an electron crosses
#: in the inner detector is split into this many zones, each with its Bethe-Heitler loss
#: radiated as one photon at a random radius inside the zone (conversion legs: the material
#: after the conversion point in :data:`LEG_BREM_ZONES` zones).
BREM_ZONES = 6
LEG_BREM_ZONES = 3


def _advance(y, s, r0, r1, kappa, r_exit):  # noqa: PLR0917
    """Small-angle transverse displacement ``y`` (cm) and slope ``s`` of a charged track moved
    radially from ``r0`` to ``r1`` with signed curvature ``kappa`` (1/cm) inside the field
    (r < ``r_exit``) and straight outside."""
    dr_f = np.clip(np.minimum(r1, r_exit) - r0, 0.0, None)
    y = y + s * dr_f - 0.5 * kappa * dr_f**2
    s = s - kappa * dr_f
    dr_s = np.clip(r1 - np.maximum(r0, r_exit), 0.0, None)
    return y + s * dr_s, s


def radiate(  # noqa: PLR0917
    rng, energy, pt, charge, r_origin, r_start, r_stop, x_total, n_zones, r_calo, r_exit
):
    """Bremsstrahlung of charged particles from radius ``r_start`` to ``r_stop`` (cm) through
    ``x_total`` X0 in ``n_zones`` zones (all arrays (n,); energies and p_T in GeV).

    The particle starts at radius ``r_origin`` with the direction of φ offset 0.
    Returns (photon energies (n_zones, n), photon φ offsets at the calorimeter radius
    ``r_calo`` (n_zones, n), final energy (n,), final φ offset (n,), remaining fraction after
    each zone (n_zones, n)). A photon leaves tangentially to the track at its emission
    radius; the particle's curvature follows its momentum after each emission.
    """
    n = len(energy)
    edges = r_start[None, :] + (r_stop - r_start)[None, :] * (
        np.arange(n_zones + 1)[:, None] / n_zones)
    y = np.zeros(n)
    s = np.zeros(n)
    r_prev = np.asarray(r_origin, dtype=np.float64) * np.ones(n)
    e = energy.copy()
    p_t = pt.copy()
    e_g = np.zeros((n_zones, n))
    phi_g = np.zeros((n_zones, n))
    z_all = np.ones((n_zones, n))
    for k in range(n_zones):
        z = _bethe_heitler(rng, x_total / n_zones)
        r_b = rng.uniform(edges[k], np.maximum(edges[k + 1], edges[k] + 1e-3))
        kappa = charge * CURV * geo.BFIELD_T / np.maximum(p_t, 0.02)
        y, s = _advance(y, s, r_prev, r_b, kappa, r_exit)
        e_g[k] = e * (1.0 - z)
        phi_g[k] = (y + s * (r_calo - r_b)) / r_calo
        e = e * z
        p_t = p_t * z
        z_all[k] = z
        r_prev = r_b
    kappa = charge * CURV * geo.BFIELD_T / np.maximum(p_t, 0.02)
    y, _ = _advance(y, s, r_prev, r_calo, kappa, r_exit)
    return e_g, phi_g, e, y / r_calo, z_all


def propagate(rng: np.random.Generator, gen: GenParticles, objs: Objects,
              material_factor: Callable[[np.ndarray], np.ndarray] | None = None
              ) -> tuple[Showers, Tracks]:
    """Brem, conversions and bending of every object; returns its showers and hard tracks.
    ``material_factor(|η|)`` scales the inner-detector material (the data-like detector)."""
    aeta = np.abs(objs.eta)
    x_id = geo.id_material_x0(aeta)
    if material_factor is not None:
        x_id = x_id * material_factor(aeta)
    r_c = geo.calo_front_radius(objs.eta) * 1.1  # middle-layer depth
    r_exit = geo.field_exit_radius(objs.eta)
    r_id = id_outer_radius(objs.eta)
    is_e = np.abs(objs.pdg) == 11
    charge = np.where(objs.pdg == 11, -1.0, np.where(objs.pdg == -11, 1.0, 0.0))

    sh_obj, sh_e, sh_eta, sh_phi, sh_ph = [], [], [], [], []

    def add(mask_idx, e, eta, phi, photon):
        sh_obj.append(mask_idx)
        sh_e.append(e)
        sh_eta.append(eta)
        sh_phi.append(wrap_phi(phi))
        sh_ph.append(np.full(len(mask_idx), photon))

    # ---- electrons: brem along the path through the ID, then bending to the calo ----
    ie = np.nonzero(is_e)[0]
    e_g, phi_g, e_fin, dphi_e, z_all = radiate(
        rng, objs.energy[ie], objs.pt[ie], charge[ie], 0.0, np.full(len(ie), ID_INNER_RADIUS),
        r_id[ie], x_id[ie], BREM_ZONES, r_c[ie], r_exit[ie],
    )
    # the perigee momentum is measured by the silicon layers: after the inner half of the
    # zones (the brem of the silicon volume)
    z1 = np.prod(z_all[: BREM_ZONES // 2], axis=0)
    objs.z_inner[ie] = z1
    ct = np.cosh(objs.eta[ie])
    # electrons left with p_T below ~0.5 GeV curl up inside the solenoid (R = p_T/0.006 cm)
    e_fin = np.where(e_fin / ct > 0.5, e_fin, 0.0)
    add(ie, e_fin, objs.eta[ie], objs.phi[ie] + dphi_e, False)
    for k in range(BREM_ZONES):
        add(ie, e_g[k], objs.eta[ie], objs.phi[ie] + phi_g[k], True)
    # FSR photons collected in the electron's cluster shower as unconverted photons
    ph_rows, mom_rows = merged_fsr(gen)
    if len(ph_rows):
        starts = np.searchsorted(gen.event, np.arange(gen.n_events))
        obj_rows = starts[objs.event] + objs.gen_idx
        order = np.argsort(obj_rows)
        pos = order[np.searchsorted(obj_rows, mom_rows, sorter=order)]
        add(pos, gen.energy[ph_rows], gen.eta[ph_rows], gen.phi[ph_rows], True)

    # electron tracks: perigee momentum, degraded by brem in the innermost material, and the
    # ATLAS resolutions at their |η| and p_T (calocoffea.sim.tracking)
    pt_true = objs.pt[ie]
    eta_e = objs.eta[ie]
    n_e = len(ie)
    pt_meas = pt_true * np.sqrt(z1) * (
        1 + tracking.pt_resolution(pt_true, eta_e) * rng.standard_normal(n_e)
    )
    sd0 = tracking.d0_resolution(pt_true, eta_e)
    sz0 = tracking.z0_resolution(pt_true, eta_e)
    d0 = sd0 * rng.standard_normal(n_e)
    vz = gen.vertex_z[objs.event[ie]]
    npix, nsct, ntrt = tracking.hits(rng, eta_e)
    trk_eta = eta_e + tracking.eta_resolution(pt_true, eta_e) * rng.standard_normal(n_e)
    trk_phi = wrap_phi(objs.phi[ie] + tracking.phi_resolution(pt_true, eta_e)
                       * rng.standard_normal(n_e))
    trk_e = Tracks(
        event=objs.event[ie],
        pt=np.abs(pt_meas),
        eta=trk_eta,
        phi=trk_phi,
        charge=charge[ie].astype(np.int32),
        d0=d0,
        d0sig=d0 / sd0,
        z0=vz + sz0 * rng.standard_normal(n_e),
        n_pix=npix,
        n_sct=nsct,
        n_trt=ntrt,
        vtx=np.zeros(n_e, np.int32),
        gen_idx=objs.gen_idx[ie],
        obj=ie.astype(np.int32),
        sz0=sz0,
    )
    n_obj = len(objs)
    objs.trk_eta = np.full(n_obj, np.nan)
    objs.trk_phi = np.full(n_obj, np.nan)
    objs.trk_eta[ie] = trk_eta
    objs.trk_phi[ie] = trk_phi
    objs.conv_z = np.zeros(n_obj)
    objs.leg_reco = np.zeros((n_obj, 2), bool)
    objs.leg_pt = np.zeros((n_obj, 2))
    objs.leg_si = np.zeros((n_obj, 2), bool)
    objs.leg_phi_calo = np.full((n_obj, 2), np.nan)

    # ---- photons: conversion in the ID ----
    ig = np.nonzero(~is_e)[0]
    p_conv = 1.0 - np.exp(-7.0 / 9.0 * x_id[ig])
    conv = rng.uniform(0, 1, len(ig)) < p_conv
    iu, icv = ig[~conv], ig[conv]
    add(iu, objs.energy[iu], objs.eta[iu], objs.phi[iu], True)
    # material roughly uniform in radius inside the ID volume
    rconv = rng.uniform(ID_INNER_RADIUS, r_id[icv])
    x = pair_energy_fraction(rng, len(icv))
    objs.conv_radius[icv] = rconv
    objs.conv_x[icv] = x
    objs.conv_z[icv] = gen.vertex_z[objs.event[icv]] + rconv * np.sinh(objs.eta[icv])
    frac_left = 1.0 - (rconv - ID_INNER_RADIUS) / np.maximum(r_id[icv] - ID_INNER_RADIUS, 1.0)
    trk_conv = []
    for leg, (fx, q) in enumerate(((x, -1.0), (1.0 - x, 1.0))):
        e_leg = objs.energy[icv] * fx
        pt_leg = e_leg / np.cosh(objs.eta[icv])
        e_g, phi_g, e_end, dphi_leg, z_leg = radiate(
            rng, e_leg, pt_leg, np.full(len(icv), q), rconv, rconv, np.maximum(r_id[icv], rconv),
            x_id[icv] * frac_left, LEG_BREM_ZONES, r_c[icv], r_exit[icv],
        )
        for k in range(LEG_BREM_ZONES):
            add(icv, e_g[k], objs.eta[icv], objs.phi[icv] + phi_g[k], True)
        add(icv, e_end, objs.eta[icv], objs.phi[icv] + dphi_leg, False)
        zl = z_leg[0]  # the track is measured from the conversion point: first-zone brem
        # the leg's track: found with the radius- and pT-dependent efficiency inside the TRT
        # volume; a leg that is not found is lost (single-track or no conversion)
        found = (rconv < CONV_RECO_MAX_RADIUS) & (
            rng.uniform(0.0, 1.0, len(icv)) < conversion_leg_efficiency(rconv, pt_leg)
        )
        k = icv[found]
        n_ok = len(k)
        silicon = rconv[found] < ID_MID_RADIUS
        res = np.where(silicon, tracking.pt_resolution(pt_leg[found], objs.eta[k]), 0.05)
        ptm = pt_leg[found] * np.sqrt(zl[found]) * np.abs(1 + res * rng.standard_normal(n_ok))
        qk = q * CURV * geo.BFIELD_T / np.maximum(pt_leg[found], 0.02)
        d0 = -0.5 * qk * rconv[found] ** 2
        sd0 = np.where(silicon, tracking.d0_resolution(pt_leg[found], objs.eta[k]), 0.05)
        sz0_leg = np.where(silicon, 0.2, 1.0)
        npix, nsct, ntrt = tracking.hits(rng, objs.eta[k], silicon=silicon)
        npix = np.where(rconv[found] > 12.0, 0, npix).astype(np.int32)
        trk_conv.append(
            Tracks(
                event=objs.event[k],
                pt=ptm,
                eta=objs.eta[k] + 0.001 * rng.standard_normal(n_ok),
                phi=wrap_phi(objs.phi[k] + 0.001 * rng.standard_normal(n_ok)),
                charge=np.full(n_ok, int(q), np.int32),
                d0=d0,
                d0sig=d0 / sd0,
                z0=gen.vertex_z[objs.event[k]] + sz0_leg * rng.standard_normal(n_ok),
                n_pix=npix,
                n_sct=nsct,
                n_trt=ntrt,
                vtx=np.zeros(n_ok, np.int32),
                gen_idx=np.full(n_ok, -1, np.int32),
                obj=k.astype(np.int32),
                sz0=sz0_leg,
            )
        )
        # where the reconstructed track reaches the calorimeter (its measured curvature)
        qk_meas = q * CURV * geo.BFIELD_T / np.maximum(ptm, 0.02)
        y_meas, _ = charged_offset(r_c[k], rconv[found], r_exit[k], qk_meas)
        objs.leg_reco[k, leg] = True
        objs.leg_pt[k, leg] = ptm
        objs.leg_si[k, leg] = silicon
        objs.leg_phi_calo[k, leg] = wrap_phi(objs.phi[k] + y_meas / r_c[k])

    showers = Showers(
        obj=np.concatenate(sh_obj).astype(np.int64),
        energy=np.concatenate(sh_e),
        eta=np.concatenate(sh_eta),
        phi=np.concatenate(sh_phi),
        is_photon=np.concatenate(sh_ph),
    )
    keep = showers.energy > 0.01
    showers = Showers(
        *[getattr(showers, f)[keep] for f in ("obj", "energy", "eta", "phi", "is_photon")]
    )
    order = np.argsort(showers.obj, kind="stable")
    showers = Showers(
        *[getattr(showers, f)[order] for f in ("obj", "energy", "eta", "phi", "is_photon")]
    )
    tracks = Tracks.concat([trk_e, *trk_conv])
    return showers, tracks


def muon_tracks_and_objects(rng: np.random.Generator, gen: GenParticles) -> tuple[dict, Tracks]:
    """Muons in |eta| < 2.5 with pT > 3 GeV: Muon object columns and their ID tracks.

    Combined (ID + MS) resolution sigma(pT)/pT = 1.5% (+) 0.02% pT, roughly the ATLAS
    Run-2 combined-muon performance at 10-100 GeV.
    """
    sel = (np.abs(gen.pdg_id) == 13) & (np.abs(gen.eta) < 2.5) & (gen.pt > 3.0)
    i = np.nonzero(sel)[0]
    n = len(i)
    pt = gen.pt[i]
    charge = np.where(gen.pdg_id[i] > 0, -1, 1).astype(np.int32)
    res = np.hypot(0.015, 0.0002 * pt)
    cols = {
        "event": gen.event[i],
        "pt": pt * (1 + res * rng.standard_normal(n)),
        "eta": gen.eta[i] + 0.0003 * rng.standard_normal(n),
        "phi": wrap_phi(gen.phi[i] + 0.0002 * rng.standard_normal(n)),
        "charge": charge,
        "looseId": np.ones(n, bool),
        "tightId": (rng.uniform(0, 1, n) < 0.95) & (np.abs(gen.eta[i]) < 2.4),
        "genPartIdx": gen.local_index[i].astype(np.int32),
    }
    eta = gen.eta[i]
    sd0 = tracking.d0_resolution(pt, eta)
    sz0 = tracking.z0_resolution(pt, eta)
    d0 = sd0 * rng.standard_normal(n)
    npix, nsct, ntrt = tracking.hits(rng, eta)
    trk = Tracks(
        event=gen.event[i],
        pt=pt * (1 + tracking.pt_resolution(pt, eta) * rng.standard_normal(n)),
        eta=cols["eta"],
        phi=cols["phi"],
        charge=charge,
        d0=d0,
        d0sig=d0 / sd0,
        z0=gen.vertex_z[gen.event[i]] + sz0 * rng.standard_normal(n),
        n_pix=npix,
        n_sct=nsct,
        n_trt=ntrt,
        vtx=np.zeros(n, np.int32),
        gen_idx=cols["genPartIdx"],
        obj=np.full(n, -1, np.int32),
        sz0=sz0,
    )
    return cols, trk


def muon_calo_impacts(gen: GenParticles) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(event, eta, phi at the calorimeter) of muons: they leave a MIP track in the cells."""
    sel = (np.abs(gen.pdg_id) == 13) & (np.abs(gen.eta) < geo.CALO_ETA_MAX)
    i = np.nonzero(sel)[0]
    q = np.where(gen.pdg_id[i] > 0, -1.0, 1.0)
    r_c = geo.calo_front_radius(gen.eta[i]) * 1.1
    y, _ = charged_offset(r_c, 0.0, geo.field_exit_radius(gen.eta[i]), q * CURV * 2.0 / gen.pt[i])
    return gen.event[i], gen.eta[i], wrap_phi(gen.phi[i] + y / r_c)
