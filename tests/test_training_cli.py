"""``calocoffea train cnn`` end to end on small simulated files: sample building with the
cache, training, export, card, held-out evaluation and --eval-only."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from calocoffea.app.cli import main
from calocoffea.cnn.inference import load_model
from calocoffea.cnn.training.dataset import build_sample


@pytest.mark.slow
def test_train_cnn_command(deepcalo_sim_files, tmp_path):
    zee = str(deepcalo_sim_files["zee"])
    out = tmp_path / "deepcalo_electron.onnx"
    rc = main(
        [
            "train",
            "cnn",
            "--particle",
            "electron",
            "--train",
            zee,
            "--test",
            zee,
            "--out",
            str(out),
            "--epochs",
            "1",
            "--seed",
            "4",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--mislabel-k",
            "0.6",
            "--lr-max",
            "0.001",
        ]
    )
    assert rc == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["files"] == [zee]
    assert card["training"]["seed"] == 4 and card["training"]["mislabel_k"] == 0.6
    assert card["config"]["name"] == "lite"
    assert card["config"]["lr_max"] == 0.001  # --lr-max overrides the preset's 3e-3
    assert card["onnx_vs_torch_max_rel_diff_1000"] < 1e-4
    n_test = card["test"]["overall"]["n"]
    sample = build_sample([zee], "electron", cache_dir=tmp_path / "cache")
    assert n_test == len(sample) > 100
    assert len(card["test"]["abs_eta"]) == 5 and len(card["test"]["mu_quintile"]) == 5
    assert "vs_median_response_reference" in card["test"]
    # the model runs through the inference API on the cached sample
    ratio = load_model(out).predict(
        {
            "images": sample.images.astype(np.float32),
            "scalars": sample.scalars,
            "tracks": sample.tracks,
        }
    )["ratio"]
    assert np.all(np.isfinite(ratio)) and np.all(ratio > 0)
    # --eval-only rewrites the test entry and keeps the sha256 consistent
    rc = main(
        [
            "train",
            "cnn",
            "--particle",
            "electron",
            "--eval-only",
            "--out",
            str(out),
            "--test",
            zee,
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert rc == 0
    card2 = json.loads(out.with_suffix(".json").read_text())
    assert card2["test"]["overall"]["n"] == n_test
    assert card2["sha256"] == card["sha256"]


def test_train_cnn_needs_files(tmp_path, capsys):
    rc = main(["train", "cnn", "--particle", "photon", "--out", str(tmp_path / "m.onnx")])
    assert rc == 2
    assert "--train FILES is required" in capsys.readouterr().err


def test_train_cnn_rejects_non_positive_lr(tmp_path, capsys):
    # checked before any file is read
    rc = main(["train", "cnn", "--particle", "electron", "--train",
               str(tmp_path / "never_read.root"), "--out", str(tmp_path / "m.onnx"),
               "--lr-max", "0", "--cache-dir", str(tmp_path / "cache")])
    assert rc == 2
    assert "lr_max must be positive, got 0.0" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_train_cnn_data_weight_needs_data_train(tmp_path, capsys):
    rc = main(["train", "cnn", "--particle", "electron", "--train",
               str(tmp_path / "never_read.root"), "--out", str(tmp_path / "m.onnx"),
               "--data-weight", "0.5", "--cache-dir", str(tmp_path / "cache")])
    assert rc == 2
    assert "data_weight weighs the data-like sample: it needs data_train" in \
        capsys.readouterr().err
