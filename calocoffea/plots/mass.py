"""Invariant-mass peaks per calibration with the fitted curves and one pull panel each.

The reconstructed calibrations share the main panel; the true-energy peak, several times
narrower and higher, gets its own panel below (:data:`SEPARATE_PANEL`), so that it does not
set the main panel's y-range. Below them one pull panel per calibration,
(data − model)/σ_data per bin, drawn where the calibration has an accepted fit curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import hist
import matplotlib.pyplot as plt
import numpy as np

from calocoffea.channels import CHANNELS
from calocoffea.plots.style import calib_color, calib_label, label, not_measured, use_style

#: Calibrations drawn in a panel of their own (the true energy: narrow, high peak).
SEPARATE_PANEL: tuple[str, ...] = ("truth",)
#: Mass symbol per channel for the x axis.
MASS_SYMBOL: dict[str, str] = {
    "zee": "m_{ee}", "zmumugamma": r"m_{\mu\mu\gamma}", "hgamgam": r"m_{\gamma\gamma}"
}
#: Height ratios of the main panel, a separate (truth) panel and one pull panel.
_HEIGHTS = {"main": 3.0, "separate": 1.6, "pull": 0.75}


def _draw_peak(ax, h: hist.Hist, cal: str, curve, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Data points (and the model curve) of one calibration; returns (values, errors)."""
    centers = h.axes[0].centers
    values = h.values()
    variances = h.variances() if h.variances() is not None else values
    err = np.sqrt(np.maximum(variances, 0))
    color = calib_color(cal)
    ax.errorbar(centers, values, yerr=err, fmt="o", ms=2.5, color=color, label=text,
                elinewidth=0.8)
    if curve is not None:
        ax.plot(centers, np.asarray(curve, dtype=float), color=color, lw=1.8, zorder=5)
    return values, err


def _draw_pulls(rax, h: hist.Hist, cal: str, data: tuple[np.ndarray, np.ndarray], curve
                ) -> None:
    values, err = data
    edges = h.axes[0].edges
    rax.axhline(0, color="k", lw=0.8)
    for y in (-2, 2):
        rax.axhline(y, color="grey", ls=":", lw=0.8)
    rax.set_ylim(-4.9, 4.9)
    rax.set_ylabel("Pull", fontsize="small")
    rax.text(0.01, 0.93, calib_label(cal), transform=rax.transAxes, ha="left", va="top",
             fontsize="x-small", color=calib_color(cal))
    if curve is None:
        not_measured(rax, text="no accepted fit", fontsize="x-small")
        return
    model = np.asarray(curve, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        pull = np.where(err > 0, (values - model) / err, 0.0)
    rax.step(edges, np.r_[pull, pull[-1]], where="post", color=calib_color(cal), lw=1.2)


def plot_mass_peaks(
    hists: Mapping[str, hist.Hist],
    curves: Mapping[str, np.ndarray] | None = None,
    fit_text: Mapping[str, str] | None = None,
    channel: str = "zee",
    simulation: bool = True,
    *,
    separate: Sequence[str] = SEPARATE_PANEL,
) -> plt.Figure:
    """1-D mass histograms (GeV) of several calibrations, the fitted curves and pulls.

    ``curves[cal]`` are the fitted model's expected counts per bin (same binning as the
    histogram); they are drawn on the data and give the calibration's pull panel
    (data − model)/sqrt(variance). ``fit_text[cal]`` is appended to the legend entry (e.g.
    ``σ_CB = 1.85 ± 0.02 GeV``, or ``fit not accepted: <reason>``). Calibrations in
    ``separate`` get their own panel below the main one. Axes are labelled (``get_label()``)
    ``mass``, ``mass_<cal>`` for a separate panel and ``pull_<cal>``. Without any histogram
    the figure says "no mass histogram" instead of failing.
    """
    use_style()
    curves = curves or {}
    fit_text = fit_text or {}
    main = [c for c in hists if c not in separate]
    own = [c for c in hists if c in separate]
    pulls = list(hists) or [""]
    kinds = ["main"] + ["separate"] * len(own) + ["pull"] * len(pulls)
    ratios = [_HEIGHTS[k] for k in kinds]
    fig, axes = plt.subplots(
        len(kinds), 1, figsize=(9, 2.0 + 1.9 * sum(ratios)), sharex=True,
        gridspec_kw={"height_ratios": ratios, "hspace": 0.06},
    )
    axes = np.atleast_1d(axes)
    ax = axes[0]
    ax.set_label("mass")
    panels = {cal: ax for cal in main}
    for k, cal in enumerate(own):
        panels[cal] = axes[1 + k]
        panels[cal].set_label(f"mass_{cal}")
    drawn = {}
    for cal, h in hists.items():
        text = calib_label(cal) + (f", {fit_text[cal]}" if cal in fit_text else "")
        drawn[cal] = _draw_peak(panels[cal], h, cal, curves.get(cal), text)
    if hists:
        width = np.diff(next(iter(hists.values())).axes[0].edges)[0]
        ylabel = f"Events / {width:.2g} GeV"
    else:
        ylabel = "Events"
        not_measured(ax, text="no mass histogram")
    for a in [ax, *(panels[c] for c in own)]:
        a.set_ylabel(ylabel, fontsize="small" if a is not ax else None)
        top = a.get_ylim()[1]
        a.set_ylim(0, top * (1.35 if a is ax else 1.5))
        if a is not ax and a.get_legend_handles_labels()[0]:
            a.legend(loc="upper right", fontsize="x-small")
    if not main and hists:
        not_measured(ax, text="no reconstructed calibration")
    title = CHANNELS[channel].tex if channel in CHANNELS else channel
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize="small", title=title)
    label(ax, simulation=simulation)
    pull_axes = axes[1 + len(own):]
    for rax, cal in zip(pull_axes, pulls, strict=True):
        rax.set_label(f"pull_{cal}" if cal else "pull")
        if cal:
            _draw_pulls(rax, hists[cal], cal, drawn[cal], curves.get(cal))
        else:
            rax.set_ylim(-4.9, 4.9)
            rax.set_ylabel("Pull")
    pull_axes[-1].set_xlabel(f"${MASS_SYMBOL.get(channel, 'm')}$ [GeV]")
    return fig
