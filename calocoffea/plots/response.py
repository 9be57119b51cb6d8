"""E_calib / E_true distributions per calibration."""

from __future__ import annotations

from collections.abc import Mapping

import hist
import matplotlib.pyplot as plt
import numpy as np

from calocoffea.plots.style import calib_color, calib_label, label, use_style


def plot_response(
    hists: Mapping[str, hist.Hist],
    eiqr75: Mapping[str, float] | None = None,
    title: str = "",
    xlim: tuple[float, float] = (0.85, 1.15),
) -> plt.Figure:
    """Normalised E_calib/E_true histograms (1-D, one per calibration), with eIQR75 in legend."""
    use_style()
    eiqr75 = eiqr75 or {}
    fig, ax = plt.subplots(figsize=(9, 7))
    for cal, h in hists.items():
        values = h.values()
        total = values.sum()
        if total <= 0:
            continue
        edges = h.axes[0].edges
        density = values / total / np.diff(edges)
        text = calib_label(cal)
        if cal in eiqr75:
            text += f" (eIQR$_{{75}}$ = {eiqr75[cal]:.4f})"
        ax.stairs(density, edges, color=calib_color(cal), lw=1.6, label=text)
    ax.set_xlim(*xlim)
    ax.set_xlabel(r"$E_{calib}/E_{true}$")
    ax.set_ylabel("Normalised entries / bin width")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
    ax.legend(loc="upper right", fontsize="small", title=title or None)
    label(ax)
    return fig
