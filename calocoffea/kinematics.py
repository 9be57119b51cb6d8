"""Four-vector arithmetic shared by the selections, the energies and the simulation.

Plain numpy float64 on flat or (n, k) arrays: the processors recompute invariant masses per
calibration from a new energy and the reconstructed η, φ of each object, which is one
vectorised expression here; coffea's/vector's Lorentz-vector records would first have to be
rebuilt from those arrays for every calibration, for the same arithmetic.

Units: GeV, radians.
"""

from __future__ import annotations

import math

import numpy as np

from calocoffea._numba import njit

_TWO_PI = 2.0 * math.pi


def _wrap(phi):
    return (phi + math.pi) % _TWO_PI - math.pi


#: φ folded into [-π, π), for scalars inside numba kernels (the same formula as :func:`wrap_phi`).
wrap_phi_scalar = njit(nogil=True, inline="always")(_wrap)


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """φ (or a φ difference) folded into [-π, π); any shape."""
    return _wrap(np.asarray(phi))


def delta_r(eta1, phi1, eta2, phi2):
    """ΔR = sqrt(Δη² + Δφ²) with Δφ wrapped into [-π, π); numpy or awkward arrays that
    broadcast against each other."""
    return np.hypot(eta1 - eta2, _wrap(phi1 - phi2))


def massless_p4(energy: np.ndarray, eta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Four-momenta (..., 4) = (px, py, pz, E) in GeV of massless objects (p = E)."""
    pt = energy / np.cosh(eta)
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), energy], axis=-1)


def ptetaphim_p4(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Four-momenta (..., 4) = (px, py, pz, E) in GeV from pt, η, φ and mass."""
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + mass**2)], axis=-1)


def invariant_mass(p4: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Invariant mass (GeV) of the objects along axis -2 of ``p4`` (n, k, 4), plus the
    four-momentum ``extra`` (n, 4) when given. NaN where any input is NaN."""
    total = p4.sum(axis=-2)
    if extra is not None:
        total = total + extra
    m2 = total[..., 3] ** 2 - total[..., 0] ** 2 - total[..., 1] ** 2 - total[..., 2] ** 2
    # rounding can push m² of collinear massless systems slightly below zero
    return np.sqrt(np.where(m2 > 0.0, m2, 0.0)) + np.where(np.isnan(m2), np.nan, 0.0)
