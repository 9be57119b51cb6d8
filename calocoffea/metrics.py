"""Effective interquartile range (eIQR) and relative eIQR (reIQR), thesis eqs. 4.6-4.7.

``eIQR_q = (P_q - P_{100-q}) / (2 Φ⁻¹(q/100))``: for q = 75 this is the thesis
``(P75 - P25) / 1.349``, the Gaussian σ for a Gaussian; q = 95 uses (P95 - P5) / 3.290.
``reIQR = 1 - eIQR_model / eIQR_benchmark``.

Quantiles come either from unbinned arrays (numpy, linear interpolation) or from histogram
bin contents with linear interpolation of the cumulative distribution inside the bin that
contains the quantile (uniform density within a bin). This module must stay light: no
zfit/TensorFlow imports.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri


def _normalisation(q: float) -> float:
    if not 50.0 < q < 100.0:
        raise ValueError(f"eIQR percentile q must be in (50, 100), got {q}")
    return 2.0 * float(ndtri(q / 100.0))


def hist_quantiles(
    counts: np.ndarray, edges: np.ndarray, probs: np.ndarray | list[float]
) -> np.ndarray:
    """Quantiles (in axis units) of a 1D histogram with in-bin linear interpolation.

    ``counts`` (n,), ``edges`` (n+1,), ``probs`` in [0, 1]. Flow bins are not included:
    pass in-range counts only. Negative weights are clipped to 0.
    """
    counts = np.clip(np.asarray(counts, dtype=float), 0.0, None)
    edges = np.asarray(edges, dtype=float)
    if counts.ndim != 1 or edges.shape != (counts.size + 1,):
        raise ValueError(f"counts {counts.shape} and edges {edges.shape} do not match")
    total = counts.sum()
    if total <= 0:
        return np.full(np.shape(probs), np.nan)
    cdf = np.concatenate(([0.0], np.cumsum(counts))) / total
    # np.interp needs non-decreasing x: keep only edges that bound a filled bin, so leading
    # and trailing empty bins do not pull quantiles towards the axis ends
    rises = np.diff(cdf) > 0
    keep = np.concatenate(([False], rises)) | np.concatenate((rises, [False]))
    return np.interp(np.asarray(probs, dtype=float), cdf[keep], edges[keep])


def eiqr_from_hist(counts: np.ndarray, edges: np.ndarray, q: float = 75.0) -> float:
    """eIQR_q of a histogram (same units as the axis, e.g. E_calib/E_true)."""
    norm = _normalisation(q)
    lo, hi = hist_quantiles(counts, edges, [1.0 - q / 100.0, q / 100.0])
    return float((hi - lo) / norm)


def eiqr_error_from_hist(counts: np.ndarray, edges: np.ndarray, q: float = 75.0) -> float:
    """Asymptotic standard error of :func:`eiqr_from_hist` from the quantile variances.

    Uses Var(P_a) = a(1-a)/(N f_a²) and Cov(P_a, P_b) = a(1-b)/(N f_a f_b) for a < b, with
    the densities f read from the bins containing the quantiles; N = sum of counts.
    """
    counts = np.clip(np.asarray(counts, dtype=float), 0.0, None)
    edges = np.asarray(edges, dtype=float)
    total = counts.sum()
    if total <= 0:
        return float("nan")
    a, b = 1.0 - q / 100.0, q / 100.0
    qa, qb = hist_quantiles(counts, edges, [a, b])
    dens = counts / total / np.diff(edges)
    fa = dens[np.clip(np.searchsorted(edges, qa, side="right") - 1, 0, counts.size - 1)]
    fb = dens[np.clip(np.searchsorted(edges, qb, side="right") - 1, 0, counts.size - 1)]
    if fa <= 0 or fb <= 0:
        return float("nan")
    var = (a * (1 - a) / fa**2 + b * (1 - b) / fb**2 - 2 * a * (1 - b) / (fa * fb)) / total
    return float(math.sqrt(max(var, 0.0)) / _normalisation(q))


def eiqr(values: np.ndarray, q: float = 75.0, weights: np.ndarray | None = None) -> float:
    """eIQR_q of unbinned ``values`` (numpy percentiles; weighted via the inverted CDF)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan")
    norm = _normalisation(q)
    if weights is None:
        lo, hi = np.percentile(values, [100.0 - q, q])
    else:
        lo, hi = np.percentile(
            values, [100.0 - q, q], weights=np.asarray(weights, dtype=float), method="inverted_cdf"
        )
    return float((hi - lo) / norm)


def reiqr(eiqr_model: float, eiqr_benchmark: float) -> float:
    """Relative eIQR, 1 - model / benchmark (positive = model narrower)."""
    return 1.0 - eiqr_model / eiqr_benchmark


def reiqr_error(
    eiqr_model: float, err_model: float, eiqr_benchmark: float, err_benchmark: float
) -> float:
    """Error on :func:`reiqr` by linear propagation, treating the two eIQRs as independent."""
    ratio = eiqr_model / eiqr_benchmark
    return float(ratio * math.hypot(err_model / eiqr_model, err_benchmark / eiqr_benchmark))
