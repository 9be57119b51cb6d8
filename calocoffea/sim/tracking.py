"""Inner-detector track performance: resolutions versus |η| and p_T, hits, vertices.

Resolutions follow the form of the ATLAS detector paper (JINST 3 (2008) S08003, §10.2,
table 10.2): σ_X(p_T) = σ_X(∞) · (1 ⊕ p_X / p_T) for X = q/p_T, φ, cot θ, d0 and z0·sin θ,
with the two rows the table gives, 0.25 < |η| < 0.50 and 1.50 < |η| < 1.75, interpolated
linearly in |η| between the row centres, held constant below the first and extrapolated
linearly above the second (the table has no row beyond |η| = 1.75; the extrapolation to
|η| = 2.5 is this simulation's assumption, documented in docs/simulation.md).

Primary vertices: every in-time pp interaction of an event has a true z; it is reconstructed
with the probability :data:`VERTEX_EFFICIENCY` (the slope of N_vtx against ⟨μ⟩ in ATLAS
data), and reconstructed vertices closer than :data:`VERTEX_MERGE_CM` in z merge. Tracks are
assigned to the reconstructed vertex nearest in z within 3 σ(z0) (else −1, unassigned), so a
track can land on the wrong vertex as in data; the hard-scatter vertex (always reconstructed,
the interaction of the hard process) is index 0. Units: GeV, cm, rad.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calocoffea import geometry as geo
from calocoffea._numba import njit

#: |η| centres of the two rows of JINST 3 S08003 table 10.2.
_TABLE_ETA = (0.375, 1.625)
#: (σ_X(∞), p_X GeV) per row: q/p_T in 1/GeV, φ in rad, cot θ, d0 and z0·sin θ in cm.
_TABLE: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "qoverpt": ((0.34e-3, 44.0), (0.41e-3, 80.0)),
    "phi": ((70e-6, 39.0), (92e-6, 49.0)),
    "cottheta": ((0.7e-3, 5.0), (1.2e-3, 10.0)),
    "d0": ((10e-4, 14.0), (12e-4, 20.0)),
    "z0sintheta": ((91e-4, 2.3), (71e-4, 3.7)),
}

#: Probability that a pile-up interaction's vertex is reconstructed; ATLAS sees about
#: 0.55 reconstructed vertices per interaction in Run 2 (N_vtx against ⟨μ⟩; Run-1 method:
#: EPJC 77 (2017) 332). The hard-scatter vertex is always reconstructed.
VERTEX_EFFICIENCY: float = 0.55
#: Vertices closer than this in z are not resolved (about twice the z resolution of
#: low-multiplicity pile-up vertices; EPJC 77 (2017) 332 §6), in cm.
VERTEX_MERGE_CM: float = 0.05
#: Tracks further than this many σ(z0) from every vertex stay unassigned.
ASSOCIATION_SIGMAS: float = 3.0


def _row_param(name: str, abs_eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    (s0, p0), (s1, p1) = _TABLE[name]
    x0, x1 = _TABLE_ETA
    t = (np.maximum(np.abs(abs_eta), x0) - x0) / (x1 - x0)
    return s0 + t * (s1 - s0), p0 + t * (p1 - p0)


def _resolution(name: str, pt: np.ndarray, abs_eta: np.ndarray) -> np.ndarray:
    sigma_inf, p_x = _row_param(name, abs_eta)
    return sigma_inf * np.hypot(1.0, p_x / np.maximum(pt, 0.1))


def pt_resolution(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Relative transverse-momentum resolution σ(p_T)/p_T = p_T σ(q/p_T)."""
    return np.asarray(pt) * _resolution("qoverpt", pt, eta)


def phi_resolution(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """σ(φ0) in rad."""
    return _resolution("phi", pt, eta)


def eta_resolution(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """σ(η) = σ(cot θ) sin θ = σ(cot θ) / cosh η."""
    return _resolution("cottheta", pt, eta) / np.cosh(eta)


def d0_resolution(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """σ(d0) in cm."""
    return _resolution("d0", pt, eta)


def z0_resolution(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """σ(z0) in cm: σ(z0 sin θ) / sin θ."""
    return _resolution("z0sintheta", pt, eta) * np.cosh(eta)


def hits(rng: np.random.Generator, eta: np.ndarray, silicon: np.ndarray | None = None):
    """Pixel, SCT and TRT hit counts of tracks at ``eta`` (int32 arrays); ``silicon`` False
    marks tracks that start outside the silicon detectors (no pixel or SCT hits)."""
    n = len(eta)
    n_pix = rng.binomial(4, 0.97, n)
    n_sct = rng.binomial(8, 0.98, n)
    n_trt = np.where(np.abs(eta) < geo.TRT_MAX_ETA, rng.binomial(34, 0.85, n), 0)
    if silicon is not None:
        n_pix = np.where(silicon, n_pix, 0)
        n_sct = np.where(silicon, n_sct, 0)
    return n_pix.astype(np.int32), n_sct.astype(np.int32), n_trt.astype(np.int32)


@dataclass
class Vertices:
    """Reconstructed primary vertices: ``offsets`` (n_events + 1) into ``z`` (cm), vertex 0
    of each event being the hard scatter."""

    offsets: np.ndarray
    z: np.ndarray

    def count(self) -> np.ndarray:
        return np.diff(self.offsets)


@njit()
def _merge(hs_z, pu_offsets, pu_z, found, merge):
    n_events = hs_z.shape[0]
    offsets = np.zeros(n_events + 1, np.int64)
    z = np.empty(n_events + pu_z.shape[0], np.float64)
    k = 0
    for ev in range(n_events):
        first = k
        z[k] = hs_z[ev]
        k += 1
        for i in range(pu_offsets[ev], pu_offsets[ev + 1]):
            if not found[i]:
                continue
            ok = True
            for j in range(first, k):
                if abs(pu_z[i] - z[j]) < merge:
                    ok = False
                    break
            if ok:
                z[k] = pu_z[i]
                k += 1
        offsets[ev + 1] = k
    return offsets, z[:k]


def reconstruct_vertices(rng: np.random.Generator, hs_z: np.ndarray,
                         pu_offsets: np.ndarray, pu_z: np.ndarray) -> Vertices:
    """Vertices from the hard-scatter z (n_events,) and the pile-up interactions' z
    (``pu_offsets`` (n_events + 1) into ``pu_z``): each pile-up vertex found with
    :data:`VERTEX_EFFICIENCY`, then those within :data:`VERTEX_MERGE_CM` of an earlier
    (hard-scatter first) vertex merged into it."""
    found = rng.uniform(0.0, 1.0, len(pu_z)) < VERTEX_EFFICIENCY
    offsets, z = _merge(np.asarray(hs_z, np.float64), np.asarray(pu_offsets, np.int64),
                        np.asarray(pu_z, np.float64), found, VERTEX_MERGE_CM)
    return Vertices(offsets, z)


@njit()
def _associate(event, z0, sigma_z0, offsets, vz, n_sigma):  # noqa: PLR0917 (numba)
    out = np.full(z0.shape[0], -1, np.int32)
    for i in range(z0.shape[0]):
        lo, hi = offsets[event[i]], offsets[event[i] + 1]
        best, best_d = -1, 1e300
        for j in range(lo, hi):
            d = abs(vz[j] - z0[i])
            if d < best_d:
                best, best_d = j - lo, d
        if best >= 0 and best_d < n_sigma * sigma_z0[i]:
            out[i] = best
    return out


def associate(event: np.ndarray, z0: np.ndarray, sigma_z0: np.ndarray,
              vertices: Vertices) -> np.ndarray:
    """Index (event-local) of the reconstructed vertex nearest in z to each track, or −1
    when none is within :data:`ASSOCIATION_SIGMAS` σ(z0) (int32)."""
    return _associate(np.asarray(event, np.int64), np.asarray(z0, np.float64),
                      np.asarray(sigma_z0, np.float64), vertices.offsets, vertices.z,
                      ASSOCIATION_SIGMAS)
