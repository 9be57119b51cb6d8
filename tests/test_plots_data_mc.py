"""Data-vs-MC figures (issue 21): points over the weighted MC with a ratio panel."""

from __future__ import annotations

import hist
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
from calocoffea.plots import data_mc


def _h(values, weight=1.0, bins=20):
    h = hist.Hist(hist.axis.Regular(bins, 80, 100, name="mass", label="m [GeV]"),
                  storage=hist.storage.Weight())
    h.fill(values, weight=weight)
    return h


def test_data_mc_figure_and_ratio():
    rng = np.random.default_rng(1)
    data, mc = _h(rng.normal(90, 2, 2000)), _h(rng.normal(90, 2, 8000), weight=0.25)
    fig = data_mc.plot_data_mc(data, mc, text="bdt")
    _, rax = fig.axes
    assert rax.get_ylabel() == "Data / MC"
    ratio = rax.containers[0].lines[0].get_ydata()  # the ratio points
    finite = np.isfinite(ratio)
    # MC normalised to the data: the ratio scatters around 1
    assert abs(np.average(ratio[finite], weights=data.values()[finite]) - 1) < 0.05
    with pytest.raises(ValueError, match="binnings"):
        data_mc.plot_data_mc(data, _h([90.0], bins=10))
    with pytest.raises(KeyError, match="mass"):
        data_mc.mass_slice({"cutflow": {}}, "bdt")
