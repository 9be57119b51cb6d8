"""Per-|η|-bin quantities from fits of (|η|_i, |η|_j) category pairs: the rows of the
linear systems of the η-shift (eq. 9.8) and of the per-|η| resolution (eq. 5.14), and their
weighted least-squares solution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from calocoffea.fitting.result import FitResult


@dataclass
class PairRows:
    """The accepted categories as a design matrix: ``x`` (n_rows, n_bins) with
    ``coefficient`` in the columns of bins i and j of each pair, the fitted ``values`` and
    ``errors`` of the parameter (n_rows,), and the index of each row's category in ``used``."""

    x: np.ndarray
    values: np.ndarray
    errors: np.ndarray
    used: list[int]

    def __len__(self) -> int:
        return len(self.used)


def accepted_pair_rows(
    pairs: Sequence[tuple[int, int]],
    results: Sequence[FitResult],
    param: str,
    n_bins: int,
    coefficient: float,
) -> PairRows:
    """Rows of the accepted fits whose ``param`` has a finite value and a positive error."""
    if len(pairs) != len(results):
        raise ValueError(f"{len(pairs)} pairs but {len(results)} fit results")
    rows, values, errors, used = [], [], [], []
    for k, ((i, j), res) in enumerate(zip(pairs, results, strict=True)):
        v, e = res.value(param), res.error(param)
        if not res.accepted or not np.isfinite(v) or not np.isfinite(e) or e <= 0:
            continue
        row = np.zeros(n_bins)
        row[i] += coefficient
        row[j] += coefficient
        rows.append(row)
        values.append(v)
        errors.append(e)
        used.append(k)
    return PairRows(np.asarray(rows).reshape(-1, n_bins), np.asarray(values, float),
                    np.asarray(errors, float), used)


@dataclass
class LinearSolution:
    """Weighted least squares over the bins that appear in at least one row: ``solution``
    (n_bins,; NaN where not identified), its ``covariance`` (n_bins, n_bins; NaN outside),
    the ``identified`` mask, χ² and ndf = rows − rank of the design matrix.

    Bin i is *identified* only when the rows determine it alone: its unit vector e_i lies in
    the row space of ``x`` (``P[i, i] = 1`` for the projector ``P = pinv(x) x`` onto that
    space). A bin seen only in combinations, e.g. one category (i, j) fixing α_i + α_j, is
    not identified even though its column is non-zero."""

    solution: np.ndarray
    covariance: np.ndarray
    identified: np.ndarray
    chi2: float
    ndf: int


#: Tolerance on the diagonal of the row-space projector (1 for an identified bin; a bin
#: constrained only through combinations has P[i, i] ≤ 1/2 for pair rows).
IDENTIFIED_TOL = 1e-6


def identified_bins(x: np.ndarray) -> np.ndarray:
    """Bins (columns of ``x``) whose unit vector lies in the row space of ``x`` (bool)."""
    if x.size == 0:
        return np.zeros(x.shape[1], bool)
    projector = np.linalg.pinv(x) @ x
    return np.abs(np.diag(projector) - 1.0) < IDENTIFIED_TOL


def solve_weighted(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> LinearSolution:
    """Minimise Σ w (y − x·s)² over s; ``x`` (n_rows, n_bins), ``y`` and ``w`` (n_rows,)."""
    n_bins = x.shape[1]
    present = np.any(x != 0, axis=0)
    xs = x[:, present]
    # pinv rather than inv: a bin seen only in mixed pairs with another unconstrained bin
    # makes the system degenerate; pinv returns the minimum-norm solution instead of failing,
    # whose components are exact for the identified bins (estimable combinations) only
    cov_s = np.linalg.pinv(xs.T @ (w[:, None] * xs))
    sol = cov_s @ (xs.T @ (w * y))
    identified = identified_bins(x)
    keep = identified[present]
    solution = np.full(n_bins, np.nan)
    solution[identified] = sol[keep]
    cov = np.full((n_bins, n_bins), np.nan)
    idx = np.flatnonzero(identified)
    cov[np.ix_(idx, idx)] = cov_s[np.ix_(keep, keep)]
    resid = y - xs @ sol
    rank = int(np.linalg.matrix_rank(xs)) if xs.size else 0
    return LinearSolution(solution, cov, identified, float(np.sum(w * resid**2)),
                          len(y) - rank)
