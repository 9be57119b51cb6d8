"""Analysis binnings shared by processors, fits and plots.

|eta| bins follow the five regions used in the DeepCalo thesis (ch. 5.6, fig. 9.8):
central barrel, outer barrel, crack (1.37-1.52), inner end-cap, outer end-cap up to the
tracker acceptance 2.47. Pile-up ranges: MC [10, 80], data [15, 40] (thesis fig. 5.5),
each split in five equal bins.
"""

from __future__ import annotations

import numpy as np

from calocoffea.geometry import CRACK, ETA_MAX

#: |eta| bin edges (5 bins; bin 2 is the barrel/end-cap crack).
ABS_ETA_EDGES: tuple[float, ...] = (0.0, 0.8, *CRACK, 2.01, ETA_MAX)
#: Index of the crack bin in ABS_ETA_EDGES.
CRACK_BIN: int = 2
#: Transverse-energy bin edges in GeV.
ET_EDGES: tuple[float, ...] = (5.0, 20.0, 30.0, 40.0, 50.0, 60.0, 80.0, 150.0, 500.0)
#: <mu> bin edges: five equal bins over the MC range [10, 80].
MU_EDGES: tuple[float, ...] = tuple(np.linspace(10.0, 80.0, 6).tolist())
#: E_calib / E_true: steps of 0.0005 over [0.5, 1.5].
RESPONSE_BINS: tuple[int, float, float] = (2000, 0.5, 1.5)
#: Pull (E − E_true)/σ_E: steps of 0.05 over [−5, 5] (±1 and ±2 are bin edges, so the
#: coverages are exact counts).
PULL_BINS: tuple[int, float, float] = (200, -5.0, 5.0)


def eta_pair_categories(n_bins: int = len(ABS_ETA_EDGES) - 1) -> list[tuple[int, int]]:
    """Unordered (|eta|_i, |eta|_j) pairs with i <= j: 15 categories for 5 bins."""
    return [(i, j) for i in range(n_bins) for j in range(i, n_bins)]


def eta_pair_index(i: np.ndarray, j: np.ndarray, n_bins: int = len(ABS_ETA_EDGES) - 1):
    """Category index of the unordered pair (i, j), matching :func:`eta_pair_categories`."""
    lo = np.minimum(i, j)
    hi = np.maximum(i, j)
    # index of (lo, hi) in the row-major upper triangle
    return lo * n_bins - lo * (lo - 1) // 2 + (hi - lo)


def abs_eta_bin(abseta: np.ndarray) -> np.ndarray:
    """Index of the |η| bin of :data:`ABS_ETA_EDGES` (-1 outside)."""
    edges = np.asarray(ABS_ETA_EDGES)
    idx = np.searchsorted(edges, abseta, side="right") - 1
    return np.where((abseta >= edges[0]) & (abseta < edges[-1]), idx, -1)
