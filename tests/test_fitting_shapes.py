import numpy as np
import pytest
from scipy import stats
from scipy.special import erf

from calocoffea.fitting import shapes
from calocoffea.fitting.crosscheck import bwcb_cdf_numeric

EDGES = np.linspace(75.0, 105.0, 301)


@pytest.mark.parametrize(("alpha", "n"), [(1.2, 3.0), (2.5, 20.0), (0.5, 1.5)])
def test_crystal_ball_cdf_matches_scipy(alpha, n):
    t = np.linspace(-15, 8, 500)
    got = shapes.crystal_ball_cdf(np, erf, t, mu=0.3, sigma=1.4, alpha=alpha, n=n)
    ref = stats.crystalball.cdf(t, alpha, n, loc=0.3, scale=1.4)
    assert np.allclose(got, ref, atol=1e-10)


def test_bwcb_bin_probs_match_numerical_convolution():
    grid = shapes.ConvolutionGrid.build(EDGES, subdivisions=4)
    pars = {"mu": 0.4, "sigma": 1.6, "alpha": 1.3, "n": 4.0}
    probs = shapes.normalise(
        np, shapes.bw_cb_bin_probs(np, erf, grid.cell_edges, grid.bw_bin_matrix, **pars)
    )
    ref = np.diff(bwcb_cdf_numeric(EDGES, **pars, step=0.005))
    assert probs.sum() == pytest.approx(1.0)
    assert np.max(np.abs(probs - ref)) < 2e-3 * probs.max()


def test_narrow_cb_reduces_to_breit_wigner():
    grid = shapes.ConvolutionGrid.build(EDGES, subdivisions=4)
    probs = shapes.normalise(
        np,
        shapes.bw_cb_bin_probs(
            np, erf, grid.cell_edges, grid.bw_bin_matrix, mu=0.0, sigma=1e-3, alpha=2.0, n=5.0
        ),
    )
    bw = np.diff(shapes.breit_wigner_cdf(EDGES))
    assert np.allclose(probs, bw / bw.sum(), rtol=1e-3)


def test_grid_rejects_bad_edges():
    with pytest.raises(ValueError, match="increasing"):
        shapes.ConvolutionGrid.build(np.array([1.0, 0.5, 2.0]))
