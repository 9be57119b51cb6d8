"""Loading and applying the standard calibration (ONNX trees, evaluated by XGBoost)."""

from __future__ import annotations

import json
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from calocoffea.app.cli import build_parser
from calocoffea.app.commands.train_bdt import config_from_args
from calocoffea.bdt import load_standard_calibration
from calocoffea.bdt import training as train_bdt
from calocoffea.bdt.forest import load_forest
from calocoffea.bdt.inputs import feature_matrix
from calocoffea.bdt.standard import model_paths, sha256_file
from calocoffea.bdt.toy import toy_gun_columns


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    args = build_parser().parse_args(
        [
            "train",
            "bdt",
            "--toy",
            "6000",
            "--seed",
            "2",
            "--out",
            str(out),
            "--n-trials",
            "1",
            "--max-rounds",
            "100",
            "--early-stopping",
            "10",
            "--nthread",
            "1",
        ]
    )
    train_bdt.train_all(config_from_args(args))
    return out


@pytest.fixture(scope="module")
def photons():
    return toy_gun_columns(3000, "photon", seed=17)


def _direct(models, model, cols):
    sess = ort.InferenceSession(str(model_paths(models, model)[0]))
    return sess.run(None, {"features": feature_matrix(cols, model)})[0].reshape(-1)


def test_photons_are_routed_by_conv_type(models, photons):
    cols, _ = photons
    calib = load_standard_calibration(models)
    e = calib.energy(cols, "photon")
    assert e.shape == (3000,) and e.dtype == np.float64
    conv = cols["convType"] > 0
    assert 0 < conv.sum() < conv.size
    for model, mask in (("photon_converted", conv), ("photon_unconverted", ~conv)):
        sub = {k: v[mask] for k, v in cols.items()}
        expected = sub["eAcc"].astype(np.float64) * _direct(models, model, sub)
        np.testing.assert_allclose(e[mask], expected, rtol=1e-6)
    # the two photon models really differ: routing matters
    assert not np.allclose(
        _direct(models, "photon_converted", cols), _direct(models, "photon_unconverted", cols)
    )


def test_electron_energy_improves_on_e_acc(models):
    cols, e_true = toy_gun_columns(4000, "electron", seed=18)
    e = load_standard_calibration(models).energy(cols, "electron")
    r_bdt, r_acc = e / e_true, cols["eAcc"] / e_true
    iqr = lambda r: np.subtract(*np.percentile(r, [75, 25]))  # noqa: E731
    assert abs(np.median(r_bdt) - 1) < abs(np.median(r_acc) - 1)
    assert iqr(r_bdt) < iqr(r_acc)


def test_trees_are_cached_and_calibration_pickles(models, photons):
    calib = load_standard_calibration(models)
    path = model_paths(models, "electron")[0]
    assert load_forest(path) is load_forest(path)
    clone = pickle.loads(pickle.dumps(calib))
    cols, _ = photons
    np.testing.assert_array_equal(clone.energy(cols, "photon"), calib.energy(cols, "photon"))


def test_empty_input(models, photons):
    cols, _ = photons
    empty = {k: v[:0] for k, v in cols.items()}
    assert load_standard_calibration(models).energy(empty, "photon").shape == (0,)


def test_missing_column_and_bad_particle(models, photons):
    cols, _ = photons
    calib = load_standard_calibration(models)
    no_conv = {k: v for k, v in cols.items() if k != "convPt1"}
    with pytest.raises(KeyError, match="convPt1"):
        calib.energy(no_conv, "photon")
    # electrons need their track columns, not the conversion ones
    electrons, _ = toy_gun_columns(300, "electron", seed=8)
    assert calib.energy({**electrons, **{k: v[:300] for k, v in no_conv.items()
                                         if k not in electrons}}, "electron").shape == (300,)
    with pytest.raises(ValueError, match="particle"):
        calib.energy(cols, "muon")


def test_missing_model_file(models, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(models, d)
    model_paths(d, "photon_converted")[0].unlink()
    with pytest.raises(FileNotFoundError, match=r"bdt_photon_converted\.onnx"):
        load_standard_calibration(d)


def test_corrupt_model_file(models, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(models, d)
    onnx_path, card_path = model_paths(d, "electron")
    onnx_path.write_bytes(b"not an onnx model")
    with pytest.raises(ValueError, match="sha256"):
        load_standard_calibration(d)
    # a card that matches the garbage still fails, at load time, naming the file
    card = json.loads(card_path.read_text())
    card["sha256"] = sha256_file(onnx_path)
    card_path.write_text(json.dumps(card))
    with pytest.raises(RuntimeError, match=r"bdt_electron\.onnx"):
        load_standard_calibration(d)
    card_path.write_text("{ broken")
    with pytest.raises(ValueError, match="corrupt model card"):
        load_standard_calibration(d)


@pytest.mark.parametrize("variant", ["bdt", "bdt_shapes"])
def test_shipped_models_are_consistent(variant):
    """The models committed in models/ load, match their cards, and the shipped BDT beats the
    median-response reference fitted on a fresh Z->ee sample itself (a reference that favours
    itself; the BDT never saw these events)."""
    import onnx

    from calocoffea.bdt.evaluation import MedianResponseCorrection, eiqr
    from calocoffea.bdt.samples import read_objects
    from calocoffea.resources import models_dir
    from calocoffea.sim import generate_file

    calib = load_standard_calibration(variant=variant)
    assert calib.models_dir == models_dir()
    for model, card in calib.cards.items():
        graph = onnx.load(str(model_paths(calib.models_dir, model, variant)[0])).graph
        attrs = {a.name: a for a in graph.node[0].attribute}
        assert len(set(attrs["nodes_treeids"].ints)) == card["hyperparameters"]["n_trees"]
        assert card["onnx_vs_xgboost_max_rel_diff"] < 1e-5
    path = Path(tempfile.mkdtemp()) / "zee.root"
    generate_file(path, "zee", n_events=2500, seed=31337)
    t = read_objects(path, "electron")
    e_acc, eta = t.columns["eAcc"].astype(np.float64), t.columns["eta"].astype(np.float64)
    ref = MedianResponseCorrection.fit(e_acc, eta, t.e_true).energy(e_acc, eta)
    bdt = calib.energy(t.columns, "electron")
    assert len(t) > 3000
    assert eiqr(bdt / t.e_true) < 0.95 * eiqr(ref / t.e_true)
    assert abs(np.median(bdt / t.e_true) - 1.0) < 0.01
