import numpy as np

from calocoffea import binning


def test_fifteen_pair_categories_and_index_roundtrip():
    cats = binning.eta_pair_categories()
    assert len(cats) == 15
    for k, (i, j) in enumerate(cats):
        assert binning.eta_pair_index(np.array(i), np.array(j)) == k
        assert binning.eta_pair_index(np.array(j), np.array(i)) == k


def test_crack_bin_is_the_crack():
    lo, hi = binning.ABS_ETA_EDGES[binning.CRACK_BIN : binning.CRACK_BIN + 2]
    assert (lo, hi) == (1.37, 1.52)


def test_response_binning_step():
    n, lo, hi = binning.RESPONSE_BINS
    assert np.isclose((hi - lo) / n, 0.0005)
