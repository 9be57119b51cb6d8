"""ONNX export: torch and onnxruntime agree, dynamic batch axis, model card contents."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from calocoffea.cnn.inputs import TRACK_LOG_VARS, scalar_names, track_names  # noqa: E402
from calocoffea.cnn.training.dataset import synthetic_sample  # noqa: E402
from calocoffea.cnn.training.export import (  # noqa: E402
    DeepCaloExport,
    export_onnx,
    sha256_file,
    write_card,
)
from calocoffea.cnn.training.model import DeepCaloNet, preset  # noqa: E402
from calocoffea.cnn.training.preprocessing import Preprocess, fit_preprocessing  # noqa: E402
from calocoffea.cnn.training.train import predict  # noqa: E402


def _wrapper(sample, sigma=False, seed=0):
    torch.manual_seed(seed)
    names = scalar_names(sample.particle)
    p = fit_preprocessing(
        sample.scalars,
        sample.tracks,
        sample.tracks[:, :, 0] != 0,
        scalar_names=names,
        track_names=track_names(),
        track_log=TRACK_LOG_VARS,
        eacc_index=0,
        eta_index=names.index("eta"),
    )
    cfg = preset("lite")
    cfg.sigma_output = sigma
    net = DeepCaloNet(cfg, len(names), len(track_names()))
    # non-trivial BN statistics and weights, as after training
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
        net.out.weight.normal_(0.0, 0.1)
    return DeepCaloExport(
        Preprocess(p), net, names.index("eta"), [0.0, 1.0, 2.5], [1.01, 0.98]
    ).eval()


@pytest.mark.parametrize("sigma", [False, True])
def test_onnx_matches_torch_on_1000_objects(tmp_path, sigma):
    s = synthetic_sample(1000, seed=11)
    model = _wrapper(s, sigma=sigma)
    path = tmp_path / "m.onnx"
    outputs = export_onnx(model, path, s.scalars.shape[1], s.tracks.shape[2])
    assert outputs == (["ratio", "sigma_prime"] if sigma else ["ratio"])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["images", "scalars", "tracks"]
    res = sess.run(
        None, {"images": s.images.astype(np.float32), "scalars": s.scalars, "tracks": s.tracks}
    )
    ref_ratio, ref_sigma = predict(model, s)
    assert res[0].shape == (1000,)
    np.testing.assert_allclose(res[0], ref_ratio, rtol=1e-4)
    if sigma:
        np.testing.assert_allclose(res[1], ref_sigma, rtol=1e-4, atol=1e-5)
    # dynamic batch axis: one object at a time gives the same numbers
    one = sess.run(
        None,
        {
            "images": s.images[3:4].astype(np.float32),
            "scalars": s.scalars[3:4],
            "tracks": s.tracks[3:4],
        },
    )[0]
    np.testing.assert_allclose(one, res[0][3:4], rtol=1e-5)


def test_bias_correction_in_graph():
    s = synthetic_sample(200, seed=2)
    model = _wrapper(s)
    base = DeepCaloExport(model.pre, model.net, model.eta_index, [0.0, 2.5], [1.0]).eval()
    r, _ = predict(model, s)
    r0, _ = predict(base, s)
    aeta = np.abs(s.eta)
    np.testing.assert_allclose(r[aeta < 1.0], 1.01 * r0[aeta < 1.0], rtol=1e-6)
    np.testing.assert_allclose(r[aeta >= 1.0], 0.98 * r0[aeta >= 1.0], rtol=1e-6)


def test_card_records_sha256(tmp_path):
    s = synthetic_sample(50, seed=1)
    path = tmp_path / "m.onnx"
    export_onnx(_wrapper(s), path, s.scalars.shape[1], s.tracks.shape[2])
    card_path = write_card(path, {"inputs": [], "outputs": ["ratio"], "seed": 3})
    card = json.loads(card_path.read_text())
    assert card_path == tmp_path / "m.json"
    assert card["sha256"] == sha256_file(path)
    assert card["seed"] == 3


def test_trained_card_contents(deepcalo_tiny_model):
    card = json.loads(deepcalo_tiny_model.with_suffix(".json").read_text())
    assert card["particle"] == "electron"
    assert [i["name"] for i in card["inputs"]] == ["images", "scalars", "tracks"]
    assert card["inputs"][1]["shape"] == [None, len(scalar_names("electron"))]
    assert [c["name"] for c in card["inputs"][1]["columns"]] == scalar_names("electron")
    assert card["training"]["seed"] == 5
    assert card["onnx_vs_torch_max_rel_diff_1000"] < 1e-4
    assert card["sha256"] == sha256_file(deepcalo_tiny_model)
    assert (
        len(card["bias_correction"]["factors"]) == len(card["bias_correction"]["abs_eta_edges"]) - 1
    )
    assert "reiqr75" in card["validation"]["overall"]
