"""Expected counts per mass bin of a stored fit, in numpy (for plots; no zfit needed).

Evaluates the registered model (:mod:`calocoffea.fitting.models`) at the parameter values
stored in a FitResult dict (``results["mass"]`` entries of ``calocoffea fit``), normalised
to the observed entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from calocoffea.fitting.models import expected_probs


def expected_counts(
    fit: Mapping[str, Any], edges: np.ndarray, total: float, subdivisions: int = 4
) -> np.ndarray | None:
    """Model expectation per bin (shape (len(edges) − 1,)) for a FitResult dict.

    ``edges`` are the mass-bin edges (GeV) the fit used, ``total`` the number of entries.
    Returns None for fits without parameter values (failed or skipped).
    """
    values = fit.get("values") or {}
    if fit.get("status") != "ok" or not values:
        return None
    return total * expected_probs(fit["model"], values, edges, subdivisions)
