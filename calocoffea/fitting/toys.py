"""Numpy toys with known truth for the mass fits (tests and benchmarks).

Two-electron Z→ee events: each electron gets an |η| drawn uniformly in [0, 2.47], a per-|η|
bin energy-scale offset ``s_i`` (E_reco = E_true (1 + s_i)(1 + ε), ε ~ N(0, r_i)) and the
true mass is Breit–Wigner distributed, so m_reco = m_true sqrt((1+s_i)(1+ε_i)(1+s_j)(1+ε_j)).
The expected η-shift correction is α_i = 1/(1 + s_i) - 1 and the expected per-|η| mass
resolution is σ_i ≈ m_Z r_i / 2 (GeV).
"""

from __future__ import annotations

from collections.abc import Sequence

import hist
import numpy as np

from calocoffea import binning
from calocoffea.constants import GAMMA_Z_GEV, MZ_GEV
from calocoffea.histograms import book_mass


def zee_toy_masses(
    n_events: int,
    offsets: Sequence[float],
    resolutions: Sequence[float],
    seed: int,
    truth_smear: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Toy Z→ee masses (GeV), pair categories and the true masses, each shape (n_events,).

    ``offsets`` and ``resolutions`` (relative) have one entry per |η| bin of
    :data:`calocoffea.binning.ABS_ETA_EDGES`; ``truth_smear`` (GeV) adds a tiny Gaussian
    smearing to the true mass.
    """
    edges = np.asarray(binning.ABS_ETA_EDGES)
    n_bins = edges.size - 1
    offsets = np.asarray(offsets, dtype=float)
    resolutions = np.asarray(resolutions, dtype=float)
    if offsets.shape != (n_bins,) or resolutions.shape != (n_bins,):
        raise ValueError(f"offsets and resolutions need {n_bins} entries")
    rng = np.random.default_rng(seed)
    m_true = MZ_GEV + 0.5 * GAMMA_Z_GEV * rng.standard_cauchy(n_events)
    m_true = m_true + rng.normal(0.0, truth_smear, n_events) if truth_smear > 0 else m_true
    abseta = rng.uniform(0.0, edges[-1], size=(n_events, 2))
    ieta = np.clip(np.digitize(abseta, edges) - 1, 0, n_bins - 1)
    scale = (1.0 + offsets[ieta]) * (1.0 + rng.normal(0.0, 1.0, (n_events, 2)) * resolutions[ieta])
    mass = m_true * np.sqrt(np.clip(scale[:, 0] * scale[:, 1], 0.0, None))
    category = binning.eta_pair_index(ieta[:, 0], ieta[:, 1], n_bins)
    return mass, category, m_true


def zee_toy_mass_hist(
    n_events: int,
    offsets: Sequence[float],
    resolutions: Sequence[float],
    seed: int,
    calibrations: Sequence[str] = ("bdt",),
) -> hist.Hist:
    """A ``mass`` histogram (calocoffea.histograms contract) filled with toys per calibration.

    Each calibration gets an independent toy (seed + its index) with the same offsets and
    resolutions; the ``truth`` calibration, if asked for, gets the true masses of the first.
    """
    h = book_mass("zee", len(binning.eta_pair_categories()))
    for k, calib in enumerate(calibrations):
        mass, cat, m_true = zee_toy_masses(n_events, offsets, resolutions, seed + k)
        values = m_true if calib == "truth" else mass
        h.fill(calibration=calib, etacat=cat, mu=np.full(n_events, 30.0), mass=values)
    return h
