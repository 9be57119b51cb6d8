"""DeepCalo network and in-graph preprocessing (random tensors of the documented shapes)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from calocoffea.cnn.inputs import TRACK_LOG_VARS, scalar_names, track_names  # noqa: E402
from calocoffea.cnn.training.dataset import synthetic_sample  # noqa: E402
from calocoffea.cnn.training.model import DeepCaloNet, ModelConfig, count_flops, preset  # noqa: E402
from calocoffea.cnn.training.preprocessing import Preprocess, fit_preprocessing  # noqa: E402

N_S, N_T = len(scalar_names("electron")), len(track_names())


def _inputs(n, cfg, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.rand(n, cfg.image_channels, 56, 11, generator=g),
        torch.randn(n, N_S, generator=g),
        torch.randn(n, 15, N_T, generator=g),
        torch.ones(n, 15),
    )


@pytest.mark.parametrize("sigma", [False, True])
def test_lite_forward_shapes_and_positive_ratio(sigma):
    cfg = ModelConfig(sigma_output=sigma)
    net = DeepCaloNet(cfg, N_S, N_T).eval()
    with torch.no_grad():
        ratio, sp = net(*_inputs(5, cfg))
    assert ratio.shape == (5,)
    assert torch.all(ratio > 0)
    # untrained network starts at ratio 1 (softplus offset, tiny output weights)
    assert torch.allclose(ratio, torch.ones(5), atol=0.05)
    assert (sp is not None) == sigma
    if sigma:
        assert sp.shape == (5,)


def test_lite_flop_budget():
    # brief: ~2-3 MFLOP per cluster for >= 4000 clusters/s per core
    flops = count_flops(preset("lite"), N_S, N_T)
    assert 1.0e6 < flops < 3.0e6


def test_full_config_upscales_phi():
    cfg = preset("full")
    assert cfg.phi_upscale == 5 and cfg.block_depth > 0
    net = DeepCaloNet(cfg, N_S, N_T).eval()
    with torch.no_grad():
        ratio, _ = net(*_inputs(2, cfg))
    assert ratio.shape == (2,)
    assert count_flops(cfg, N_S, N_T) > 20 * count_flops(preset("lite"), N_S, N_T)
    with pytest.raises(ValueError, match="unknown model config"):
        preset("huge")


def test_config_roundtrip():
    cfg = preset("full")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_preprocessing_standardises_training_sample():
    s = synthetic_sample(4000, seed=3)
    # heavy tail in one column: log-normal energies
    s.scalars[:, 0] = np.random.default_rng(1).lognormal(3.0, 1.0, len(s)).astype(np.float32)
    names = scalar_names("electron")
    p = fit_preprocessing(
        s.scalars,
        s.tracks,
        s.tracks[:, :, 0] != 0,
        scalar_names=names,
        track_names=track_names(),
        track_log=TRACK_LOG_VARS,
        eacc_index=0,
        eta_index=names.index("eta"),
    )
    assert p["scalars"][0]["quantile"] is True  # log-normal E_acc flagged as heavy-tailed
    assert p["scalars"][names.index("eta")]["quantile"] is False
    pre = Preprocess(p)
    z = pre.scalars(torch.from_numpy(s.scalars)).numpy()
    q = z[:, 0]
    # quantile transform to a standard normal: median 0, IQR 1.349
    assert abs(np.median(q)) < 0.05
    assert abs(np.subtract(*np.percentile(q, [75, 25])) - 1.349) < 0.1
    # robust scaling: median 0, IQR 1
    r = z[:, names.index("eta")]
    assert abs(np.median(r)) < 0.05
    assert abs(np.subtract(*np.percentile(r, [75, 25])) - 1.0) < 0.05
    t, mask = pre.tracks(torch.from_numpy(s.tracks))
    pad = s.tracks[:, :, 0] == 0
    assert np.all(t.numpy()[pad] == 0.0)
    assert np.array_equal(mask.numpy() == 1, ~pad)
    # images are divided by E_acc
    img = pre.images(
        torch.from_numpy(s.images[:3].astype(np.float32)), torch.from_numpy(s.scalars[:3])
    )
    np.testing.assert_allclose(
        img.numpy() * s.scalars[:3, 0, None, None, None],
        s.images[:3].astype(np.float32),
        rtol=1e-5,
        atol=1e-5,
    )
