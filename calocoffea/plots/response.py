"""E_calib / E_true distributions per calibration, binned for the sample size.

The response histograms are booked with fine bins (:data:`calocoffea.binning.RESPONSE_BINS`,
0.0005); drawn as booked, a demo-size sample is noise. :func:`response_rebin_factor` merges
bins to the Freedman–Diaconis width 2·IQR·N^(−1/3) of the narrowest calibration (a divisor of
the bin count, so the bins stay aligned), and the x range follows the populated central part.
"""

from __future__ import annotations

from collections.abc import Mapping

import hist
import matplotlib.pyplot as plt
import numpy as np

from calocoffea.metrics import hist_quantiles
from calocoffea.plots.style import calib_color, calib_label, label, use_style

#: Quantiles of the pooled entries that set the x range, and the margin added on each side
#: (fraction of that range).
XLIM_QUANTILES: tuple[float, float] = (0.005, 0.995)
XLIM_MARGIN = 0.25


def response_rebin_factor(hists: Mapping[str, hist.Hist]) -> int:
    """Number of booked bins to merge: the Freedman–Diaconis width 2·IQR/N^(1/3) of the
    narrowest calibration over the booked bin width, rounded down to a divisor of the number
    of bins (1 = keep the booked bins)."""
    widths = []
    n_bins, booked = None, None
    for h in hists.values():
        values, edges = h.values(), h.axes[0].edges
        n = float(values.sum())
        if n <= 1:
            continue
        q25, q75 = hist_quantiles(values, edges, [0.25, 0.75])
        if np.isfinite(q25) and np.isfinite(q75) and q75 > q25:
            widths.append(2.0 * (q75 - q25) / np.cbrt(n))
        n_bins, booked = values.size, float(np.diff(edges)[0])
    if not widths or n_bins is None:
        return 1
    target = max(1, int(min(widths) / booked))
    return max(k for k in range(1, target + 1) if n_bins % k == 0)


def _xlim(hists: Mapping[str, hist.Hist]) -> tuple[float, float]:
    pooled, edges = None, None
    for h in hists.values():
        pooled = h.values() if pooled is None else pooled + h.values()
        edges = h.axes[0].edges
    if pooled is None or pooled.sum() <= 0:
        return 0.85, 1.15
    lo, hi = hist_quantiles(pooled, edges, list(XLIM_QUANTILES))
    lo = edges[0] if not np.isfinite(lo) else lo
    hi = edges[-1] if not np.isfinite(hi) else hi
    pad = XLIM_MARGIN * (hi - lo)
    return float(max(edges[0], lo - pad)), float(min(edges[-1], hi + pad))


def plot_response(
    hists: Mapping[str, hist.Hist],
    eiqr75: Mapping[str, float] | None = None,
    title: str = "",
    xlim: tuple[float, float] | None = None,
) -> plt.Figure:
    """Normalised E_calib/E_true histograms (1-D, one per calibration, same binning), with
    eIQR75 in the legend; bins merged by :func:`response_rebin_factor`; ``xlim`` default:
    the central :data:`XLIM_QUANTILES` of all entries plus a margin."""
    use_style()
    eiqr75 = eiqr75 or {}
    factor = response_rebin_factor(hists)
    fig, ax = plt.subplots(figsize=(9, 7))
    width = None
    for cal, h in hists.items():
        values = h.values()
        total = values.sum()
        if total <= 0:
            continue
        edges = h.axes[0].edges
        values, edges = values.reshape(-1, factor).sum(axis=1), edges[::factor]
        width = float(np.diff(edges)[0])
        density = values / total / np.diff(edges)
        text = calib_label(cal)
        if eiqr75.get(cal) is not None:
            text += f" (eIQR$_{{75}}$ = {eiqr75[cal]:.4f})"
        ax.stairs(density, edges, color=calib_color(cal), lw=1.6, label=text)
    ax.set_xlim(*(xlim or _xlim(hists)))
    ax.set_xlabel(r"$E_{calib}/E_{true}$")
    ax.set_ylabel("Normalised entries / bin width"
                  + (f" (bins of {width:.4g})" if width is not None else ""))
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
    ax.legend(loc="upper right", fontsize="small", title=title or None)
    label(ax)
    return fig
