"""σ_m/m categories and the expected gain in signal significance from categorising.

Each event's relative mass resolution from its objects' energy uncertainties (massless
objects, angles exact): σ_m/m = ½ √((σ_E1/E1)² + (σ_E2/E2)²). The processors fill it on a fine
logarithmic axis (:data:`SIGMA_M_EDGES`); the categories are equal-population terciles of the
MC distribution, snapped to that axis' edges and recorded with the results, so that data and
MC fall into the same categories.

Expected significance of a narrow peak over a smooth background in category k, with the
signal counted in its σ_eff interval (68.3 % of the category's signal, width 2σ_eff,k) and a
falling exponential background of slope λ (1/GeV) whose events share the categories in the
proportion the signal does (the photons of the continuum have the same σ_m/m distribution,
an assumption stated in docs/fits.md):

    Z_k² = s_k² / b_k,   s_k = 0.683 N_k,   b_k = ρ (N_k / N) ∫_{I_k} e^{−λ(m − m_H)} dm,

and the gain is √(Σ_k Z_k²) / Z_inclusive; the background density ρ cancels. λ = 0.025 /GeV
is the local slope at 125 GeV of the ATLAS diphoton continuum (JHEP 07 (2023) 088, fig. 3:
the spectrum falls by about a factor 2.5 between 105 and 160 GeV).
"""

from __future__ import annotations

import math

import numpy as np

from calocoffea.constants import MH_GEV
from calocoffea.metrics import SIGMA_EFF_FRACTION, sigma_eff_from_hist

#: Fine σ_m/m axis of the processors' categorised mass histogram (200 log bins of 2 %,
#: 0.2 %–10 %): the terciles snap to its edges, so a bin must hold little of the population
#: (measured with 50 bins of 8 %: H→γγ categories of 35 / 24 / 41 % instead of thirds).
SIGMA_M_EDGES: tuple[float, ...] = tuple(np.geomspace(0.002, 0.10, 201).tolist())
#: Number of equal-population categories.
N_CATEGORIES = 3
#: Local slope (1/GeV) of the diphoton continuum at 125 GeV (module docstring).
BACKGROUND_SLOPE = 0.025


def sigma_m_over_m(rel1: np.ndarray, rel2: np.ndarray) -> np.ndarray:
    """σ_m/m of two-object masses from the objects' relative energy uncertainties."""
    return 0.5 * np.hypot(rel1, rel2)


def tercile_edges(counts: np.ndarray, edges: np.ndarray | None = None,
                  n: int = N_CATEGORIES) -> list[int]:
    """Indices into ``edges`` (default :data:`SIGMA_M_EDGES`) of the category boundaries:
    the ``n - 1`` edges closest to the equal-population quantiles of the σ_m/m histogram
    ``counts`` (one count per bin of ``edges``, flow bins excluded); the first category
    starts at index 0, the last ends at the last edge. Returns
    ``[0, i_1, ..., len(edges) - 1]``."""
    edges = np.asarray(SIGMA_M_EDGES if edges is None else edges)
    counts = np.clip(np.asarray(counts, dtype=float), 0.0, None)
    cdf = np.concatenate(([0.0], np.cumsum(counts)))
    if cdf[-1] <= 0:
        raise ValueError("no events to choose sigma_m/m categories from")
    cdf /= cdf[-1]
    cuts = [int(np.argmin(np.abs(cdf - k / n))) for k in range(1, n)]
    idx = [0, *cuts, len(edges) - 1]
    if len(set(idx)) != len(idx):
        raise ValueError(f"sigma_m/m categories collapse on the axis: {idx}")
    return idx


def _background_in(lo: float, hi: float, slope: float) -> float:
    """∫_lo^hi e^{−slope (m − m_H)} dm (GeV)."""
    if slope == 0:
        return hi - lo
    return (math.exp(-slope * (lo - MH_GEV)) - math.exp(-slope * (hi - MH_GEV))) / slope


def _interval(counts: np.ndarray, edges: np.ndarray) -> tuple[float, float] | None:
    """The smallest interval holding 68.3 % of the entries (GeV), or None."""
    from calocoffea.metrics import hist_quantiles

    width = sigma_eff_from_hist(counts, edges)
    if not np.isfinite(width):
        return None
    # locate it: scan the lower end over the in-range CDF
    probs = np.linspace(0.0, 1.0 - SIGMA_EFF_FRACTION, 400)
    lo = hist_quantiles(counts, edges, probs)
    hi = hist_quantiles(counts, edges, probs + SIGMA_EFF_FRACTION)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return None
    k = int(np.argmin(np.where(ok, hi - lo, np.inf)))
    return float(lo[k]), float(hi[k])


def significance_gain(mass_counts: np.ndarray, edges: np.ndarray, *,
                      slope: float = BACKGROUND_SLOPE) -> float:
    """√(Σ_k Z_k²)/Z_inclusive (module docstring) of the categories' mass histograms
    ``mass_counts`` (n_categories, n_mass_bins), mass-bin ``edges`` (GeV)."""
    mass_counts = np.clip(np.asarray(mass_counts, dtype=float), 0.0, None)
    total = mass_counts.sum()
    if total <= 0:
        return float("nan")

    def z2(counts: np.ndarray) -> float:
        n = counts.sum()
        iv = _interval(counts, edges)
        if n <= 0 or iv is None:
            return float("nan")
        s = SIGMA_EFF_FRACTION * n
        b = (n / total) * _background_in(*iv, slope)
        return s * s / b

    parts = [z2(c) for c in mass_counts if c.sum() > 0]
    inclusive = z2(mass_counts.sum(axis=0))
    if not parts or not all(np.isfinite(parts)) or not np.isfinite(inclusive):
        return float("nan")
    return math.sqrt(sum(parts) / inclusive)


def significance_gain_error(mass_counts: np.ndarray, edges: np.ndarray, *, n_boot: int = 100,
                            seed: int = 0, slope: float = BACKGROUND_SLOPE) -> float:
    """Bootstrap error of :func:`significance_gain` (Poisson resampling of every bin)."""
    rng = np.random.default_rng(seed)
    full = np.clip(np.asarray(mass_counts, dtype=float), 0.0, None)
    vals = np.asarray([significance_gain(rng.poisson(full), edges, slope=slope)
                       for _ in range(n_boot)])
    vals = vals[np.isfinite(vals)]
    return float(np.std(vals, ddof=1)) if vals.size > 1 else float("nan")
