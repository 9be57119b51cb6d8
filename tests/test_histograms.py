import numpy as np

from calocoffea import binning, histograms
from calocoffea.channels import CHANNELS


def test_response_axes_and_fill():
    h = histograms.book_response()
    names = [ax.name for ax in h.axes]
    assert names == ["calibration", "particle", "abseta", "et", "mu", "response"]
    h.fill(
        calibration="bdt", particle="electron", abseta=[0.3], et=[40.0], mu=[30.0], response=[1.01]
    )
    assert h.sum().value == 1.0
    assert np.isclose(h.axes["response"].widths[0], 0.0005)


def test_mass_categories():
    h = histograms.book_mass("zee", len(binning.eta_pair_categories()))
    assert h.axes["etacat"].size == 15
    assert h.axes["mass"].edges[0] == CHANNELS["zee"].mass_bins[1]
