"""Particles through the inner detector and the solenoid, up to the calorimeter front face.

Electrons lose energy by bremsstrahlung in the inner-detector material (Bethe-Heitler
energy-loss distribution, two emission zones) and bend in the 2 T solenoid; photons convert
with probability 1 - exp(-7/9 X/X0) into e+e- pairs that bend and radiate in the remaining
material. The result is a list of electromagnetic "showers" (energy, impact eta/phi at the
calorimeter, start depth offset) per calorimeter object, the hard-scatter tracks, and the
truth conversion record. Units: GeV, cm, radians, X0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calocoffea import geometry as geo
from calocoffea.kinematics import wrap_phi
from calocoffea.sim.processes import GenParticles

#: Curvature constant: 1/R [1/cm] = CURV * B[T] / pT[GeV].
CURV = 0.003
#: Inner silicon/TRT boundary radius (cm) separating the two brem emission zones.
ID_MID_RADIUS = 55.0
ID_INNER_RADIUS = 3.3
#: Conversions are reconstructed only inside the TRT volume.
CONV_RECO_MAX_RADIUS = 80.0
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


def track_resolution(pt: np.ndarray) -> np.ndarray:
    """Relative pT resolution of inner-detector tracks: 0.05% pT (+) 1% (JINST 3 S08003)."""
    return np.hypot(0.01, 0.0005 * pt)


def d0_resolution(pt: np.ndarray) -> np.ndarray:
    """sigma(d0) in cm: 10 um (+) 80 um/pT (ATLAS ID with IBL)."""
    return np.hypot(0.0010, 0.0080 / np.maximum(pt, 0.1))


def _hits(rng, eta):
    n = len(eta)
    n_pix = rng.binomial(4, 0.97, n)
    n_sct = rng.binomial(8, 0.98, n)
    n_trt = np.where(np.abs(eta) < geo.TRT_MAX_ETA, rng.binomial(34, 0.85, n), 0)
    return n_pix.astype(np.int32), n_sct.astype(np.int32), n_trt.astype(np.int32)


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


def propagate(rng: np.random.Generator, gen: GenParticles, objs: Objects) -> tuple[Showers, Tracks]:
    """Brem, conversions and bending of every object; returns its showers and hard tracks."""
    aeta = np.abs(objs.eta)
    x_id = geo.id_material_x0(aeta)
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

    # ---- electrons: two brem zones (silicon, TRT+services), then bending to the calo ----
    ie = np.nonzero(is_e)[0]
    e0 = objs.energy[ie]
    z1 = _bethe_heitler(rng, 0.5 * x_id[ie])
    z2 = _bethe_heitler(rng, 0.5 * x_id[ie])
    objs.z_inner[ie] = z1
    r_in, r_out = r_id[ie] * (ID_MID_RADIUS / geo.ID_OUTER_RADIUS), r_id[ie]
    rb1 = rng.uniform(ID_INNER_RADIUS, np.maximum(r_in, ID_INNER_RADIUS + 1), len(ie))
    rb2 = rng.uniform(r_in, r_out)
    ct = np.cosh(objs.eta[ie])
    # curvature evaluated with the mean pT along each segment
    qk1 = charge[ie] * CURV * geo.BFIELD_T / np.maximum(objs.pt[ie] * (1 + z1) / 2, 0.05)
    e_g1 = e0 * (1 - z1)
    y1, s1 = charged_offset(rb1, 0.0, r_exit[ie], qk1)
    phi_g1 = objs.phi[ie] + (y1 + s1 * (r_c[ie] - rb1)) / r_c[ie]
    qk2 = charge[ie] * CURV * geo.BFIELD_T / np.maximum(objs.pt[ie] * z1 * (1 + z2) / 2, 0.05)
    y2, s2 = charged_offset(rb2, 0.0, r_exit[ie], qk1 * 0.5 + qk2 * 0.5)
    phi_g2 = objs.phi[ie] + (y2 + s2 * (r_c[ie] - rb2)) / r_c[ie]
    e_g2 = e0 * z1 * (1 - z2)
    e_fin = e0 * z1 * z2
    qk3 = charge[ie] * CURV * geo.BFIELD_T / np.maximum(e_fin / ct, 0.05)
    yf, _ = charged_offset(r_c[ie], 0.0, r_exit[ie], (qk1 + qk2 + qk3) / 3)
    phi_e = objs.phi[ie] + yf / r_c[ie]
    # electrons left with p_T below ~0.5 GeV curl up inside the solenoid (R = p_T/0.006 cm)
    e_fin = np.where(e_fin / ct > 0.5, e_fin, 0.0)
    add(ie, e_fin, objs.eta[ie], phi_e, False)
    add(ie, e_g1, objs.eta[ie], phi_g1, True)
    add(ie, e_g2, objs.eta[ie], phi_g2, True)
    # FSR photons collected in the electron's cluster shower as unconverted photons
    ph_rows, mom_rows = merged_fsr(gen)
    if len(ph_rows):
        starts = np.searchsorted(gen.event, np.arange(gen.n_events))
        obj_rows = starts[objs.event] + objs.gen_idx
        order = np.argsort(obj_rows)
        pos = order[np.searchsorted(obj_rows, mom_rows, sorter=order)]
        add(pos, gen.energy[ph_rows], gen.eta[ph_rows], gen.phi[ph_rows], True)

    # electron tracks: perigee momentum, degraded by brem in the innermost material
    pt_true = objs.pt[ie]
    pt_meas = pt_true * np.sqrt(z1) * (1 + track_resolution(pt_true) * rng.standard_normal(len(ie)))
    sd0 = d0_resolution(pt_true)
    d0 = sd0 * rng.standard_normal(len(ie))
    vz = gen.vertex_z[objs.event[ie]]
    npix, nsct, ntrt = _hits(rng, objs.eta[ie])
    trk_e = Tracks(
        event=objs.event[ie],
        pt=np.abs(pt_meas),
        eta=objs.eta[ie] + 0.0005 * rng.standard_normal(len(ie)),
        phi=wrap_phi(objs.phi[ie] + 0.0003 * rng.standard_normal(len(ie))),
        charge=charge[ie].astype(np.int32),
        d0=d0,
        d0sig=d0 / sd0,
        z0=vz + np.hypot(0.005, 0.01 / pt_true) * rng.standard_normal(len(ie)),
        n_pix=npix,
        n_sct=nsct,
        n_trt=ntrt,
        vtx=np.zeros(len(ie), np.int32),
        gen_idx=objs.gen_idx[ie],
        obj=ie.astype(np.int32),
    )

    # ---- photons: conversion in the ID ----
    ig = np.nonzero(~is_e)[0]
    p_conv = 1.0 - np.exp(-7.0 / 9.0 * x_id[ig])
    conv = rng.uniform(0, 1, len(ig)) < p_conv
    iu, icv = ig[~conv], ig[conv]
    add(iu, objs.energy[iu], objs.eta[iu], objs.phi[iu], True)
    # material roughly uniform in radius inside the ID volume
    rconv = rng.uniform(ID_INNER_RADIUS, r_id[icv])
    x = rng.uniform(0, 1, len(icv))
    objs.conv_radius[icv] = rconv
    objs.conv_x[icv] = x
    frac_left = 1.0 - (rconv - ID_INNER_RADIUS) / np.maximum(r_id[icv] - ID_INNER_RADIUS, 1.0)
    trk_conv = []
    for leg, (fx, q) in enumerate(((x, -1.0), (1.0 - x, 1.0))):
        e_leg = objs.energy[icv] * fx
        zl = _bethe_heitler(rng, x_id[icv] * frac_left)
        pt_leg = e_leg / np.cosh(objs.eta[icv])
        qk = q * CURV * geo.BFIELD_T / np.maximum(pt_leg * (1 + zl) / 2, 0.02)
        # brem photons of the leg emitted halfway through the remaining material
        r_b = 0.5 * (rconv + r_id[icv])
        yb, sb = charged_offset(r_b, rconv, r_exit[icv], qk)
        add(
            icv,
            e_leg * (1 - zl),
            objs.eta[icv],
            objs.phi[icv] + (yb + sb * (r_c[icv] - r_b)) / r_c[icv],
            True,
        )
        yl, _ = charged_offset(r_c[icv], rconv, r_exit[icv], qk / np.sqrt(np.maximum(zl, 0.05)))
        add(icv, e_leg * zl, objs.eta[icv], objs.phi[icv] + yl / r_c[icv], False)
        # conversion track (reconstructed if inside the TRT volume and pT > 0.5 GeV)
        ok = (rconv < CONV_RECO_MAX_RADIUS) & (pt_leg > 0.5)
        k = icv[ok]
        n_ok = len(k)
        silicon = rconv[ok] < ID_MID_RADIUS
        res = np.where(silicon, track_resolution(pt_leg[ok]), 0.05)
        ptm = pt_leg[ok] * np.sqrt(zl[ok]) * np.abs(1 + res * rng.standard_normal(n_ok))
        d0 = -0.5 * qk[ok] * rconv[ok] ** 2
        sd0 = np.where(silicon, d0_resolution(pt_leg[ok]), 0.05)
        npix, nsct, ntrt = _hits(rng, objs.eta[k])
        npix = np.where(rconv[ok] > 12.0, 0, npix).astype(np.int32)
        nsct = np.where(silicon, nsct, 0).astype(np.int32)
        trk_conv.append(
            Tracks(
                event=objs.event[k],
                pt=ptm,
                eta=objs.eta[k] + 0.001 * rng.standard_normal(n_ok),
                phi=wrap_phi(objs.phi[k] + 0.001 * rng.standard_normal(n_ok)),
                charge=np.full(n_ok, int(q), np.int32),
                d0=d0,
                d0sig=d0 / sd0,
                z0=gen.vertex_z[objs.event[k]] + 0.2 * rng.standard_normal(n_ok),
                n_pix=npix,
                n_sct=nsct,
                n_trt=ntrt,
                vtx=np.zeros(n_ok, np.int32),
                gen_idx=np.full(n_ok, -1, np.int32),
                obj=k.astype(np.int32),
            )
        )
        del leg

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
    sd0 = d0_resolution(pt)
    d0 = sd0 * rng.standard_normal(n)
    npix, nsct, ntrt = _hits(rng, gen.eta[i])
    trk = Tracks(
        event=gen.event[i],
        pt=pt * (1 + track_resolution(pt) * rng.standard_normal(n)),
        eta=cols["eta"],
        phi=cols["phi"],
        charge=charge,
        d0=d0,
        d0sig=d0 / sd0,
        z0=gen.vertex_z[gen.event[i]] + 0.005 * rng.standard_normal(n),
        n_pix=npix,
        n_sct=nsct,
        n_trt=ntrt,
        vtx=np.zeros(n, np.int32),
        gen_idx=cols["genPartIdx"],
        obj=np.full(n, -1, np.int32),
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
