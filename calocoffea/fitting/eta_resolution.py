"""Per-|η| resolution from category widths (thesis eq. 5.14) and the Z→μμγ photon part (eq. 6.4).

Two-object categories: σ_ij² = σ_i² + σ_j² is linear in s_i = σ_i², so the weighted least
squares over accepted categories (weights 1/(2 σ_ij δσ_ij)²) gives s and its covariance
exactly; σ_i = sqrt(s_i) with δσ_i = δs_i / (2 σ_i). A negative s_i (the data say bin i adds
no width) is reported with σ_i = 0 and ``physical[i] = False``. Widths in GeV.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from calocoffea.fitting.pairs import accepted_pair_rows, solve_weighted
from calocoffea.fitting.result import FitResult


@dataclass
class EtaResolution:
    """σ_i per |η| bin (GeV) with errors and covariance of σ_i²."""

    sigma: np.ndarray
    sigma_error: np.ndarray
    sigma2_covariance: np.ndarray
    identified: np.ndarray
    physical: np.ndarray
    chi2: float
    ndf: int
    used_categories: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready dict (see docs/fit_results.md)."""

        def clean(a):
            return [None if not np.isfinite(v) else float(v) for v in np.ravel(a)]

        return {
            "sigma": clean(self.sigma),
            "sigma_error": clean(self.sigma_error),
            "sigma2_covariance": np.nan_to_num(self.sigma2_covariance, nan=0.0).tolist(),
            "identified": self.identified.tolist(),
            "physical": self.physical.tolist(),
            "chi2": self.chi2,
            "ndf": self.ndf,
            "used_categories": self.used_categories,
        }


def solve_resolution(
    pairs: Sequence[tuple[int, int]],
    results: Sequence[FitResult],
    n_bins: int,
    width_param: str = "sigma",
) -> EtaResolution:
    """Solve eq. 5.14 for σ_i (n_bins,) from the accepted fits of the (i, j) ``pairs``."""
    rows = accepted_pair_rows(pairs, results, width_param, n_bins, 1.0)
    nan = np.full(n_bins, np.nan)
    if not len(rows):
        return EtaResolution(
            nan,
            nan.copy(),
            np.full((n_bins, n_bins), np.nan),
            np.zeros(n_bins, bool),
            np.zeros(n_bins, bool),
            float("nan"),
            0,
            [],
        )
    s, ds = rows.values, rows.errors
    lsq = solve_weighted(rows.x, s * s, 1.0 / (2.0 * s * ds) ** 2)
    s2, cov, identified = lsq.solution, lsq.covariance, lsq.identified
    physical = identified & (np.nan_to_num(s2, nan=-1.0) > 0)
    sigma = np.where(physical, np.sqrt(np.clip(s2, 0.0, None)), np.where(identified, 0.0, np.nan))
    ds2 = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma_err = np.where(
            physical, ds2 / (2.0 * sigma), np.where(identified, np.sqrt(ds2), np.nan)
        )
    return EtaResolution(
        sigma,
        sigma_err,
        cov,
        identified,
        physical,
        lsq.chi2,
        lsq.ndf,
        rows.used,
    )


def photon_width(
    sigma_calib: float,
    err_calib: float,
    sigma_muons: float,
    err_muons: float,
    mode: str = "linear",
) -> tuple[float, float]:
    """Photon part of a Z→μμγ CB width (GeV) given the muon-only width from MC with the true
    photon energy (thesis eq. 6.4 subtracts linearly; ``mode="quadrature"`` subtracts in
    quadrature). Errors are combined as independent. Returns (width, error)."""
    if mode == "linear":
        return sigma_calib - sigma_muons, math.hypot(err_calib, err_muons)
    if mode == "quadrature":
        diff = sigma_calib**2 - sigma_muons**2
        if diff <= 0:
            return 0.0, float("nan")
        width = math.sqrt(diff)
        return width, math.hypot(sigma_calib * err_calib, sigma_muons * err_muons) / width
    raise ValueError(f"mode must be 'linear' or 'quadrature', got {mode!r}")


def relative_improvement(
    model: float, err_model: float, benchmark: float, err_benchmark: float
) -> tuple[float, float]:
    """1 - model/benchmark (thesis eqs. 4.7, 6.3-6.4) with independent-error propagation."""
    ratio = model / benchmark
    return 1.0 - ratio, abs(ratio) * math.hypot(err_model / model, err_benchmark / benchmark)
