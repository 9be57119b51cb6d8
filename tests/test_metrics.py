import subprocess
import sys

import numpy as np
import pytest

from calocoffea import binning, metrics


def _default_edges():
    n, lo, hi = binning.RESPONSE_BINS
    return np.linspace(lo, hi, n + 1)


@pytest.mark.parametrize("kind", ["gauss", "skewed"])
def test_eiqr_hist_matches_numpy_at_default_binning(kind):
    rng = np.random.default_rng(42)
    if kind == "gauss":
        x = rng.normal(1.0, 0.03, 300_000)
    else:  # low tail like a calorimeter response
        x = np.where(
            rng.random(300_000) < 0.8,
            rng.normal(1.0, 0.02, 300_000),
            1.0 - rng.exponential(0.06, 300_000),
        )
    edges = _default_edges()
    counts, _ = np.histogram(x, edges)
    for q in (75.0, 95.0):
        ref = metrics.eiqr(x, q)
        got = metrics.eiqr_from_hist(counts, edges, q)
        assert abs(got / ref - 1) < 0.005


def test_eiqr_of_gaussian_is_sigma():
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 2.0, 400_000)
    assert metrics.eiqr(x, 75) == pytest.approx(2.0, rel=0.01)
    assert metrics.eiqr(x, 95) == pytest.approx(2.0, rel=0.01)


def test_weighted_eiqr_equals_repeated_values():
    rng = np.random.default_rng(3)
    x = rng.normal(1.0, 0.05, 2000)
    w = rng.integers(1, 4, x.size)
    assert metrics.eiqr(x, weights=w) == pytest.approx(metrics.eiqr(np.repeat(x, w)), rel=0.02)


def test_eiqr_error_matches_toy_spread():
    rng = np.random.default_rng(7)
    edges = _default_edges()
    vals, errs = [], []
    for _ in range(40):
        counts, _ = np.histogram(rng.normal(1.0, 0.03, 5000), edges)
        vals.append(metrics.eiqr_from_hist(counts, edges))
        errs.append(metrics.eiqr_error_from_hist(counts, edges))
    assert np.std(vals) == pytest.approx(np.mean(errs), rel=0.35)


@pytest.mark.parametrize("kind", ["gauss", "skewed"])
def test_unbinned_eiqr_error_matches_toy_spread(kind):
    """The unbinned error against the spread of 200 replicas (its own 5 % statistical error)."""
    rng = np.random.default_rng(11)
    vals, errs = [], []
    for _ in range(200):
        if kind == "gauss":
            x = rng.normal(1.0, 0.03, 4000)
        else:
            x = np.where(rng.random(4000) < 0.8, rng.normal(1.0, 0.02, 4000),
                         1.0 - rng.exponential(0.06, 4000))
        vals.append(metrics.eiqr(x))
        errs.append(metrics.eiqr_error(x))
    assert np.std(vals, ddof=1) == pytest.approx(np.mean(errs), rel=0.15)
    assert np.isnan(metrics.eiqr_error(x[: metrics.MIN_ASYMPTOTIC_ENTRIES - 1]))


def test_reiqr_and_error():
    assert metrics.reiqr(0.75, 1.0) == pytest.approx(0.25)
    err = metrics.reiqr_error(0.75, 0.0075, 1.0, 0.01)
    assert err == pytest.approx(0.75 * np.hypot(0.01, 0.01))


def test_hist_quantiles_edge_cases():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    q = metrics.hist_quantiles(np.array([0.0, 4.0, 0.0]), edges, [0.25, 0.5, 0.75])
    assert np.allclose(q, [1.25, 1.5, 1.75])  # uniform inside the only filled bin
    assert np.all(np.isnan(metrics.hist_quantiles(np.zeros(3), edges, [0.5])))
    with pytest.raises(ValueError, match="do not match"):
        metrics.hist_quantiles(np.ones(4), edges, [0.5])
    with pytest.raises(ValueError, match="percentile"):
        metrics.eiqr_from_hist(np.ones(3), edges, q=40)


def test_metrics_does_not_import_tensorflow():
    code = (
        "import sys, calocoffea.metrics; "
        "bad = [m for m in ('zfit', 'tensorflow') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_sigma68_median_and_iqr_errors_match_toy_spread():
    rng = np.random.default_rng(8)
    edges = _default_edges()
    rows = []
    for _ in range(60):
        counts, _ = np.histogram(rng.normal(1.0, 0.03, 5000), edges)
        rows.append((metrics.sigma68_from_hist(counts, edges),
                     metrics.sigma68_error_from_hist(counts, edges),
                     metrics.hist_quantiles(counts, edges, [0.5])[0],
                     metrics.quantile_error_from_hist(counts, edges, 0.5),
                     np.subtract(*metrics.hist_quantiles(counts, edges, [0.75, 0.25])),
                     metrics.iqr_error_from_hist(counts, edges)))
    s68, e68, med, emed, iqr, eiqr = np.array(rows).T
    assert np.mean(s68) == pytest.approx(0.03, rel=0.02)
    # asymptotic errors: sigma/sqrt(N) * 1.25 for the median, ~0.71 sigma/sqrt(N) for sigma68
    assert np.mean(emed) == pytest.approx(1.2533 * 0.03 / np.sqrt(5000), rel=0.15)
    for values, errors in ((s68, e68), (med, emed), (iqr, eiqr)):
        assert np.std(values) == pytest.approx(np.mean(errors), rel=0.35)
    assert np.isnan(metrics.quantile_error_from_hist(np.zeros(2000), edges, 0.5))


def test_quantile_errors_are_stable_for_a_few_hundred_objects():
    """The density of the error formula comes from a quantile difference (Hall-Sheather
    bandwidth), not from the one 0.0005-wide bin holding the quantile: for 500 objects
    the estimated error scatters by well under 20 % from toy to toy (the one-bin density
    scattered by ~50 %) and its mean matches the toy spread of the value."""
    rng = np.random.default_rng(21)
    edges = _default_edges()
    vals, errs = [], []
    for _ in range(200):
        n = 500
        x = np.where(rng.random(n) < 0.8, rng.normal(1.0, 0.02, n), rng.normal(0.97, 0.06, n))
        counts, _ = np.histogram(x, edges)
        vals.append(metrics.eiqr_from_hist(counts, edges))
        errs.append(metrics.eiqr_error_from_hist(counts, edges))
    errs = np.asarray(errs)
    assert np.mean(errs) == pytest.approx(np.std(vals), rel=0.15)
    assert np.std(errs) / np.mean(errs) < 0.2


def test_errors_use_effective_entries_and_need_enough_of_them():
    rng = np.random.default_rng(22)
    edges = _default_edges()
    counts = np.histogram(rng.normal(1.0, 0.03, 5000), edges)[0].astype(float)
    ref = metrics.eiqr_error_from_hist(counts, edges)
    # xsec x lumi scaling by 0.01: the same 5000 effective entries with the variances
    assert metrics.eiqr_error_from_hist(0.01 * counts, edges, variances=1e-4 * counts) == (
        pytest.approx(ref, rel=1e-12))
    assert metrics.quantile_error_from_hist(0.01 * counts, edges, 0.5, 1e-4 * counts) == (
        pytest.approx(metrics.quantile_error_from_hist(counts, edges, 0.5), rel=1e-12))
    # weights of 2 for half the objects: fewer effective entries, a larger error
    n_eff = metrics.effective_entries(2.0 * counts, 4.0 * counts)
    assert n_eff == pytest.approx(5000.0)
    mixed = counts.copy()
    mixed[: mixed.size // 2 + 20] *= 3.0  # the left half weighted 3
    var = np.where(np.arange(mixed.size) < mixed.size // 2 + 20, 3.0, 1.0) * mixed
    assert metrics.effective_entries(mixed, var) < mixed.sum()
    # too few objects for an asymptotic error: NaN, never a number
    few = np.histogram(rng.normal(1.0, 0.03, 4), edges)[0]
    assert np.isnan(metrics.eiqr_error_from_hist(few, edges))
    assert np.isnan(metrics.quantile_error_from_hist(few, edges, 0.5))
    assert np.isfinite(metrics.eiqr_from_hist(few, edges))  # the value itself is given


def test_sigma_eff_bootstrap_of_scaled_weights_equals_the_unweighted_one():
    rng = np.random.default_rng(23)
    edges = np.linspace(110.0, 140.0, 121)
    counts = np.histogram(rng.normal(125.0, 1.6, 20_000), edges)[0].astype(float)
    counts = np.r_[0.0, counts, 0.0]
    ref = metrics.sigma_eff_error_from_hist(counts, edges, n_boot=100, seed=1)
    scaled = metrics.sigma_eff_error_from_hist(1e-3 * counts, edges, n_boot=100, seed=1,
                                               variances=1e-6 * counts)
    assert scaled == pytest.approx(ref, rel=1e-9)
    assert 0.005 < ref < 0.03  # ~1.6/sqrt(2 * 20000) GeV
