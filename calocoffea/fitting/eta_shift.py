"""η-shift: per-|η| energy-scale corrections α_i from the CB peak shifts (thesis §5.6, eq. 9.8).

For category (i, j) the fitted CB shift μ_ij (GeV, relative to m_Z) gives the reconstructed
peak m_ij = m_Z + μ_ij. Correcting both energies, E → E (1 + α), moves it to
m_ij sqrt((1+α_i)(1+α_j)) ≈ m_ij (1 + (α_i + α_j)/2), so eq. 9.8 is the weighted linear
least-squares problem

    (α_i + α_j) / 2 = (m_Z - m_ij) / m_ij,   σ = σ_μij m_Z / m_ij²

over the accepted categories. Its solution and covariance are exact for that linear model.

Applying the correction to histograms (no per-event access): the mass of category (i, j)
is multiplied by r_ij = sqrt((1+α_i)(1+α_j)) and re-binned onto the original edges by
linear interpolation of the cumulative bin contents, i.e. assuming a uniform density inside
each bin. The error is second order in (bin width / peak width); counts moved across the fit
range edges are lost (at |α| = 1 % about 0.9 GeV of tail at each end).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import hist
import numpy as np

from calocoffea.constants import MZ_GEV
from calocoffea.fitting.pairs import accepted_pair_rows, solve_weighted
from calocoffea.fitting.result import FitResult

log = logging.getLogger(__name__)


@dataclass
class EtaShift:
    """α_i per |η| bin with covariance; ``identified[i]`` is False where the accepted
    categories do not determine α_i alone (none constrains bin i, or only combinations such
    as α_i + α_j are constrained; :func:`calocoffea.fitting.pairs.identified_bins`): α_i is
    then not measured (None in :meth:`to_dict`, NaN error) and 0 (no correction) is applied
    to the histogram. ``n_used`` categories entered."""

    alpha: np.ndarray
    covariance: np.ndarray
    identified: np.ndarray
    chi2: float
    ndf: int
    n_used: int
    used_categories: list[int] = field(default_factory=list)

    @property
    def errors(self) -> np.ndarray:
        """Standard errors of α (nan where not identified)."""
        err = np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))
        return np.where(self.identified, err, np.nan)

    def to_dict(self) -> dict:
        """JSON-ready dict (see docs/fit_results.md)."""
        return {
            # None: not measured; the correction applied there is 0 (``alpha_applied``)
            "alpha": [float(a) if ok else None
                      for a, ok in zip(self.alpha, self.identified, strict=True)],
            "alpha_applied": self.alpha.tolist(),
            "alpha_error": [None if not np.isfinite(e) else float(e) for e in self.errors],
            "covariance": np.nan_to_num(self.covariance, nan=0.0).tolist(),
            "identified": self.identified.tolist(),
            "chi2": self.chi2,
            "ndf": self.ndf,
            "n_used": self.n_used,
            "used_categories": self.used_categories,
        }


def solve_alpha(
    pairs: Sequence[tuple[int, int]],
    results: Sequence[FitResult],
    n_bins: int,
    mass_ref: float = MZ_GEV,
    shift_param: str = "mu",
) -> EtaShift:
    """Solve eq. 9.8 for α (n_bins,) from the accepted fits of the (i, j) ``pairs``."""
    rows = accepted_pair_rows(pairs, results, shift_param, n_bins, 0.5)
    if not len(rows):
        log.warning("eta-shift: no accepted category, alpha set to 0")
        return EtaShift(np.zeros(n_bins), np.full((n_bins, n_bins), np.nan),
                        np.zeros(n_bins, dtype=bool), float("nan"), 0, 0, [])
    m_ij = mass_ref + rows.values
    y = (mass_ref - m_ij) / m_ij
    w = (m_ij**2 / (rows.errors * mass_ref)) ** 2
    lsq = solve_weighted(rows.x, y, w)
    alpha = np.where(lsq.identified, lsq.solution, 0.0)
    return EtaShift(alpha, lsq.covariance, lsq.identified, lsq.chi2, lsq.ndf, len(rows),
                    rows.used)


def pair_scale(alpha: np.ndarray, i: int, j: int) -> float:
    """Mass scale factor sqrt((1+α_i)(1+α_j)) of category (i, j)."""
    return float(np.sqrt((1.0 + alpha[i]) * (1.0 + alpha[j])))


def rescale_counts(counts: np.ndarray, edges: np.ndarray, factor: float) -> np.ndarray:
    """Counts (n,) of a histogram whose axis values are multiplied by ``factor``, re-binned
    on the same ``edges`` (n+1,) assuming a uniform density within each original bin."""
    if factor <= 0:
        raise ValueError(f"mass scale factor must be positive, got {factor}")
    counts = np.asarray(counts, dtype=float)
    edges = np.asarray(edges, dtype=float)
    cum = np.concatenate(([0.0], np.cumsum(counts)))
    # new bin [a, b] collects old values in [a/factor, b/factor]
    cum_new = np.interp(edges / factor, edges, cum, left=0.0, right=cum[-1])
    return np.diff(cum_new)


def apply_to_mass_hist(
    h: hist.Hist,
    alpha_by_calibration: dict[str, np.ndarray],
    pairs: Sequence[tuple[int, int]],
) -> hist.Hist:
    """Copy of the ``mass`` histogram with each calibration's categories rescaled by α.

    Values and variances of every (calibration, etacat, mu) slice, the ⟨μ⟩ flow bins
    included, are re-binned with :func:`rescale_counts`; the mass flow bins are left
    unchanged.
    """
    out = h.copy()
    view = out.view(flow=True)
    edges = h.axes["mass"].edges
    cal_axis = h.axes["calibration"]
    under = [int(ax.traits.underflow) for ax in h.axes]
    mass = slice(under[3], under[3] + h.axes["mass"].size)
    for calib, alpha in alpha_by_calibration.items():
        ic = cal_axis.index(calib) + under[0]
        for cat, (i, j) in enumerate(pairs):
            factor = pair_scale(np.asarray(alpha), i, j)
            if factor == 1.0:
                continue
            for imu in range(view.shape[2]):
                cell = view[ic, cat + under[1], imu, mass]
                if view.dtype.names:  # Weight storage: values and variances
                    cell["value"] = rescale_counts(cell["value"], edges, factor)
                    cell["variance"] = rescale_counts(cell["variance"], edges, factor)
                else:
                    view[ic, cat + under[1], imu, mass] = rescale_counts(cell, edges, factor)
    return out
