"""Expected counts per mass bin of a fitted model, in numpy (for plots; no zfit needed).

Re-evaluates the same bin-probability maths as the zfit models (:mod:`.shapes`) from the
parameter values stored in a FitResult dict (``results["mass"]["fits"]`` entries of
``calocoffea fit``), normalised to the observed entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import erf

from calocoffea.fitting import shapes

#: Fixed Higgs component of the double Gaussian (thesis eq. 4.8), GeV.
DOUBLE_GAUSS_FIXED = (125.0, 3.0)


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
    edges = np.asarray(edges, dtype=float)
    model = fit.get("model")
    if model in ("bwcb", "bwcb_bkg"):
        grid = shapes.ConvolutionGrid.build(edges, subdivisions)
        probs = shapes.normalise(
            np,
            shapes.bw_cb_bin_probs(
                np,
                erf,
                grid.cell_edges,
                grid.bw_bin_matrix,
                mu=values["mu"],
                sigma=values["sigma"],
                alpha=values["alpha"],
                n=values["n"],
            ),
        )
        if model == "bwcb_bkg":
            bkg = shapes.normalise(
                np, shapes.gauss_bin_probs(np, erf, edges, values["mu_bkg"], values["sigma_bkg"])
            )
            probs = (1.0 - values["frac_bkg"]) * probs + values["frac_bkg"] * bkg
    elif model == "double_gauss":
        g0 = shapes.normalise(np, shapes.gauss_bin_probs(np, erf, edges, *DOUBLE_GAUSS_FIXED))
        g = shapes.normalise(
            np, shapes.gauss_bin_probs(np, erf, edges, values["mu"], values["sigma"])
        )
        probs = (1.0 - values["frac"]) * g0 + values["frac"] * g
    else:
        raise ValueError(f"unknown fit model {model!r}")
    return total * probs
