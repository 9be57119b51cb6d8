"""σ_m/m categories: equal-population terciles, and the significance gain of categorising."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from calocoffea.categories import (
    SIGMA_M_EDGES,
    sigma_m_over_m,
    significance_gain,
    significance_gain_error,
    tercile_edges,
)

EDGES = np.linspace(105.0, 145.0, 401)


def test_sigma_m_over_m_of_two_objects():
    np.testing.assert_allclose(sigma_m_over_m(np.array([0.02]), np.array([0.0])), [0.01])
    np.testing.assert_allclose(sigma_m_over_m(np.array([0.03]), np.array([0.04])), [0.025])


def test_terciles_have_equal_population():
    rng = np.random.default_rng(0)
    x = rng.lognormal(np.log(0.012), 0.4, 100_000)
    edges = np.asarray(SIGMA_M_EDGES)
    counts = np.histogram(x, edges)[0]
    idx = tercile_edges(counts)
    assert idx[0] == 0 and idx[-1] == len(edges) - 1
    frac = [counts[a:b].sum() / counts.sum() for a, b in itertools.pairwise(idx)]
    # snapped to the 200-bin log axis (2 % bins, each < 2 % of this population): within two
    # half-bins of 1/3
    assert all(abs(f - 1 / 3) < 0.02 for f in frac), frac
    with pytest.raises(ValueError, match="no events"):
        tercile_edges(np.zeros(50))


def test_gain_from_categories_of_different_widths():
    rng = np.random.default_rng(1)
    widths = (1.0, 1.6, 3.0)
    cats = np.stack([np.histogram(rng.normal(125.0, w, 40_000), EDGES)[0] for w in widths])
    gain = significance_gain(cats, EDGES, slope=0.0)
    # flat background, Gaussian categories: gain² = Σ f_k σ_eff / σ_k
    from calocoffea.metrics import sigma_eff_from_hist

    sig_incl = sigma_eff_from_hist(cats.sum(axis=0), EDGES)
    expected = np.sqrt(np.mean([sig_incl / w for w in widths]))
    assert gain == pytest.approx(expected, rel=0.01)
    assert gain > 1.05
    # identical categories: nothing to gain
    same = np.stack([np.histogram(rng.normal(125.0, 1.6, 40_000), EDGES)[0] for _ in widths])
    assert significance_gain(same, EDGES) == pytest.approx(1.0, abs=0.01)
    err = significance_gain_error(cats, EDGES, n_boot=30)
    assert 0 < err < 0.02
