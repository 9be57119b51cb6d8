"""The numpy fit curves used by the plots equal the zfit model's own bin expectation."""

import numpy as np
import pytest

from calocoffea.channels import CHANNELS
from calocoffea.fitting.curves import expected_counts
from calocoffea.fitting.toys import zee_toy_masses


@pytest.mark.parametrize("model", ["bwcb", "bwcb_bkg", "double_gauss"])
def test_expected_counts_match_zfit_model(model):
    from calocoffea.fitting.fitter import MassFitter

    n, lo, hi = CHANNELS["hgamgam" if model == "double_gauss" else "zee"].mass_bins
    edges = np.linspace(lo, hi, n // 4 + 1)
    rng = np.random.default_rng(7)
    if model == "double_gauss":
        masses = np.r_[rng.normal(125.0, 1.6, 8000), rng.normal(125.0, 3.0, 2000)]
    else:
        masses, _, _ = zee_toy_masses(20_000, [0.0] * 5, [0.015] * 5, seed=3)
        if model == "bwcb_bkg":
            masses = np.r_[masses, rng.normal(88.0, 8.0, 3000)]
    counts, _ = np.histogram(masses, bins=edges)
    fitter = MassFitter(edges, model=model)
    result = fitter.fit(counts.astype(float), label="toy").to_dict()
    assert result["status"] == "ok"
    curve = expected_counts(result, edges, float(counts.sum()))
    reference = counts.sum() * fitter.rel_counts(result["values"])
    np.testing.assert_allclose(curve, reference, rtol=1e-6, atol=1e-6 * counts.max())


def test_failed_fit_has_no_curve():
    assert expected_counts({"status": "failed", "values": {}}, np.linspace(0, 1, 5), 10.0) is None


def test_pearson_chi2_merges_sparse_tail_bins():
    from calocoffea.fitting.result import pearson_chi2

    expected = np.r_[np.full(10, 1e-6), np.full(20, 50.0), np.full(10, 1e-6)]
    observed = expected.copy()
    observed[0] = 1.0  # one stray entry where almost nothing is expected
    chi2, ndf = pearson_chi2(observed, expected, n_params=2)
    assert ndf == 20 - 2  # tails merged into their neighbouring groups
    assert chi2 < 1.0  # plain Pearson would give ~1e6 from the stray entry
