"""Per-bin summaries: eIQR versus |η|, E_T or ⟨μ⟩ with a reIQR panel; α_i; per-|η| σ."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from calocoffea.plots.style import calib_color, calib_label, label, not_measured, use_style

ValueErr = tuple[Sequence[float], Sequence[float]]


def _floats(values) -> np.ndarray:
    """Array of floats with None (JSON null: not measured) as NaN, so it is not drawn."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _errorbar_bins(ax, edges, values, errors, **kwargs) -> np.ndarray:
    """Points with errors per bin; returns the mask of bins with a value (None/NaN: not
    measured, not drawn)."""
    values, errors = _floats(values), _floats(errors)
    edges = np.asarray(edges, dtype=float)
    centers = 0.5 * (edges[1:] + edges[:-1])
    half = 0.5 * np.diff(edges)
    ax.errorbar(centers, values, xerr=half, yerr=errors, fmt="o", ms=4, **kwargs)
    return np.isfinite(values)


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize="small")


def _mark_unmeasured(ax, edges, measured: list[np.ndarray]) -> None:
    """'not measured' in every bin no series has a value for (whole panel if none)."""
    edges = np.asarray(edges, dtype=float)
    any_value = np.zeros(edges.size - 1, bool)
    for m in measured:
        any_value |= m
    if not any_value.any():
        not_measured(ax)
        return
    for k in np.flatnonzero(~any_value):
        not_measured(ax, 0.5 * (edges[k] + edges[k + 1]))


def plot_eiqr_vs(
    edges: Sequence[float],
    eiqr: Mapping[str, ValueErr],
    xlabel: str,
    *,
    reference: str = "bdt",
    model: str = "cnn",
    quantile: int = 75,
    logx: bool = False,
) -> plt.Figure:
    """eIQR per bin for each calibration, and reIQR = 1 − eIQR(model)/eIQR(reference) below."""
    use_style()
    fig, (ax, rax) = plt.subplots(
        2, 1, figsize=(9, 8), sharex=True, gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05}
    )
    measured = [_errorbar_bins(ax, edges, vals, errs, color=calib_color(cal),
                               label=calib_label(cal)) for cal, (vals, errs) in eiqr.items()]
    _mark_unmeasured(ax, edges, measured)
    ax.set_ylabel(f"eIQR$_{{{quantile}}}$ of $E_{{calib}}/E_{{true}}$")
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)  # offset text hits the label
    ax.set_ylim(0, ax.get_ylim()[1] * 1.35)
    _legend(ax)
    label(ax)
    if reference in eiqr and model in eiqr:
        ref, ref_err = (_floats(a) for a in eiqr[reference])
        mod, mod_err = (_floats(a) for a in eiqr[model])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = mod / ref
            re = 1.0 - ratio
            re_err = np.abs(ratio) * np.hypot(mod_err / mod, ref_err / ref)
        _errorbar_bins(rax, edges, re, re_err, color="k")
        rax.axhline(0, color="grey", lw=0.8)
    rax.set_ylabel(f"reIQR$_{{{quantile}}}$")
    rax.set_xlabel(xlabel)
    if logx:
        rax.set_xscale("log")
    # explicit limits: bins without enough entries are NaN and must not empty the axis
    rax.set_xlim(float(edges[0]), float(edges[-1]))
    return fig


def plot_alpha(
    edges: Sequence[float],
    alpha: Mapping[str, ValueErr],
    injected_alpha: Sequence[float] | None = None,
    simulation: bool = False,
) -> plt.Figure:
    """Fitted η-shift α_i per |η| bin (in %) for each calibration.

    ``injected_alpha``: the correction expected from injected scale offsets δ_i,
    1/(1 + δ_i) − 1 (data-like samples), drawn as a dashed line.
    """
    use_style()
    fig, ax = plt.subplots(figsize=(9, 7))
    measured = [_errorbar_bins(ax, edges, 100 * _floats(vals), 100 * _floats(errs),
                               color=calib_color(cal), label=calib_label(cal))
                for cal, (vals, errs) in alpha.items()]
    _mark_unmeasured(ax, edges, measured)
    if injected_alpha is not None:
        inj = 100 * _floats(injected_alpha)
        ax.stairs(inj, np.asarray(edges, dtype=float), color="k", ls="--", lw=1.5,
                  label="expected from injected offsets")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel(r"$|\eta|$")
    ax.set_ylabel(r"$\alpha_i$ [%]")
    ymin, ymax = ax.get_ylim()
    ax.set_ylim(ymin, ymax + 0.4 * (ymax - ymin))
    _legend(ax)
    label(ax, simulation=simulation)
    return fig


def plot_eta_resolution(
    edges: Sequence[float],
    sigma: Mapping[str, ValueErr],
    ylabel: str = r"$\sigma_i$ [GeV]",
    simulation: bool = True,
) -> plt.Figure:
    """Per-|η| resolution σ_i solved from the pair categories, for each calibration."""
    use_style()
    fig, ax = plt.subplots(figsize=(9, 7))
    measured = [_errorbar_bins(ax, edges, vals, errs, color=calib_color(cal),
                               label=calib_label(cal)) for cal, (vals, errs) in sigma.items()]
    _mark_unmeasured(ax, edges, measured)
    ax.set_xlabel(r"$|\eta|$")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.35)
    _legend(ax)
    label(ax, simulation=simulation)
    return fig
