"""Invariant-mass peaks per calibration with the fitted curves and a pull panel."""

from __future__ import annotations

from collections.abc import Mapping

import hist
import matplotlib.pyplot as plt
import numpy as np

from calocoffea.channels import CHANNELS
from calocoffea.plots.style import calib_color, calib_label, label, not_measured, use_style


def plot_mass_peaks(
    hists: Mapping[str, hist.Hist],
    curves: Mapping[str, np.ndarray] | None = None,
    fit_text: Mapping[str, str] | None = None,
    channel: str = "zee",
    simulation: bool = True,
) -> plt.Figure:
    """Overlay 1-D mass histograms (GeV) of several calibrations.

    ``curves[cal]`` are the fitted model's expected counts per bin (same binning as the
    histogram); when given they are drawn on top of the data and used for the pulls
    (data − model)/sqrt(variance). ``fit_text[cal]`` is appended to the legend entry
    (e.g. ``σ_CB = 1.85 ± 0.02 GeV``, or ``fit not accepted: <reason>``). Without any
    histogram the figure says "no mass histogram" instead of failing.
    """
    use_style()
    curves = curves or {}
    fit_text = fit_text or {}
    fig, (ax, rax) = plt.subplots(
        2, 1, figsize=(9, 8), sharex=True, gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05}
    )
    for cal, h in hists.items():
        edges = h.axes[0].edges
        centers = h.axes[0].centers
        values = h.values()
        variances = h.variances() if h.variances() is not None else values
        err = np.sqrt(np.maximum(variances, 0))
        color = calib_color(cal)
        text = calib_label(cal) + (f", {fit_text[cal]}" if cal in fit_text else "")
        ax.errorbar(centers, values, yerr=err, fmt="o", ms=2.5, color=color, label=text,
                    elinewidth=0.8)
        if cal in curves:
            model = np.asarray(curves[cal], dtype=float)
            ax.plot(centers, model, color=color, lw=1.8, zorder=5)
            with np.errstate(divide="ignore", invalid="ignore"):
                pull = np.where(err > 0, (values - model) / err, 0.0)
            rax.step(edges, np.r_[pull, pull[-1]], where="post", color=color, lw=1.2)
    if hists:
        width = np.diff(next(iter(hists.values())).axes[0].edges)[0]
        ax.set_ylabel(f"Events / {width:.2g} GeV")
    else:
        ax.set_ylabel("Events")
        not_measured(ax, text="no mass histogram")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.35)
    title = CHANNELS[channel].tex if channel in CHANNELS else channel
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize="small", title=title)
    label(ax, simulation=simulation)
    rax.axhline(0, color="k", lw=0.8)
    for y in (-2, 2):
        rax.axhline(y, color="grey", ls=":", lw=0.8)
    rax.set_ylim(-4.9, 4.9)
    rax.set_ylabel("Pull")
    mass_symbol = {
        "zee": "m_{ee}", "zmumugamma": r"m_{\mu\mu\gamma}", "hgamgam": r"m_{\gamma\gamma}"
    }
    rax.set_xlabel(f"${mass_symbol.get(channel, 'm')}$ [GeV]")
    return fig
