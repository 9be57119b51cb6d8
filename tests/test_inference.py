"""onnxruntime inference: session cache, provider log line, batching, input validation and
clear errors for missing/corrupt models."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from calocoffea.cnn import inference
from calocoffea.cnn.inference import ModelError, load_model
from calocoffea.cnn.training.dataset import synthetic_sample


def _feed(n, seed=0):
    s = synthetic_sample(n, seed=seed)
    return {"images": s.images.astype(np.float32), "scalars": s.scalars, "tracks": s.tracks}


def test_session_cached_per_process(deepcalo_tiny_model):
    a = load_model(deepcalo_tiny_model)
    b = load_model(deepcalo_tiny_model)
    assert a is b
    c = load_model(deepcalo_tiny_model, intra_op_threads=2)
    assert c is not a
    assert a.provider in {"CPUExecutionProvider", "CUDAExecutionProvider"}


def test_one_log_line_names_provider(deepcalo_tiny_model, tmp_path, caplog):
    # a fresh copy is a new cache entry (different path)
    path = tmp_path / "copy.onnx"
    shutil.copy(deepcalo_tiny_model, path)
    shutil.copy(deepcalo_tiny_model.with_suffix(".json"), path.with_suffix(".json"))
    with caplog.at_level(logging.INFO, logger="calocoffea.cnn.inference"):
        load_model(path)
        load_model(path)
    lines = [r.getMessage() for r in caplog.records if r.name == "calocoffea.cnn.inference"]
    assert len(lines) == 1
    assert "ExecutionProvider" in lines[0]


def test_batching_does_not_change_results(deepcalo_tiny_model):
    model = load_model(deepcalo_tiny_model)
    feed = _feed(300, seed=4)
    full = model.predict(feed, batch_size=4096)["ratio"]
    small = model.predict(feed, batch_size=7)["ratio"]
    assert full.shape == (300,)
    np.testing.assert_allclose(small, full, rtol=1e-5)
    assert np.all(full > 0)


def test_zero_length_input(deepcalo_tiny_model):
    model = load_model(deepcalo_tiny_model)
    feed = {k: v[:0] for k, v in _feed(3).items()}
    out = model.predict(feed)
    assert out["ratio"].shape == (0,)


def test_input_validation_names_expected_and_found(deepcalo_tiny_model):
    model = load_model(deepcalo_tiny_model)
    feed = _feed(4)
    bad = dict(feed)
    bad["cells"] = bad.pop("tracks")
    with pytest.raises(ModelError, match=r"expected inputs .*tracks.*found .*cells"):
        model.predict(bad)
    bad = dict(feed, scalars=feed["scalars"][:, :5])
    with pytest.raises(ModelError, match=r"'scalars' expected shape \(n, 16\), found \(4, 5\)"):
        model.predict(bad)
    bad = dict(feed, tracks=feed["tracks"][:3])
    with pytest.raises(ModelError, match="disagree on the number of objects"):
        model.predict(bad)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match=r"model file .*nothere.onnx not found"):
        load_model(tmp_path / "nothere.onnx")


def test_missing_card(deepcalo_tiny_model, tmp_path):
    path = tmp_path / "nocard.onnx"
    shutil.copy(deepcalo_tiny_model, path)
    with pytest.raises(ModelError, match=r"model card .*nocard.json not found"):
        load_model(path)


def test_corrupt_model_detected_at_load(deepcalo_tiny_model, tmp_path):
    path = tmp_path / "bad.onnx"
    data = bytearray(deepcalo_tiny_model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    shutil.copy(deepcalo_tiny_model.with_suffix(".json"), path.with_suffix(".json"))
    with pytest.raises(ModelError, match="does not match its card"):
        load_model(path)
    # a corrupt file whose card agrees (re-hashed) is rejected by onnxruntime, clearly
    path.write_bytes(b"not an onnx file")
    card = json.loads(path.with_suffix(".json").read_text())
    card["sha256"] = inference._sha256(path.resolve())
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="onnxruntime cannot load"):
        load_model(path)
