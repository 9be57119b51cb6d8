"""The mass-peak models: one registry for the zfit fits and the numpy curves of the plots.

A :class:`MassModel` holds its floating parameters (:class:`ParamSpec`: start value and
limits) and one function ``probs(xp, erf, ctx, params)`` returning the model's bin
probabilities on the fit's mass-bin edges, written once against an array namespace ``xp``
(``numpy`` or ``zfit.z.numpy``; see :mod:`calocoffea.fitting.shapes`). The zfit PDF
(:class:`calocoffea.fitting.zfit_models.BinnedMassPDF`) and :func:`expected_probs` (numpy,
for plots and checks) both evaluate it, so what is drawn is what was fitted.

- ``bwcb``: Breit–Wigner (m_Z, Γ_Z fixed) ⊗ Crystal Ball (μ, σ, α, n); μ is the CB shift of
  the peak relative to m_Z (GeV). Z→ee.
- ``bwcb_bkg``: the same plus a wide Gaussian with floating fraction, mean and width. Z→μμγ.
- ``dscb``: double-sided Crystal Ball (μ, σ, α_L, n_L, α_R, n_R), the signal model of the
  ATLAS and CMS H→γγ analyses (e.g. ATLAS, JHEP 07 (2023) 088 §5; CMS, JHEP 07 (2021) 027);
  μ is the peak position (absolute, GeV). H→γγ (default).
- ``double_gauss``: thesis eq. 4.8, (1 − f) G(125, 3) + f G(μ, σ) with the first Gaussian
  fixed as in the thesis, μ absolute; kept as an option (``calocoffea fit --model
  double_gauss``).

``width_tex`` names the width parameter ``sigma`` in plots: σ_CB for the Crystal Ball models,
σ for the floating Gaussian of the double Gaussian. :func:`peak_shift` turns μ into the shift
of the peak from the resonance mass for every model.

Masses in GeV.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import erf as np_erf

from calocoffea.constants import GAMMA_Z_GEV, MH_GEV, MZ_GEV
from calocoffea.fitting import shapes
from calocoffea.metrics import hist_quantiles

#: Fixed Higgs component of the double Gaussian (thesis eq. 4.8): mean and width, GeV.
DOUBLE_GAUSS_FIXED: tuple[float, float] = (MH_GEV, 3.0)


@dataclass(frozen=True)
class ParamSpec:
    """Floating parameter: name, default start and (lower, upper) limits."""

    name: str
    start: float
    lower: float
    upper: float


@dataclass
class ModelContext:
    """What a model's bin probabilities need besides its parameters, in the backend's arrays:
    the mass-bin ``edges`` (n_bins + 1,), and for the BW convolution the cell edges and the
    BW bin matrix of :class:`~calocoffea.fitting.shapes.ConvolutionGrid`; ``fixed`` holds
    constant numpy components (the fixed Gaussian of ``double_gauss``)."""

    edges: Any
    cells: Any = None
    bw: Any = None
    fixed: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class MassModel:
    """A registered model: its parameters, whether it convolves with the Z Breit–Wigner (then
    μ is already a shift from m_Z; otherwise μ is the absolute peak position), its bin
    probabilities, its starting values from the histogram and the TeX name of its width."""

    name: str
    params: tuple[ParamSpec, ...]
    convolves_bw: bool
    probs: Callable[..., Any]
    starts: Callable[[np.ndarray, np.ndarray], dict[str, float]]
    fixed: Callable[[np.ndarray], dict[str, np.ndarray]] = lambda edges: {}
    width_tex: str = r"\sigma_{CB}"

    @property
    def param_names(self) -> list[str]:
        return [s.name for s in self.params]

    def context(self, xp, edges: np.ndarray, subdivisions: int = 4) -> ModelContext:
        """The :class:`ModelContext` on mass-bin ``edges`` (GeV) with arrays made by
        ``xp.asarray`` (numpy or zfit.z.numpy)."""
        edges = np.asarray(edges, dtype=float)
        ctx = ModelContext(edges=xp.asarray(edges), fixed=self.fixed(edges))
        if self.convolves_bw:
            grid = shapes.ConvolutionGrid.build(edges, subdivisions)
            ctx.cells = xp.asarray(grid.cell_edges)
            ctx.bw = xp.asarray(grid.bw_bin_matrix)
        return ctx


def _bwcb(xp, erf, ctx: ModelContext, p: Mapping[str, Any]):
    return shapes.bw_cb_bin_probs(
        xp, erf, ctx.cells, ctx.bw, mu=p["mu"], sigma=p["sigma"], alpha=p["alpha"], n=p["n"]
    )


def _bwcb_bkg(xp, erf, ctx: ModelContext, p: Mapping[str, Any]):
    sig = shapes.normalise(xp, _bwcb(xp, erf, ctx, p))
    bkg = shapes.normalise(
        xp, shapes.gauss_bin_probs(xp, erf, ctx.edges, p["mu_bkg"], p["sigma_bkg"])
    )
    return (1.0 - p["frac_bkg"]) * sig + p["frac_bkg"] * bkg


def _dscb(xp, erf, ctx: ModelContext, p: Mapping[str, Any]):
    return shapes.dscb_bin_probs(xp, erf, ctx.edges, mu=p["mu"], sigma=p["sigma"],
                                 alpha_l=p["alpha_l"], n_l=p["n_l"], alpha_r=p["alpha_r"],
                                 n_r=p["n_r"])


def _double_gauss(xp, erf, ctx: ModelContext, p: Mapping[str, Any]):
    g = shapes.normalise(xp, shapes.gauss_bin_probs(xp, erf, ctx.edges, p["mu"], p["sigma"]))
    return (1.0 - p["frac"]) * xp.asarray(ctx.fixed["g0"]) + p["frac"] * g


def _double_gauss_fixed(edges: np.ndarray) -> dict[str, np.ndarray]:
    g0 = shapes.gauss_bin_probs(np, np_erf, edges, *DOUBLE_GAUSS_FIXED)
    return {"g0": shapes.normalise(np, g0)}


def _quartiles(counts: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
    q25, q50, q75 = hist_quantiles(counts, edges, [0.25, 0.5, 0.75])
    return float(q50), float(q75 - q25)


def _bw_starts(counts: np.ndarray, edges: np.ndarray) -> dict[str, float]:
    median, iqr = _quartiles(counts, edges)
    # the BW⊗Gauss (Voigt) FWHM approximation, using the IQR as a FWHM proxy
    fwhm_g2 = (iqr - 0.5346 * GAMMA_Z_GEV) ** 2 - 0.2166 * GAMMA_Z_GEV**2
    return {
        "mu": float(np.clip(median - MZ_GEV, -4.0, 4.0)),
        "sigma": float(np.clip(math.sqrt(max(fwhm_g2, 0.01)) / 2.3548, 0.3, 5.0)),
    }


def _gauss_starts(counts: np.ndarray, edges: np.ndarray) -> dict[str, float]:
    median, iqr = _quartiles(counts, edges)
    return {"mu": median, "sigma": float(np.clip(iqr / 1.349, 0.5, 5.0))}


_CB = (
    ParamSpec("mu", 0.0, -5.0, 5.0),
    ParamSpec("sigma", 1.5, 0.005, 10.0),
    ParamSpec("alpha", 1.5, 0.1, 10.0),
    ParamSpec("n", 5.0, 1.05, 100.0),
)

#: Model name -> :class:`MassModel`.
MODELS: dict[str, MassModel] = {
    "bwcb": MassModel("bwcb", _CB, True, _bwcb, _bw_starts),
    "bwcb_bkg": MassModel(
        "bwcb_bkg",
        (
            *_CB,
            ParamSpec("frac_bkg", 0.1, 0.0, 0.9),
            ParamSpec("mu_bkg", 85.0, 60.0, 120.0),
            ParamSpec("sigma_bkg", 10.0, 4.0, 40.0),
        ),
        True,
        _bwcb_bkg,
        _bw_starts,
    ),
    "dscb": MassModel(
        "dscb",
        (
            ParamSpec("mu", MH_GEV, 115.0, 135.0),
            ParamSpec("sigma", 1.7, 0.05, 10.0),
            ParamSpec("alpha_l", 1.5, 0.2, 10.0),
            ParamSpec("n_l", 5.0, 1.05, 100.0),
            ParamSpec("alpha_r", 1.8, 0.2, 10.0),
            ParamSpec("n_r", 10.0, 1.05, 100.0),
        ),
        False,
        _dscb,
        _gauss_starts,
    ),
    "double_gauss": MassModel(
        "double_gauss",
        (
            ParamSpec("mu", MH_GEV, 115.0, 135.0),
            ParamSpec("sigma", 1.7, 0.05, 10.0),
            ParamSpec("frac", 0.8, 0.0, 1.0),
        ),
        False,
        _double_gauss,
        _gauss_starts,
        _double_gauss_fixed,
        r"\sigma",
    ),
}


def mass_model(name: str) -> MassModel:
    """The registered model ``name``; ValueError naming the known ones otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown fit model {name!r}; choose one of {tuple(MODELS)}")
    return MODELS[name]


def peak_shift(name: str, mu: float | None, resonance_mass: float) -> float | None:
    """Shift (GeV) of the fitted peak from ``resonance_mass``: μ itself for the BW⊗CB models
    (a CB shift relative to m_Z), μ − ``resonance_mass`` for the models whose μ is absolute
    (``dscb``, ``double_gauss``); None stays None."""
    if mu is None:
        return None
    return mu if mass_model(name).convolves_bw else mu - resonance_mass


def expected_probs(
    name: str, values: Mapping[str, float], edges: np.ndarray, subdivisions: int = 4
) -> np.ndarray:
    """Normalised bin probabilities (n_bins,) of model ``name`` at parameter ``values`` on
    mass-bin ``edges`` (GeV), in numpy."""
    model = mass_model(name)
    ctx = model.context(np, edges, subdivisions)
    return shapes.normalise(np, model.probs(np, np_erf, ctx, values))
