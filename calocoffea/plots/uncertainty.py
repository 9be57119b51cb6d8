"""Coverage plots of the per-object energy uncertainty: pull width (IQR/1.349), 68 % and 95 %
coverage per |η|, E_T or ⟨μ⟩ bin for every calibration, with the target bands
(:mod:`calocoffea.uncertainty`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from calocoffea.plots.style import calib_color, calib_label, label, not_measured, use_style
from calocoffea.uncertainty import COVERAGE, COVERAGE_TOLERANCE, MIN_OBJECTS, PULL_WIDTH_TARGET

#: x-axis label per pull-summary axis.
AXIS_LABEL = {"abseta": r"$|\eta|$", "et": r"$E_T^{true}$ [GeV]", "mu": r"$\langle\mu\rangle$",
              "et_reco": r"$E_T^{calib}$ [GeV]"}


def plot_coverage(entry: Mapping[str, Mapping[str, Any]], axis: str, *,
                  particle: str = "", simulation: bool = True):
    """Three panels (pull width, coverage68, coverage95) versus the bins of ``axis`` for
    every calibration of ``entry`` ({calibration: pull-summary entry}, i.e.
    :func:`calocoffea.uncertainty.pull_summary` ``[particle]``). Bins with fewer than
    :data:`~calocoffea.uncertainty.MIN_OBJECTS` objects are drawn open."""
    use_style()
    fig, axes = plt.subplots(3, 1, figsize=(7, 8), sharex=True,
                             gridspec_kw={"hspace": 0.08})
    targets = [("pull_width", *PULL_WIDTH_TARGET, "pull IQR/1.349"),
               *[(k, frac, COVERAGE_TOLERANCE, f"frac. |pull|<{b:g}")
                 for k, (b, frac) in COVERAGE.items()]]
    drawn = False
    span: list[float] = []
    for ax, (key, target, tol, ylabel) in zip(axes, targets, strict=True):
        ax.axhspan(target - tol, target + tol, color="0.85", zorder=0)
        ax.axhline(target, color="0.4", lw=1, zorder=1)
        ax.set_ylabel(ylabel)
        for cal, e in entry.items():
            rows = e.get("bins", {}).get(axis) or []
            if not rows:
                continue
            lo = np.array([r["lo"] for r in rows])
            hi = np.array([r["hi"] for r in rows])
            y = np.array([np.nan if r.get(key) is None else r[key] for r in rows], float)
            n = np.array([r.get("n_effective", r["n"]) for r in rows])
            c = 0.5 * (lo + hi)
            big = n >= MIN_OBJECTS
            color = calib_color(cal)
            ax.errorbar(c[big], y[big], xerr=0.5 * (hi - lo)[big], fmt="o", ms=4,
                        color=color, label=calib_label(cal))
            ax.errorbar(c[~big], y[~big], xerr=0.5 * (hi - lo)[~big], fmt="o", ms=4,
                        mfc="none", color=color)
            drawn = drawn or bool(np.isfinite(y).any())
            filled = n > 0
            if filled.any():
                span += [float(lo[filled].min()), float(hi[filled].max())]
    if not drawn:
        not_measured(axes[0])
    if axis in ("et", "et_reco"):
        axes[-1].set_xscale("log")
    if span:  # populated range only
        axes[-1].set_xlim(min(span), max(span))
    fig.align_ylabels(axes)
    axes[-1].set_xlabel(AXIS_LABEL.get(axis, axis))
    axes[0].legend(loc="upper right", fontsize="small", title=particle or None)
    label(axes[0], simulation=simulation,
          rlabel=f"open: < {MIN_OBJECTS} objects; band: target")
    return fig
