"""Physics behaviour of the simulated response (small samples, seeded)."""

import dataclasses

import numpy as np
import pytest

from calocoffea.sim import default_config
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


@pytest.mark.parametrize(("eta", "ibin"), [((0.2, 0.6), 0), ((1.6, 1.9), 3)])
def test_data_like_scale_offsets(eta, ibin):
    # same seed: the data-like file differs only by the injected scale, so the median ratio
    # measures the offset without the statistical spread of two independent samples
    mc = _gun(60.0, eta, mu="fixed:1", kind="mc", n=3000, seed=5)[0]
    data_cfg = dataclasses.replace(default_config("data"), extra_constant=0.0)
    data = _gun(60.0, eta, mu="fixed:1", n=3000, cfg=data_cfg, seed=5)[0]
    ratio = np.median(data["eAcc"]) / np.median(mc["eAcc"])
    assert abs(ratio - (1 + data_cfg.scale_offsets[ibin])) < 0.003


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
