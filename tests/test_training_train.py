"""Training loop: learns a known correction, is reproducible with a seed, losses behave."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from calocoffea.cnn.training.dataset import mislabel_mask, synthetic_sample  # noqa: E402
from calocoffea.cnn.training.train import gaussian_nll, logcosh, predict, train  # noqa: E402
from tests.conftest import tiny_deepcalo_config  # noqa: E402


def test_logcosh_limits():
    d = 0.02
    small = logcosh(torch.tensor([1e-3]), torch.tensor([0.0]), d)
    assert float(small) == pytest.approx(0.5 * 1e-3**2 / d, rel=1e-3)  # quadratic core
    big = logcosh(torch.tensor([1.0]), torch.tensor([0.0]), d)
    assert float(big) == pytest.approx(1.0 - d * np.log(2.0), rel=1e-4)  # linear tails


def test_gaussian_nll_is_eq_4_4():
    y, yhat, sp = torch.tensor([1.0]), torch.tensor([0.9]), torch.tensor([0.5])
    expected = 0.1**2 / (2 * np.exp(0.5)) + 0.25
    assert float(gaussian_nll(yhat, sp, y)) == pytest.approx(expected, rel=1e-5)
    # sigma' = 0 reduces to half the squared error
    assert float(gaussian_nll(yhat, torch.tensor([0.0]), y)) == pytest.approx(0.005, rel=1e-5)


def test_mislabel_cut_keeps_band():
    s = synthetic_sample(100, seed=0)
    s.e_bdt[:10] = s.e_true[:10] * 0.2
    s.e_bdt[10:20] = s.e_true[10:20] * 1.7
    keep = mislabel_mask(s, 0.6)
    assert not keep[:20].any()
    assert keep[20:].all()


@pytest.mark.slow
def test_training_learns_and_is_reproducible():
    s = synthetic_sample(4000, seed=21)
    cfg = tiny_deepcalo_config()
    cfg.epochs = 4
    res = train(s, cfg, seed=3, threads=1)
    val = res.validation["overall"]
    # the target depends on f0 and |eta| (inputs): the CNN beats the E_acc-based reference
    assert val["reiqr75"] > 0.3
    assert abs(val["median_cnn"] - 1.0) < 0.01  # median bias correction
    assert res.history[-1]["val_loss"] < res.history[0]["val_loss"]
    res2 = train(s, cfg, seed=3, threads=1)
    r1, _ = predict(res.model, s.subset(np.arange(200)))
    r2, _ = predict(res2.model, s.subset(np.arange(200)))
    np.testing.assert_array_equal(r1, r2)


@pytest.mark.slow
def test_sigma_output_tracks_noise():
    s = synthetic_sample(4000, seed=8)
    # objects with f0 > 0.075 get 5x the smearing: sigma' must be larger for them
    f0 = s.scalars[:, 2].astype(np.float64)
    noisy = f0 > 0.075
    rng = np.random.default_rng(0)
    s.e_true[noisy] *= rng.normal(1.0, 0.05, noisy.sum())
    cfg = tiny_deepcalo_config()
    cfg.epochs = 6
    cfg.lr_max = 1e-2
    cfg.sigma_output = True
    res = train(s, cfg, seed=1, threads=1)
    _, sp = predict(res.model, s)
    assert sp is not None
    assert np.median(sp[noisy]) > np.median(sp[~noisy]) + 0.5
