"""Physics behaviour of the simulated response (small samples, seeded)."""

import dataclasses

import numpy as np
import pytest

from calocoffea.sim import default_config
from calocoffea.sim.conditions import NONLINEARITY, TIME_OFFSET_NS, DataConditions
from calocoffea.sim.pipeline import simulate_chunk

pytestmark = pytest.mark.slow


def _gun(energy, eta, *, n=2500, kind="mc", mu="fixed:20", seed=0, cfg=None, process="egun"):
    cols = simulate_chunk(
        np.random.default_rng(seed),
        process,
        n,
        cfg or default_config(kind),
        mu_profile=mu,
        energy_fn=None,
        gun_options={"energy": energy, "eta_range": eta},
    )
    return cols.collections["Cluster"][1], cols


def _eiqr(x):
    q25, q50, q75 = np.percentile(x, [25, 50, 75])
    return (q75 - q25) / 1.349 / q50


def test_crack_is_worse_and_resolution_scales_like_sqrt_e():
    barrel = _eiqr(_gun(50.0, (0.2, 0.6))[0]["eAcc"] / 50.0)
    crack = _eiqr(_gun(50.0, (1.40, 1.50))[0]["eAcc"] / 50.0)
    assert crack > 1.5 * barrel
    lo = _eiqr(_gun(20.0, (0.2, 0.6), seed=1)[0]["eAcc"] / 20.0)
    hi = _eiqr(_gun(120.0, (0.2, 0.6), seed=2)[0]["eAcc"] / 120.0)
    # sampling term alone: sqrt(6) = 2.45; constant term lowers, noise term raises it
    assert 1.6 < lo / hi < 3.2
    assert 0.06 / np.sqrt(20) < lo < 0.2 / np.sqrt(20)


def _data(**strengths):
    return default_config("data", dataclasses.replace(DataConditions.mc_like(), **strengths))


def test_mc_like_data_detector_is_the_mc_detector():
    # every condition at 0: the same random stream gives the same cells as MC
    mc = _gun(60.0, (0.2, 1.9), kind="mc", n=400, seed=5)[1]
    data = _gun(60.0, (0.2, 1.9), n=400, seed=5, cfg=_data())[1]
    np.testing.assert_array_equal(mc.collections["CaloCell"][1]["e"],
                                  data.collections["CaloCell"][1]["e"])


@pytest.mark.parametrize("eta", [(0.2, 0.6), (1.3, 1.6), (1.6, 1.9)])
def test_data_like_scale_map_is_the_injected_scale(eta):
    # same seed, only the scale map on: each cluster's energy ratio to its MC twin is the
    # injected (signal-weighted) scale the sidecar reports for it
    mc = _gun(60.0, eta, mu="fixed:1", kind="mc", n=1500, seed=5)[0]
    cols = _gun(60.0, eta, mu="fixed:1", n=1500, seed=5, cfg=_data(scale=1.0))[1]
    ratio = cols.collections["Cluster"][1]["eAcc"] / mc["eAcc"]
    scale = cols.injected["scale"]
    assert abs(np.median(ratio - scale)) < 0.001
    # the map really moves the scale here: by more than the tolerance above
    assert np.max(np.abs(scale - 1.0)) > 0.003


def test_data_like_nonlinearity_and_noise_and_time():
    lo = _gun(15.0, (0.2, 0.6), n=300, seed=1, cfg=_data(nonlinearity=1.0))[1].injected
    hi = _gun(300.0, (0.2, 0.6), n=300, seed=1, cfg=_data(nonlinearity=1.0))[1].injected
    c = NONLINEARITY
    np.testing.assert_allclose(np.median(hi["scale"]) / np.median(lo["scale"]),
                               (1 + c * np.log(300 / 45)) / (1 + c * np.log(15 / 45)),
                               rtol=2e-4)
    mc = _gun(40.0, (0.2, 0.6), kind="mc", n=300, seed=2)[1].collections["CaloCell"][1]
    noisy = _gun(40.0, (0.2, 0.6), n=300, seed=2,
                 cfg=_data(noise=1.0, time_offset=1.0))[1].collections["CaloCell"][1]
    far = np.abs(mc["e"]) < 0.02  # noise-dominated presampler/strip cells
    assert np.std(noisy["e"][far]) > 1.05 * np.std(mc["e"][far])
    timed = (mc["time"] != 0) & (noisy["time"] != 0)
    assert abs(np.mean(noisy["time"][timed] - mc["time"][timed]) - TIME_OFFSET_NS) < 0.1


def test_data_like_showers_wider_and_more_material_forward():
    mc = _gun(50.0, (1.85, 2.35), kind="mc", n=2000, seed=3, process="gammagun")[1]
    wide = _gun(50.0, (1.85, 2.35), n=2000, seed=3, process="gammagun",
                cfg=_data(shower_width=1.0, material=1.0))[1]
    r_mc = np.nanmedian(mc.collections["Cluster"][1]["rEta"])
    r_data = np.nanmedian(wide.collections["Cluster"][1]["rEta"])
    assert r_data < r_mc - 0.001
    conv_mc = np.mean(mc.collections["Photon"][1]["convType"] > 0)
    conv_data = np.mean(wide.collections["Photon"][1]["convType"] > 0)
    assert conv_data > conv_mc + 0.02


def test_data_conditions_validate_and_record_strengths():
    with pytest.raises(ValueError, match="noise"):
        DataConditions(noise=-1.0)
    with pytest.raises(ValueError, match="kind='data'"):
        default_config("mc", DataConditions())
    side = DataConditions(scale=0.5).sidecar()
    assert side["strengths"]["scale"] == 0.5 and side["strengths"]["noise"] == 1.0
    assert len(side["scale_map"]["harmonic_amplitudes"]) > 0


def test_pileup_adds_fluctuations_outside_the_core():
    spreads = []
    for mu in ("fixed:5", "fixed:80"):
        _, cols = _gun(40.0, (0.2, 0.6), n=800, mu=mu, process="gammagun")
        counts, cells = cols.collections["CaloCell"]
        cl = np.repeat(np.arange(len(counts)), counts)  # one cluster per event
        cl_eta = np.repeat(cols.collections["Cluster"][1]["eta"], counts)
        outer = (np.abs(cells["eta"] - cl_eta) > 0.06) & (cells["layer"] == 2)
        spreads.append(np.std(np.bincount(cl, weights=cells["e"] * outer)))
    # electronic noise alone gives ~0.23 GeV here; pile-up at <mu> = 80 adds as much again
    assert spreads[1] > 1.3 * spreads[0]


def test_photon_conversion_branches_consistent():
    _cl, cols = _gun(50.0, (0.0, 2.4), n=2000, process="gammagun")
    pho = cols.collections["Photon"][1]
    conv = pho["convType"] > 0
    single, double = pho["convType"] == 1, pho["convType"] == 2
    assert single.any() and double.any()
    assert np.all(pho["convRadius"][~conv] == 0) and np.all(pho["convRadius"][conv] > 0)
    # single-track conversions have lost the second leg
    assert np.all(pho["convPt2"][single] == 0) and np.all(pho["convPt2"][double] > 0)
    assert np.all(pho["convPt1"][double] >= pho["convPt2"][double])
    np.testing.assert_allclose(pho["convPt"][conv], pho["convPt1"][conv] + pho["convPt2"][conv])
    # egammaMVAFunctions: ratio and E_T/p_T only for two silicon tracks, else 1 and 0
    two_si = double & (pho["convNSi"] == 2)
    assert np.all(pho["convPtRatio"][conv & ~two_si] == 1.0)
    assert np.all(pho["convEtOverPt"][conv & ~two_si] == 0.0)
    assert np.all((pho["convPtRatio"][two_si] >= 0.5) & (pho["convPtRatio"][two_si] <= 1))
    assert 0.8 < np.median(pho["convEtOverPt"][two_si]) < 1.3


def test_tilegap_signal_has_the_configured_stochastic_term():
    from calocoffea.sim.pipeline import tilegap_signal

    cfg = default_config("mc")
    seen = np.full(200_000, 2.0)
    sig = tilegap_signal(np.random.default_rng(3), seen, cfg)
    assert abs(sig.mean() - 2.0) < 0.01
    assert abs(sig.std() / (cfg.tilegap_sampling * np.sqrt(2.0)) - 1.0) < 0.01
    assert np.all(sig >= 0)
    zero = tilegap_signal(np.random.default_rng(3), np.zeros(10), cfg)
    assert np.all(zero == 0)
    exact = dataclasses.replace(cfg, tilegap_sampling=0.0)
    assert np.array_equal(tilegap_signal(np.random.default_rng(3), seen, exact), seen)
