"""Data-vs-MC figures: the data(-like) sample as points over the weighted MC, with a
data/MC ratio panel.

:func:`plot_data_mc` takes two 1-D ``hist`` objects (any quantity: a mass peak, the ⟨μ⟩
profile, a calibration input); :func:`mass_slice` and :func:`pileup_slice` cut them out of
processor outputs (``mass`` and ``pileup`` histograms). The MC is normalised to the data's
sum of weights unless ``normalise=False`` (then it is drawn as filled, e.g. xsec × lumi).
Errors: data √(Σw²) per bin, MC √(Σw²) as a hatched band; the ratio's error bars are the
data's, the band the MC's, both relative to the MC.
"""

from __future__ import annotations

from collections.abc import Mapping

import hist
import matplotlib.pyplot as plt
import numpy as np

from calocoffea.plots.style import label, not_measured, use_style


def _values_errors(h: hist.Hist) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(h.values(), dtype=float)
    var = h.variances()
    var = values if var is None else np.asarray(var, dtype=float)
    return values, np.sqrt(np.clip(var, 0.0, None))


def plot_data_mc(
    data: hist.Hist,
    mc: hist.Hist,
    *,
    xlabel: str | None = None,
    normalise: bool = True,
    mc_label: str = "MC (weighted)",
    data_label: str = "Data-like",
    text: str | None = None,
    ratio_range: tuple[float, float] = (0.8, 1.2),
    rlabel: str | None = None,
) -> plt.Figure:
    """Data points over the MC histogram (same binning, 1-D) and the data/MC ratio panel.
    ValueError when the binnings differ."""
    if len(data.axes) != 1 or len(mc.axes) != 1:
        raise ValueError(f"need 1-D histograms, got {len(data.axes)}-D and {len(mc.axes)}-D")
    edges = data.axes[0].edges
    if not np.array_equal(edges, mc.axes[0].edges):
        raise ValueError("data and MC histograms have different binnings")
    use_style()
    d, de = _values_errors(data)
    m, me = _values_errors(mc)
    scale = d.sum() / m.sum() if normalise and m.sum() > 0 else 1.0
    m, me = m * scale, me * scale
    centers = data.axes[0].centers
    fig, (ax, rax) = plt.subplots(
        2, 1, figsize=(9, 8), sharex=True, gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05}
    )
    if d.sum() <= 0 and m.sum() <= 0:
        not_measured(ax, text="empty histograms")
    ax.stairs(m, edges, fill=True, color="#9ecae1", label=mc_label
              + (f" (× {scale:.3g})" if normalise and scale != 1.0 else ""))
    ax.stairs(m + me, edges, baseline=m - me, fill=False, hatch="///", color="#3182bd", lw=0,
              label="MC stat.")
    ax.errorbar(centers, d, yerr=de, fmt="o", ms=3, color="black", label=data_label,
                elinewidth=0.8)
    ax.set_ylabel("Entries")
    ax.set_ylim(0, max(ax.get_ylim()[1], 1e-9) * 1.35)
    label(ax, simulation=False, rlabel=rlabel)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, loc="upper right", fontsize="small",
              title=text, title_fontsize="small")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(m > 0, d / m, np.nan)
        r_err = np.where(m > 0, de / m, np.nan)
        band = np.where(m > 0, me / m, 0.0)
    rax.stairs(1 + band, edges, baseline=1 - band, fill=True, color="#9ecae1", lw=0)
    rax.errorbar(centers, ratio, yerr=r_err, fmt="o", ms=3, color="black", elinewidth=0.8)
    rax.axhline(1.0, color="grey", lw=0.8, ls="--")
    rax.set_ylim(*ratio_range)
    rax.set_ylabel("Data / MC")
    rax.set_xlabel(xlabel or data.axes[0].label or data.axes[0].name)
    return fig


def mass_slice(output: Mapping, calibration: str, category: int | None = None) -> hist.Hist:
    """1-D mass histogram of ``calibration`` from a processor output, summed over ⟨μ⟩ (flow
    included) and over every |η| category unless ``category`` is given. KeyError naming
    what the output has."""
    h = output.get("mass")
    if not isinstance(h, hist.Hist):
        raise KeyError(f"output has no 'mass' histogram (keys {sorted(output)})")
    cals = list(h.axes["calibration"])
    if calibration not in cals:
        raise KeyError(f"no calibration {calibration!r} in the mass histogram (has {cals})")
    cat = sum if category is None else category
    return h[calibration, cat, sum, :]


def pileup_slice(output: Mapping, row: str = "weighted") -> hist.Hist:
    """1-D ``Pileup_nTrueInt`` histogram of every processed event (row ``raw`` or
    ``weighted``, :data:`calocoffea.weights.PILEUP_ROWS`)."""
    h = output.get("pileup")
    if not isinstance(h, hist.Hist):
        raise KeyError(f"output has no 'pileup' histogram (keys {sorted(output)})")
    return h[row, :]
