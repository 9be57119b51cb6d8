"""eIQR metric and the median-response reference correction."""

from __future__ import annotations

import numpy as np
import pytest

from calocoffea.bdt.evaluation import MedianResponseCorrection, compare, eiqr, margin


def test_eiqr_is_sigma_for_a_gaussian():
    r = np.random.default_rng(1).normal(1.0, 0.03, 400_000)
    assert eiqr(r, 75) == pytest.approx(0.03, rel=0.01)
    assert eiqr(r, 95) == pytest.approx(0.03, rel=0.01)
    assert np.isnan(eiqr(np.array([])))
    with pytest.raises(ValueError, match="75 or 95"):
        eiqr(r, 90)


def test_median_correction_removes_binned_scale():
    rng = np.random.default_rng(2)
    n = 60_000
    eta = rng.uniform(-2.4, 2.4, n)
    e_true = np.exp(rng.uniform(np.log(10), np.log(800), n))
    scale = 0.9 + 0.04 * np.abs(eta)  # response depends on |eta| only
    e_acc = e_true * scale * rng.normal(1.0, 0.02, n)
    corr = MedianResponseCorrection.fit(e_acc, eta, e_true)
    resp = corr.energy(e_acc, eta) / e_true
    assert abs(np.median(resp) - 1.0) < 2e-3
    # the correction must shrink the spread caused by the |eta| dependence
    assert eiqr(resp) < 0.6 * eiqr(e_acc / e_true)
    # outside the binning range: nearest bin, never NaN
    out = corr.energy(np.array([1.0, 5000.0]), np.array([0.1, 2.6]))
    assert np.all(np.isfinite(out))


def test_empty_bins_fall_back_to_eta_median():
    eta = np.full(100, 0.35)
    e_true = np.full(100, 50.0)
    e_acc = e_true * 0.95
    corr = MedianResponseCorrection.fit(e_acc, eta, e_true, min_count=30)
    assert np.all(np.isfinite(corr.median))
    # the other |eta| rows have no objects and use the global median
    assert corr.median[10, 0] == pytest.approx(0.95)


def test_compare_regions_and_margin():
    rng = np.random.default_rng(3)
    eta = rng.uniform(-2.47, 2.47, 20_000)
    e_true = np.full(eta.size, 100.0)
    res = compare(
        e_true,
        eta,
        {
            "good": e_true * rng.normal(1, 0.01, eta.size),
            "bad": e_true * rng.normal(1, 0.03, eta.size),
        },
    )
    assert res["good"]["all"]["n"] == 20_000
    assert sum(r["n"] for r in res["good"]["regions"]) == 20_000
    assert margin(res["good"]["all"]["eIQR75"], res["bad"]["all"]["eIQR75"]) == pytest.approx(
        2 / 3, abs=0.03
    )
