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


def effective_factor(counts: np.ndarray, variances: np.ndarray) -> tuple[float, float]:
    """(Σw/Σw², (Σw)²/Σw²) of a histogram with sums of weights ``counts`` and of squared
    weights ``variances``: the factor turning weighted counts into effective entries, and
    their number. (1, Σw) when Σw² is 0 (empty histogram); nan for negative Σw or Σw²."""
    sw, sw2 = float(np.sum(counts)), float(np.sum(variances))
    if sw2 < 0 or sw < 0 or not np.isfinite(sw2):
        return float("nan"), float("nan")
    if sw2 == 0:
        return 1.0, sw
    return sw / sw2, sw * sw / sw2


#: Fewest effective entries for which an asymptotic quantile error is given (NaN below):
#: the normal approximation of a sample quantile and the density estimate it needs are
#: not trustworthy for a few dozen objects (a 4-object bin would otherwise get an error).
MIN_ASYMPTOTIC_ENTRIES = 100


def effective_entries(counts: np.ndarray, variances: np.ndarray | None = None) -> float:
    """The number of entries the statistical errors use: (Σw)²/Σw² with ``variances`` (Σw²
    per bin, Weight storage: pile-up weights, xsec × lumi scaling), else Σw (unit weights)."""
    sw = float(np.sum(np.clip(np.asarray(counts, dtype=float), 0.0, None)))
    if variances is None:
        return sw
    return effective_factor(np.clip(np.asarray(counts, dtype=float), 0.0, None),
                            variances)[1]


def _sparsity_bandwidth(prob: float, n: float) -> float:
    """Hall–Sheather bandwidth h of the difference-quotient density estimate at quantile
    ``prob`` of ``n`` entries (Hall & Sheather, JRSS B 50 (1988) 381; Koenker, *Quantile
    Regression* (2005) §3.4, the choice of statsmodels' QuantReg, which is not a dependency
    here), clipped to half the distance of ``prob`` to 0 and 1."""
    from scipy.stats import norm

    z = float(ndtri(prob))
    h = (n ** (-1.0 / 3.0) * float(ndtri(0.975)) ** (2.0 / 3.0)
         * (1.5 * norm.pdf(z) ** 2 / (2.0 * z * z + 1.0)) ** (1.0 / 3.0))
    return min(h, 0.5 * prob, 0.5 * (1.0 - prob))


def _density_at_quantile(full: np.ndarray, edges: np.ndarray, prob: float, n: float) -> float:
    """Density f(P_prob) (per axis unit, normalised to every entry) as 2h/(P_{p+h} − P_{p−h})
    (Siddiqui's difference quotient with the Hall–Sheather h): a single bin's content would
    hold a handful of entries for a bin of a few thousand objects on the 0.0005-wide
    response bins, making the error as noisy as the value; NaN when it cannot be formed."""
    h = _sparsity_bandwidth(prob, n)
    lo, hi = hist_quantiles(full, edges, [prob - h, prob + h])
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return float("nan")
    return float(2.0 * h / (hi - lo))


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


def eiqr_error_from_hist(counts: np.ndarray, edges: np.ndarray, q: float = 75.0,
                         variances: np.ndarray | None = None) -> float:
    """Asymptotic standard error of :func:`eiqr_from_hist` from the quantile variances.

    Uses Var(P_a) = a(1-a)/(N f_a²) and Cov(P_a, P_b) = a(1-b)/(N f_a f_b) for a < b, with
    N the :func:`effective_entries` (``variances``: Σw² per bin, same shape as ``counts``) and
    the densities f from :func:`_density_at_quantile`; NaN below
    :data:`MIN_ASYMPTOTIC_ENTRIES` effective entries.
    """
    full = np.asarray(counts, dtype=float)
    inner, _, _ = _split_flow(full, edges)
    edges = np.asarray(edges, dtype=float)
    n = effective_entries(full, variances)
    if inner.sum() <= 0 or not n >= MIN_ASYMPTOTIC_ENTRIES:
        return float("nan")
    a, b = 1.0 - q / 100.0, q / 100.0
    qa, qb = hist_quantiles(full, edges, [a, b])
    if not (np.isfinite(qa) and np.isfinite(qb)):
        return float("nan")
    fa = _density_at_quantile(full, edges, a, n)
    fb = _density_at_quantile(full, edges, b, n)
    if not (fa > 0 and fb > 0):
        return float("nan")
    var = (a * (1 - a) / fa**2 + b * (1 - b) / fb**2 - 2 * a * (1 - b) / (fa * fb)) / n
    return float(math.sqrt(max(var, 0.0)) / _normalisation(q))


def iqr_error_from_hist(counts: np.ndarray, edges: np.ndarray,
                        variances: np.ndarray | None = None) -> float:
    """Asymptotic standard error of the interquartile range P75 − P25 of a histogram (axis
    units): :func:`eiqr_error_from_hist` at q = 75 times 2Φ⁻¹(0.75)."""
    return eiqr_error_from_hist(counts, edges, 75.0, variances) * _normalisation(75.0)


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


def eiqr_error(values: np.ndarray, q: float = 75.0) -> float:
    """Asymptotic standard error of :func:`eiqr` of unbinned ``values``: the variance
    formula of :func:`eiqr_error_from_hist` with the densities from the same Siddiqui
    difference quotient (Hall–Sheather h) on the sample's own percentiles; NaN below
    :data:`MIN_ASYMPTOTIC_ENTRIES` values."""
    values = np.asarray(values, dtype=float)
    n = values.size
    if n < MIN_ASYMPTOTIC_ENTRIES:
        return float("nan")
    a, b = 1.0 - q / 100.0, q / 100.0
    dens = []
    for prob in (a, b):
        h = _sparsity_bandwidth(prob, n)
        lo, hi = np.percentile(values, [100.0 * (prob - h), 100.0 * (prob + h)])
        if not hi > lo:
            return float("nan")
        dens.append(2.0 * h / (hi - lo))
    fa, fb = dens
    var = (a * (1 - a) / fa**2 + b * (1 - b) / fb**2 - 2 * a * (1 - b) / (fa * fb)) / n
    return float(math.sqrt(max(var, 0.0)) / _normalisation(q))


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
                              seed: int = 0, fraction: float = SIGMA_EFF_FRACTION,
                              variances: np.ndarray | None = None) -> float:
    """Bootstrap standard error of :func:`sigma_eff_from_hist`: the spread over ``n_boot``
    Poisson resamplings of the bin contents (seeded); with ``variances`` (Σw² per bin) the
    weighted contents are resampled as counts of their effective number of entries
    (× Σw/Σw², :func:`effective_factor`), without them as counts."""
    full = np.clip(np.asarray(counts, dtype=float), 0.0, None)
    if variances is not None:
        factor = effective_factor(full, np.clip(np.asarray(variances, dtype=float), 0.0, None))[0]
        if not np.isfinite(factor):
            return float("nan")
        full = full * factor
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


def sigma68_error_from_hist(counts: np.ndarray, edges: np.ndarray,
                            variances: np.ndarray | None = None) -> float:
    """Asymptotic standard error of :func:`sigma68_from_hist` (the quantile variances of
    :func:`eiqr_error_from_hist` at q = 84.13; axis units)."""
    q = 100.0 * SIGMA68_QUANTILE
    return eiqr_error_from_hist(counts, edges, q, variances) * _normalisation(q) / 2.0


def quantile_error_from_hist(counts: np.ndarray, edges: np.ndarray, prob: float,
                             variances: np.ndarray | None = None) -> float:
    """Asymptotic standard error sqrt(p(1 − p)/N)/f(P_p) of the ``prob`` quantile of a
    histogram (axis units; N the :func:`effective_entries`, f from
    :func:`_density_at_quantile`); NaN when the quantile is outside the axis, the density
    cannot be estimated or N < :data:`MIN_ASYMPTOTIC_ENTRIES`."""
    full = np.asarray(counts, dtype=float)
    inner, _, _ = _split_flow(full, edges)
    edges = np.asarray(edges, dtype=float)
    n = effective_entries(full, variances)
    (value,) = hist_quantiles(full, edges, [prob])
    if inner.sum() <= 0 or not np.isfinite(value) or not n >= MIN_ASYMPTOTIC_ENTRIES:
        return float("nan")
    f = _density_at_quantile(full, edges, prob, n)
    if not f > 0:
        return float("nan")
    return float(math.sqrt(prob * (1.0 - prob) / n) / f)
