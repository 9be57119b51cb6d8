"""zfit binned models of the mass peaks (thesis §4.2.2, appendix 9.1).

- :class:`BinnedBWCB`: Breit–Wigner (m_Z, Γ_Z fixed) ⊗ Crystal Ball (μ, σ, α, n floating);
  μ is the CB shift of the peak relative to m_Z (GeV).
- :class:`BinnedBWCBPlusGauss`: the same plus a wide Gaussian background with floating
  fraction, mean and width (Z→μμγ).
- :class:`BinnedDoubleGauss`: thesis eq. 4.8, ``(1 - f) G(125, 3) + f G(μ, σ)`` (H→γγ); the
  first Gaussian is fixed as in the thesis.

All are zfit binned PDFs whose relative bin counts are exact bin integrals of the shape
(:mod:`calocoffea.fitting.shapes`), so they plug into ``zfit.loss.BinnedNLL``. This module
imports zfit/TensorFlow and must only be imported client-side.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import zfit
import zfit.z.numpy as znp
from zfit.core.binnedpdf import BaseBinnedPDF
from zfit.core.space import supports

from calocoffea.fitting import shapes


def _erf(x):
    return tf.math.erf(x)


class _ShapePDF(BaseBinnedPDF):
    """Binned PDF whose relative counts are ``self._probs()`` normalised over the range."""

    def __init__(self, obs, params: dict, name: str):
        super().__init__(obs=obs, params=params, name=name, extended=False)
        self._edges = znp.asarray(np.asarray(obs.binning.edges[0], dtype=float))

    def _probs(self):  # pragma: no cover - abstract
        raise NotImplementedError

    @supports(norm="space")
    def _rel_counts(self, x, norm=None, **kwargs):
        return shapes.normalise(znp, self._probs())

    @supports(norm="space")
    def _pdf(self, x, norm=None, **kwargs):
        widths = znp.asarray(np.diff(np.asarray(self.space.binning.edges[0], dtype=float)))
        return shapes.normalise(znp, self._probs()) / widths


class BinnedBWCB(_ShapePDF):
    """BW(m_Z, Γ_Z fixed) ⊗ CB(μ, σ, α, n) on the binned space ``obs`` (mass in GeV).

    ``subdivisions`` sets the convolution-cell step (min bin width / subdivisions).
    """

    def __init__(
        self,
        obs,
        *,
        mu,
        sigma,
        alpha,
        n,
        subdivisions: int = 4,
        name: str = "BWCB",
        extra_params: dict | None = None,
    ):
        params = {"mu": mu, "sigma": sigma, "alpha": alpha, "n": n} | (extra_params or {})
        super().__init__(obs, params, name)
        grid = shapes.ConvolutionGrid.build(np.asarray(obs.binning.edges[0]), subdivisions)
        self.grid = grid
        self._cells = znp.asarray(grid.cell_edges)
        self._bw = znp.asarray(grid.bw_bin_matrix)

    def _probs(self):
        p = self.params
        return shapes.bw_cb_bin_probs(
            znp,
            _erf,
            self._cells,
            self._bw,
            mu=p["mu"],
            sigma=p["sigma"],
            alpha=p["alpha"],
            n=p["n"],
        )


class BinnedBWCBPlusGauss(BinnedBWCB):
    """(1 - f_bkg) BW⊗CB + f_bkg G(μ_bkg, σ_bkg): Z→μμγ signal plus a wide background."""

    def __init__(
        self,
        obs,
        *,
        mu,
        sigma,
        alpha,
        n,
        frac_bkg,
        mu_bkg,
        sigma_bkg,
        subdivisions: int = 4,
        name: str = "BWCBBkg",
    ):
        super().__init__(
            obs,
            mu=mu,
            sigma=sigma,
            alpha=alpha,
            n=n,
            subdivisions=subdivisions,
            name=name,
            extra_params={"frac_bkg": frac_bkg, "mu_bkg": mu_bkg, "sigma_bkg": sigma_bkg},
        )

    def _probs(self):
        p = self.params
        sig = shapes.normalise(znp, super()._probs())
        bkg = shapes.normalise(
            znp, shapes.gauss_bin_probs(znp, _erf, self._edges, p["mu_bkg"], p["sigma_bkg"])
        )
        return (1.0 - p["frac_bkg"]) * sig + p["frac_bkg"] * bkg


class BinnedDoubleGauss(_ShapePDF):
    """Thesis eq. 4.8: (1 - f) G(mu0, s0) + f G(μ, σ), with mu0 = 125, s0 = 3 GeV fixed."""

    def __init__(
        self,
        obs,
        *,
        mu,
        sigma,
        frac,
        mu0: float = 125.0,
        sigma0: float = 3.0,
        name: str = "DoubleGauss",
    ):
        super().__init__(obs, {"mu": mu, "sigma": sigma, "frac": frac}, name)
        self._g0 = shapes.normalise(
            np, shapes.gauss_bin_probs(np, _np_erf, np.asarray(obs.binning.edges[0]), mu0, sigma0)
        )

    def _probs(self):
        p = self.params
        g = shapes.normalise(
            znp, shapes.gauss_bin_probs(znp, _erf, self._edges, p["mu"], p["sigma"])
        )
        return (1.0 - p["frac"]) * znp.asarray(self._g0) + p["frac"] * g


def _np_erf(x):
    from scipy.special import erf

    return erf(x)


def binned_space(edges: np.ndarray, name: str = "mass") -> zfit.Space:
    """zfit binned space for mass-bin ``edges`` (GeV)."""
    edges = np.asarray(edges, dtype=float)
    binning = zfit.binned.VariableBinning(edges, name=name)
    return zfit.Space(name, limits=(edges[0], edges[-1]), binning=binning)
