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


def _split_flow(counts: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(in-range counts, underflow, overflow) of ``counts`` given without flow bins (n,) or
    with them (n + 2,) for ``edges`` (n + 1,); negative contents clipped to 0."""
    counts = np.clip(np.asarray(counts, dtype=float), 0.0, None)
    n = np.asarray(edges).size - 1
    if counts.ndim == 1 and counts.size == n + 2:
        return counts[1:-1], float(counts[0]), float(counts[-1])
    if counts.ndim != 1 or counts.size != n:
        raise ValueError(f"counts {counts.shape} and edges {np.shape(edges)} do not match")
    return counts, 0.0, 0.0


def hist_quantiles(
    counts: np.ndarray, edges: np.ndarray, probs: np.ndarray | list[float]
) -> np.ndarray:
    """Quantiles (in axis units) of a 1D histogram with in-bin linear interpolation.

    ``counts`` (n,) or (n + 2,) with the underflow first and the overflow last,
    ``edges`` (n+1,), ``probs`` in [0, 1]. Flow entries count in the total, so a quantile is
    that of every entry; one that falls in a flow bin is NaN (outside the axis). Negative
    weights are clipped to 0.
    """
    counts, under, over = _split_flow(counts, edges)
    edges = np.asarray(edges, dtype=float)
    total = counts.sum() + under + over
    probs = np.asarray(probs, dtype=float)
    if counts.sum() <= 0:
        return np.full(np.shape(probs), np.nan)
    cdf = (under + np.concatenate(([0.0], np.cumsum(counts)))) / total
    # np.interp needs non-decreasing x: keep only edges that bound a filled bin, so leading
    # and trailing empty bins do not pull quantiles towards the axis ends
    rises = np.diff(cdf) > 0
    keep = np.concatenate(([False], rises)) | np.concatenate((rises, [False]))
    out = np.interp(probs, cdf[keep], edges[keep])
    return np.where((probs < cdf[keep][0]) | (probs > cdf[keep][-1]), np.nan, out)


def eiqr_from_hist(counts: np.ndarray, edges: np.ndarray, q: float = 75.0) -> float:
    """eIQR_q of a histogram (same units as the axis, e.g. E_calib/E_true); ``counts`` may
    include the flow bins (see :func:`hist_quantiles`); NaN when a quantile is outside the
    axis."""
    norm = _normalisation(q)
    lo, hi = hist_quantiles(counts, edges, [1.0 - q / 100.0, q / 100.0])
    return float((hi - lo) / norm)


def eiqr_error_from_hist(counts: np.ndarray, edges: np.ndarray, q: float = 75.0) -> float:
    """Asymptotic standard error of :func:`eiqr_from_hist` from the quantile variances.

    Uses Var(P_a) = a(1-a)/(N f_a²) and Cov(P_a, P_b) = a(1-b)/(N f_a f_b) for a < b, with
    the densities f read from the bins containing the quantiles; N = sum of counts.
    """
    full = np.asarray(counts, dtype=float)
    counts, under, over = _split_flow(full, edges)
    edges = np.asarray(edges, dtype=float)
    total = counts.sum() + under + over
    if counts.sum() <= 0:
        return float("nan")
    a, b = 1.0 - q / 100.0, q / 100.0
    qa, qb = hist_quantiles(full, edges, [a, b])
    if not (np.isfinite(qa) and np.isfinite(qb)):
        return float("nan")
    dens = counts / total / np.diff(edges)
    fa = dens[np.clip(np.searchsorted(edges, qa, side="right") - 1, 0, counts.size - 1)]
    fb = dens[np.clip(np.searchsorted(edges, qb, side="right") - 1, 0, counts.size - 1)]
    if fa <= 0 or fb <= 0:
        return float("nan")
    var = (a * (1 - a) / fa**2 + b * (1 - b) / fb**2 - 2 * a * (1 - b) / (fa * fb)) / total
    return float(math.sqrt(max(var, 0.0)) / _normalisation(q))


def iqr_error_from_hist(counts: np.ndarray, edges: np.ndarray) -> float:
    """Asymptotic standard error of the interquartile range P75 − P25 of a histogram (axis
    units): :func:`eiqr_error_from_hist` at q = 75 times 2Φ⁻¹(0.75)."""
    return eiqr_error_from_hist(counts, edges, 75.0) * _normalisation(75.0)


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


#: Fraction of the events in the σ_eff interval (±1σ of a Gaussian).
SIGMA_EFF_FRACTION = 0.6827


def sigma_eff_from_hist(counts: np.ndarray, edges: np.ndarray,
                        fraction: float = SIGMA_EFF_FRACTION) -> float:
    """σ_eff: half the width of the smallest interval holding ``fraction`` of all entries
    (flow entries count in the total but cannot be inside the interval), from a histogram
    with the in-bin linear CDF of :func:`hist_quantiles`. Axis units (GeV for a mass); NaN
    when no interval on the axis holds that fraction. Needs no fit: the H→γγ convention of
    ATLAS and CMS for comparing resolutions."""
    counts, under, over = _split_flow(counts, edges)
    edges = np.asarray(edges, dtype=float)
    total = counts.sum() + under + over
    if counts.sum() <= 0 or counts.sum() < fraction * total:
        return float("nan")
    cdf = (under + np.concatenate(([0.0], np.cumsum(counts)))) / total
    rises = np.diff(cdf) > 0
    keep = np.concatenate(([False], rises)) | np.concatenate((rises, [False]))
    c, x = cdf[keep], edges[keep]
    # the minimum of the width over interval starts is reached with one end on an edge:
    # try every edge as the lower end and as the upper end
    upper = np.interp(c + fraction, c, x)
    ok_up = c + fraction <= c[-1]
    lower = np.interp(c - fraction, c, x)
    ok_lo = c - fraction >= c[0]
    widths = np.concatenate([(upper - x)[ok_up], (x - lower)[ok_lo]])
    return float(0.5 * widths.min()) if widths.size else float("nan")


def sigma_eff_error_from_hist(counts: np.ndarray, edges: np.ndarray, *, n_boot: int = 200,
                              seed: int = 0, fraction: float = SIGMA_EFF_FRACTION) -> float:
    """Bootstrap standard error of :func:`sigma_eff_from_hist`: the spread over ``n_boot``
    Poisson resamplings of the bin contents (weighted contents are resampled as counts of
    their effective number of entries; seeded)."""
    full = np.clip(np.asarray(counts, dtype=float), 0.0, None)
    rng = np.random.default_rng(seed)
    values = [sigma_eff_from_hist(rng.poisson(full), edges, fraction) for _ in range(n_boot)]
    values = np.asarray(values)
    values = values[np.isfinite(values)]
    return float(np.std(values, ddof=1)) if values.size > 1 else float("nan")


#: Upper quantile of σ_68: Φ(1), so that (P_hi − P_lo)/2 is σ for a Gaussian.
SIGMA68_QUANTILE = 0.841345


def sigma68_from_hist(counts: np.ndarray, edges: np.ndarray) -> float:
    """σ_68 = (P84.13 − P15.87)/2 of a histogram (axis units; the response's central 68 %
    half-width, no fit); NaN when a quantile is outside the axis."""
    lo, hi = hist_quantiles(counts, edges, [1.0 - SIGMA68_QUANTILE, SIGMA68_QUANTILE])
    return float(0.5 * (hi - lo))


def sigma68_error_from_hist(counts: np.ndarray, edges: np.ndarray) -> float:
    """Asymptotic standard error of :func:`sigma68_from_hist` (the quantile variances of
    :func:`eiqr_error_from_hist` at q = 84.13; axis units)."""
    q = 100.0 * SIGMA68_QUANTILE
    return eiqr_error_from_hist(counts, edges, q) * _normalisation(q) / 2.0


def quantile_error_from_hist(counts: np.ndarray, edges: np.ndarray, prob: float) -> float:
    """Asymptotic standard error sqrt(p(1 − p)/N)/f(P_p) of the ``prob`` quantile of a
    histogram (axis units; f the density of the bin holding the quantile); NaN when the
    quantile is outside the axis or the density is 0."""
    full = np.asarray(counts, dtype=float)
    inner, under, over = _split_flow(full, edges)
    edges = np.asarray(edges, dtype=float)
    total = inner.sum() + under + over
    (value,) = hist_quantiles(full, edges, [prob])
    if inner.sum() <= 0 or not np.isfinite(value):
        return float("nan")
    dens = inner / total / np.diff(edges)
    f = dens[np.clip(np.searchsorted(edges, value, side="right") - 1, 0, inner.size - 1)]
    if f <= 0:
        return float("nan")
    return float(math.sqrt(prob * (1.0 - prob) / total) / f)
