"""Weighted mass fits (issue 21): a histogram filled with weights is fitted in effective
entries, so its errors, χ² and entries are those of the equivalent unweighted sample.

Before, a Z peak filled with weight 0.5 was fitted as if it had half the events with the
same shape: Hesse errors √2 too large and χ²/ndf halved (a bad fit accepted at 0.48)."""

from __future__ import annotations

import numpy as np
import pytest

from calocoffea import binning
from calocoffea.fitting import toys
from calocoffea.histograms import book_mass

pytest.importorskip("zfit")
from calocoffea.fitting import pipeline
from calocoffea.fitting.fitter import MassFitter, effective_factor

PAIRS = binning.eta_pair_categories()


@pytest.fixture(scope="module")
def fitter() -> MassFitter:
    return MassFitter(book_mass("zee", len(PAIRS)).axes["mass"].edges, model="bwcb")


def _peak(n: int, seed: int, edges: np.ndarray, two_peaks: bool = False) -> np.ndarray:
    mass, _, _ = toys.zee_toy_masses(n, np.zeros(5), np.full(5, 0.02), seed=seed)
    if two_peaks:  # a shape BW⊗CB cannot describe: a second peak 5 % higher
        second, _, _ = toys.zee_toy_masses(n // 2, np.full(5, 0.05), np.full(5, 0.01),
                                           seed=seed + 1)
        mass = np.concatenate([mass, second])
    return np.histogram(mass, edges)[0].astype(float)


def test_effective_factor():
    assert effective_factor(np.array([2.0, 3.0]), np.array([2.0, 3.0])) == (1.0, 5.0)
    f, n = effective_factor(np.array([1.0, 1.0]), np.array([0.5, 0.5]))  # w = 0.5
    assert (f, n) == (2.0, 4.0)
    assert np.isnan(effective_factor(np.array([-1.0]), np.array([1.0]))[0])


@pytest.mark.parametrize("w", [0.5, 3.0])
def test_uniform_weight_fit_equals_the_unweighted_fit(fitter, w):
    counts = _peak(20_000, 11, fitter.edges)
    ref = fitter.fit(counts, label="w1", variances=counts)
    res = fitter.fit(w * counts, label=f"w{w}", variances=w * w * counts)
    assert ref.accepted and res.accepted, (ref.reason, res.reason)
    assert res.n_entries == pytest.approx(w * counts.sum())
    assert res.n_effective == pytest.approx(counts.sum())
    assert res.chi2_ndf == pytest.approx(ref.chi2_ndf, rel=1e-3)
    for p in ("mu", "sigma"):
        assert res.value(p) == pytest.approx(ref.value(p), abs=1e-3 * ref.error(p) + 1e-6)
        assert res.error(p) == pytest.approx(ref.error(p), rel=0.01)


def test_weight_half_does_not_hide_a_bad_fit(fitter):
    """The χ² of a two-peak histogram filled with weight 0.5 is that of the unweighted one
    (rejected), not half of it; without variances (the old behaviour) it is halved."""
    counts = _peak(40_000, 21, fitter.edges, two_peaks=True)
    ref = fitter.fit(counts, label="bad", variances=counts)
    half = fitter.fit(0.5 * counts, label="bad/2", variances=0.25 * counts)
    old = fitter.fit(0.5 * counts, label="bad/2 no variances")
    assert ref.chi2_ndf > 3.0 and not ref.accepted
    assert half.chi2_ndf == pytest.approx(ref.chi2_ndf, rel=1e-3)
    assert not half.accepted and "chi2/ndf" in half.reason
    assert old.chi2_ndf == pytest.approx(0.5 * ref.chi2_ndf, rel=0.05)


def test_pipeline_passes_the_variances(fitter):
    """fit_mass reads the Weight storage: per-event weights 0.5 and 1.5 give
    n_effective = (Σw)²/Σw² = 0.8 N and errors 1/√0.8 of the unit-weight fit (N: the
    events in the mass range)."""
    n = 20_000
    mass, _, _ = toys.zee_toy_masses(n, np.zeros(5), np.full(5, 0.02), seed=31)
    w = np.where(np.arange(n) % 2 == 0, 0.5, 1.5)
    hw, h1 = book_mass("zee", len(PAIRS)), book_mass("zee", len(PAIRS))
    for h, weight in ((hw, w), (h1, np.ones(n))):
        h.fill(calibration="bdt", etacat=np.zeros(n, int), mu=np.full(n, 30.0), mass=mass,
               weight=weight)
    out_w = pipeline.fit_mass(hw, "zee", fitter=fitter, do_eta_shift=False)
    out_1 = pipeline.fit_mass(h1, "zee", fitter=fitter, do_eta_shift=False)
    rw, r1 = out_w["inclusive"]["bdt"], out_1["inclusive"]["bdt"]
    # (the events inside the mass range: the BW tails leave it)
    n_in = r1["n_entries"]
    assert 0.7 * n < n_in < n and r1["n_effective"] == pytest.approx(n_in)
    assert rw["n_entries"] == pytest.approx(n_in, rel=0.01)
    assert rw["n_effective"] == pytest.approx(0.8 * n_in, rel=0.01)
    assert rw["errors"]["sigma"] / r1["errors"]["sigma"] == pytest.approx(0.8**-0.5, rel=0.1)
    assert out_w["fits"]["bdt"][0]["n_effective"] == pytest.approx(rw["n_effective"])
