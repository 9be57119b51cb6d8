"""Acceptance checks of issue 7 on toys with injected per-|η| offsets and smearing."""

import numpy as np
import pytest

from calocoffea import binning
from calocoffea.constants import MZ_GEV
from calocoffea.fitting import toys
from calocoffea.histograms import book_mass

pytest.importorskip("zfit")
from calocoffea.fitting import pipeline

PAIRS = binning.eta_pair_categories()
OFFSETS = np.array([0.004, -0.006, 0.012, -0.010, 0.008])
# realistic electron resolutions at ~45 GeV (crack worst)
RES_SHIFT = np.array([0.015, 0.020, 0.030, 0.020, 0.025])
RES_WIDTH = np.array([0.020, 0.025, 0.040, 0.030, 0.035])


def _hist(n_events, offsets, resolutions, seed):
    h = book_mass("zee", len(PAIRS))
    mass, cat, _ = toys.zee_toy_masses(n_events, offsets, resolutions, seed)
    h.fill(calibration="bdt", etacat=cat, mu=np.full(cat.size, 30.0), mass=mass)
    return h, cat


@pytest.fixture(scope="module")
def shifted():
    h, cat = _hist(120_000, OFFSETS, RES_SHIFT, seed=1)
    electrons = np.zeros(5)
    for k, (i, j) in enumerate(PAIRS):
        electrons[i] += np.sum(cat == k)
        electrons[j] += np.sum(cat == k)
    return pipeline.fit_mass(h, "zee"), electrons


@pytest.mark.slow
def test_eta_shift_recovers_injected_offsets(shifted):
    out, electrons = shifted
    shift = out["eta_shift"]["bdt"]
    alpha = np.array(shift["alpha"])
    err = np.array(shift["alpha_error"], dtype=float)
    expected = 1.0 / (1.0 + OFFSETS) - 1.0  # E_true = E_reco / (1 + s)
    assert all(shift["identified"])
    assert np.all(np.abs(alpha - expected) < 3 * err)
    big = electrons >= 2000
    assert big.any()
    assert np.all(np.abs(alpha - expected)[big] < 0.002)


@pytest.mark.slow
def test_eta_shift_refit_centres_the_peaks(shifted):
    out, _ = shifted
    before = [f for f in out["fits"]["bdt"] if f["accepted"]]
    after = [f for f in out["fits_eta_shifted"]["bdt"] if f["accepted"]]
    assert len(after) >= len(before) - 1
    rms_before = np.sqrt(np.mean([f["values"]["mu"] ** 2 for f in before]))
    rms_after = np.sqrt(np.mean([f["values"]["mu"] ** 2 for f in after]))
    assert rms_before > 0.5 and rms_after < 0.1
    # misaligned categories widen the inclusive peak; the correction narrows it
    s = out["summary"]
    assert s["inclusive_eta_shifted"]["bdt"]["sigma"] < s["inclusive"]["bdt"]["sigma"]


@pytest.mark.slow
def test_per_eta_resolution_recovered():
    h, _ = _hist(200_000, np.zeros(5), RES_WIDTH, seed=2)
    out = pipeline.fit_mass(h, "zee", do_eta_shift=False)
    res = out["resolution"]["bdt"]
    sigma = np.array(res["sigma"], dtype=float)
    expected = MZ_GEV * RES_WIDTH / 2.0  # sigma_m/m = (r_i ⊕ r_j)/2
    assert all(res["physical"])
    assert np.all(np.abs(sigma / expected - 1) < 0.05)
    assert out["resolution_source"] == "fits"


@pytest.mark.slow
def test_zmumugamma_photon_width_and_hgamgam_double_gauss():
    rng = np.random.default_rng(8)
    h = book_mass("zmumugamma", 5)
    widths = {"truth": 1.3, "bdt": 1.8}  # truth = true photon energy: muon-only width
    for calib, width in widths.items():
        for cat in (3,):  # one photon |eta| bin filled: the rest is skipped
            sig = MZ_GEV + 1.2476 * rng.standard_cauchy(15_000) + rng.normal(0, width, 15_000)
            bkg = rng.normal(85.0, 12.0, 4_000)
            m = np.r_[sig, bkg]
            h.fill(calibration=calib, etacat=np.full(m.size, cat), mu=np.full(m.size, 30.0), mass=m)
    out = pipeline.fit_mass(h, "zmumugamma")
    assert out["model"] == "bwcb_bkg" and "eta_shift" not in out
    rows = out["photon_width"]["bdt"]
    assert [r["valid"] for r in rows] == [False, False, False, True, False]
    assert abs(rows[3]["width"] - 0.5) < 3 * rows[3]["error"] + 0.05

    hg = book_mass("hgamgam", len(PAIRS))
    m = np.r_[rng.normal(125.0, 3.0, 5_000), rng.normal(125.2, 1.7, 20_000)]
    hg.fill(calibration="cnn", etacat=np.zeros(m.size, int), mu=np.full(m.size, 30.0), mass=m)
    out = pipeline.fit_mass(hg, "hgamgam", model="double_gauss")
    assert out["model"] == "double_gauss"
    first = out["fits"]["cnn"][0]
    assert first["accepted"], first["reason"]
    assert abs(first["values"]["sigma"] - 1.7) < 0.1
    assert all(f["status"] == "skipped" for f in out["fits"]["cnn"][1:])


DSCB_TRUE = {"mu": 124.8, "alpha_l": 1.2, "n_l": 4.0, "alpha_r": 1.8, "n_r": 8.0}


@pytest.mark.slow
def test_hgamgam_is_fitted_with_the_dscb_and_reports_sigma_eff():
    from calocoffea.fitting.models import expected_probs

    rng = np.random.default_rng(11)
    hg = book_mass("hgamgam", len(PAIRS))
    edges = hg.axes["mass"].edges
    centers = 0.5 * (edges[1:] + edges[:-1])
    for calib, sigma in (("bdt", 1.8), ("cnn", 1.5)):
        counts = rng.multinomial(14_000, expected_probs("dscb", {**DSCB_TRUE, "sigma": sigma},
                                                        edges))
        # unit-weight entries: Poisson variances (the fit uses effective entries)
        mass = np.repeat(centers, counts)
        hg.fill(calibration=calib, etacat=np.zeros(mass.size, int),
                mu=np.full(mass.size, 30.0), mass=mass)
    out = pipeline.fit_mass(hg, "hgamgam")
    assert out["model"] == "dscb"
    for calib, sigma in (("bdt", 1.8), ("cnn", 1.5)):
        inc = out["inclusive"][calib]
        assert inc["model"] == "dscb" and inc["accepted"], inc["reason"]
        assert {"alpha_l", "n_l", "alpha_r", "n_r"} <= set(inc["values"])
        assert abs(inc["values"]["sigma"] - sigma) < 3 * inc["errors"]["sigma"] + 0.03
        assert inc["chi2_ndf"] < 1.5
        eff = out["sigma_eff"][calib]
        # the tail widens the smallest 68.3 % interval beyond the core
        assert sigma < eff["sigma_eff"] < 1.4 * sigma
        assert 0 < eff["sigma_eff_err"] < 0.05 and eff["n"] == pytest.approx(14_000)
    assert out["sigma_eff"]["cnn"]["sigma_eff"] < out["sigma_eff"]["bdt"]["sigma_eff"]


def test_sigma_eff_counts_events_outside_the_mass_window():
    hg = book_mass("hgamgam", len(PAIRS))
    rng = np.random.default_rng(12)
    m = rng.normal(125.0, 2.0, 20_000)
    far = np.full(5_000, 150.0)  # overflow of the 105-145 GeV window
    hg.fill(calibration="bdt", etacat=np.zeros(m.size + far.size, int),
            mu=np.full(m.size + far.size, 30.0), mass=np.r_[m, far])
    counts = pipeline.inclusive_counts_with_flow(hg, "bdt")
    assert counts.size == 302 and counts[-1] == 5_000 and counts.sum() == 25_000
    eff = pipeline.sigma_eff_entry(counts, hg.axes["mass"].edges)
    # 68.3 % of 25k events is 85 % of the Gaussian: half-width 1.44 sigma
    assert eff["sigma_eff"] == pytest.approx(2.0 * 1.44, rel=0.03)
    assert eff["n_outside"] == 5_000
    again = pipeline.sigma_eff_entry(counts, hg.axes["mass"].edges)
    assert again == eff  # seeded bootstrap


def test_mass_model_choice_is_validated():
    from calocoffea.channels import CHANNELS

    hg = book_mass("hgamgam", len(PAIRS))
    assert CHANNELS["hgamgam"].mass_models == ("dscb", "double_gauss")
    assert CHANNELS["zee"].pick_mass_model(None) == "bwcb"
    with pytest.raises(ValueError, match="'bwcb' is not one of hgamgam"):
        pipeline.fit_mass(hg, "hgamgam", model="bwcb")
    from calocoffea.fitting.fitter import MassFitter

    fitter = MassFitter(hg.axes["mass"].edges, model="double_gauss")
    with pytest.raises(ValueError, match="fitter model"):
        pipeline.fit_mass(hg, "hgamgam", model="dscb", fitter=fitter)


def test_response_linearity_sigma_rel_and_sigma68():
    from calocoffea.histograms import book_response

    rng = np.random.default_rng(13)
    h = book_response()
    # E_T bin 30-40 GeV: scale 0.98, 3 %; bin 60-80 GeV: scale 1.01, 1.5 %
    for et, scale, width in ((35.0, 0.98, 0.03), (70.0, 1.01, 0.015)):
        n = 40_000
        h.fill(calibration="bdt", particle="photon", abseta=rng.uniform(0, 0.7, n),
               et=np.full(n, et), mu=np.full(n, 30.0), response=rng.normal(scale, width, n))
    res = pipeline.response_metrics(h)["bdt"]["photon"]
    low, high = res["et"][2], res["et"][5]
    for b, scale, width in ((low, 0.98, 0.03), (high, 1.01, 0.015)):
        assert b["median"] == pytest.approx(scale, abs=3 * b["median_error"] + 1e-4)
        assert 0 < b["median_error"] < 5e-4
        # sigma_rel = IQR/(2 median) = 0.6745 width / scale for a Gaussian
        expected = 0.6745 * width / scale
        assert b["sigma_rel"] == pytest.approx(expected, abs=3 * b["sigma_rel_error"] + 1e-4)
        assert b["sigma68"] == pytest.approx(width, rel=0.03)
    assert res["et"][0]["median"] is None and res["et"][0]["sigma_rel"] is None
    inc = res["inclusive"]
    assert 0.015 < inc["sigma68"] < 0.04 and inc["sigma68_error"] > 0
