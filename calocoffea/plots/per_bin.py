"""Per-bin summaries: eIQR versus |η|, E_T or ⟨μ⟩ with a reIQR panel; linearity (median of
E/E_true) with σ_rel = IQR/(2·median); α_i; per-|η| σ.

The x axis of the per-bin response figures spans the populated bins only (those with a
value), so that an E_T axis booked to 500 GeV does not squeeze an H→γγ sample's 30–150 GeV.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import ScalarFormatter

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


def populated_xlim(edges, measured: list[np.ndarray]) -> tuple[float, float]:
    """(low, high) edges of the first and last bin any series has a value in; the whole
    axis when none has."""
    edges = np.asarray(edges, dtype=float)
    any_value = np.zeros(edges.size - 1, bool)
    for m in measured:
        any_value |= m
    if not any_value.any():
        return float(edges[0]), float(edges[-1])
    idx = np.flatnonzero(any_value)
    return float(edges[idx[0]]), float(edges[idx[-1] + 1])


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize="small")


def _mark_unmeasured(ax, edges, measured: list[np.ndarray], *, populated_only: bool = False
                     ) -> None:
    """'not measured' in every bin no series has a value for (whole panel if none); with
    ``populated_only`` only in the gaps between the first and last measured bin (the axis
    ends there, see :func:`populated_xlim`)."""
    edges = np.asarray(edges, dtype=float)
    any_value = np.zeros(edges.size - 1, bool)
    for m in measured:
        any_value |= m
    if not any_value.any():
        not_measured(ax)
        return
    idx = np.flatnonzero(any_value)
    for k in np.flatnonzero(~any_value):
        if not populated_only or idx[0] < k < idx[-1]:
            not_measured(ax, 0.5 * (edges[k] + edges[k + 1]))


def _log_x(ax) -> None:
    """Log x axis with plain numbers (30, 40, 100 GeV, not 3×10¹)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(ScalarFormatter())
    ax.ticklabel_format(axis="x", style="plain")


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
    """eIQR per bin for each calibration, and reIQR = 1 − eIQR(model)/eIQR(reference) below
    (its definition written in the panel); x range: the populated bins."""
    use_style()
    fig, (ax, rax) = plt.subplots(
        2, 1, figsize=(9, 8), sharex=True, gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05}
    )
    measured = [_errorbar_bins(ax, edges, vals, errs, color=calib_color(cal),
                               label=calib_label(cal)) for cal, (vals, errs) in eiqr.items()]
    _mark_unmeasured(ax, edges, measured, populated_only=True)
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
        rax.text(0.02, 0.92, reiqr_definition(model, reference, quantile),
                 transform=rax.transAxes, ha="left", va="top", fontsize="x-small")
    rax.set_ylabel(f"reIQR$_{{{quantile}}}$")
    rax.set_xlabel(xlabel)
    if logx:
        _log_x(rax)
    # explicit limits: bins without enough entries are NaN and must not empty the axis
    rax.set_xlim(*populated_xlim(edges, measured))
    return fig


def reiqr_definition(model: str, reference: str, quantile: int = 75) -> str:
    """The reIQR panel's definition, e.g. reIQR_75 = 1 − eIQR_75(CNN) / eIQR_75(BDT)."""
    return (f"reIQR$_{{{quantile}}}$ = 1 − eIQR$_{{{quantile}}}$({calib_label(model)}) / "
            f"eIQR$_{{{quantile}}}$({calib_label(reference)})")


#: y-axis label of the σ_rel panel, with its definition.
SIGMA_REL_LABEL = r"$\sigma_{rel}$ = IQR / (2 median)"


def plot_linearity(
    edges: Sequence[float],
    median: Mapping[str, ValueErr],
    sigma_rel: Mapping[str, ValueErr],
    xlabel: str,
    *,
    logx: bool = False,
    simulation: bool = True,
) -> plt.Figure:
    """Linearity, the median of E_calib/E_true per bin (top, 1 dashed), and the relative
    resolution σ_rel = IQR/(2·median) (bottom), one colour per calibration; x range: the
    populated bins."""
    use_style()
    fig, (ax, rax) = plt.subplots(
        2, 1, figsize=(9, 8), sharex=True, gridspec_kw={"height_ratios": (1, 1), "hspace": 0.05}
    )
    measured = [_errorbar_bins(ax, edges, vals, errs, color=calib_color(cal),
                               label=calib_label(cal)) for cal, (vals, errs) in median.items()]
    _mark_unmeasured(ax, edges, measured, populated_only=True)
    ax.axhline(1.0, color="grey", ls="--", lw=0.8)
    ax.set_ylabel(r"median $E_{calib}/E_{true}$")
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ymin, ymax = ax.get_ylim()
    ax.set_ylim(ymin, ymax + 0.6 * (ymax - ymin))
    _legend(ax)
    label(ax, simulation=simulation)
    for cal, (vals, errs) in sigma_rel.items():
        _errorbar_bins(rax, edges, vals, errs, color=calib_color(cal))
    rax.set_ylabel(SIGMA_REL_LABEL, fontsize="small")
    rax.ticklabel_format(axis="y", style="plain", useOffset=False)
    rax.set_ylim(0, rax.get_ylim()[1] * 1.2)
    rax.set_xlabel(xlabel)
    if logx:
        _log_x(rax)
    rax.set_xlim(*populated_xlim(edges, measured))
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
