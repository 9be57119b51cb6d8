"""Training on data: E_label,data, the ensemble loss, the type scalar, histogram equalisation."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from calocoffea.cnn.inputs import scalar_names  # noqa: E402
from calocoffea.cnn.training.dataset import concat, synthetic_sample  # noqa: E402
from calocoffea.cnn.training.labels import (  # noqa: E402
    label_accuracy,
    pair_labels,
    read_zee_labelled,
)
from calocoffea.cnn.training.preprocessing import (  # noqa: E402
    NOT_EQUALISED,
    apply_equalisation,
    equalisation_maps,
)
from calocoffea.cnn.training.train import ensemble_mean, predict, train  # noqa: E402
from calocoffea.constants import MZ_GEV  # noqa: E402
from tests.conftest import tiny_deepcalo_config  # noqa: E402


def _pairs(n, rng, mass=MZ_GEV):
    """(E (n, 2), eta, phi) of massless pairs with invariant mass ``mass``."""
    eta = rng.uniform(-2.4, 2.4, (n, 2))
    phi = rng.uniform(-np.pi, np.pi, (n, 2))
    et0 = rng.uniform(20, 60, n)
    geo = np.cosh(eta[:, 0] - eta[:, 1]) - np.cos(phi[:, 0] - phi[:, 1])
    et1 = mass**2 / (2 * et0 * geo)
    et = np.stack([et0, et1], axis=1)
    return et * np.cosh(eta), eta, phi


def test_pair_labels_close_the_z_mass():
    rng = np.random.default_rng(1)
    e, eta, phi = _pairs(500, rng)
    lab, ok = pair_labels(e, eta, phi)
    assert ok.all()
    np.testing.assert_allclose(lab, e, rtol=1e-9)  # exact pole mass: the label is exact
    # the partner mis-measured by +3 %: the label is low by the same factor (E_label ∝ 1/E_T2)
    lab2, _ = pair_labels(e * np.array([1.0, 1.03]), eta, phi)
    np.testing.assert_allclose(lab2[:, 0] / e[:, 0], 1 / 1.03, rtol=1e-9)
    # outside 86-97 GeV: not labelled
    e_lo, eta_lo, phi_lo = _pairs(50, rng, mass=80.0)
    assert not pair_labels(e_lo, eta_lo, phi_lo)[1].any()


def test_ensemble_mean_is_a_sum_of_sample_means():
    loss = torch.tensor([1.0, 3.0, 10.0, 20.0, 30.0])
    dom = torch.tensor([False, False, True, True, True])
    assert float(ensemble_mean(loss, dom)) == pytest.approx(2.0 + 20.0)
    assert float(ensemble_mean(loss, torch.zeros(5, dtype=torch.bool))) == pytest.approx(12.8)
    # --data-weight scales the data sample's mean only
    assert float(ensemble_mean(loss, dom, 0.25)) == pytest.approx(2.0 + 0.25 * 20.0)
    assert float(ensemble_mean(loss, torch.zeros(5, dtype=torch.bool), 0.25)) == \
        pytest.approx(12.8)


def test_equalisation_maps_mc_marginals_onto_data():
    rng = np.random.default_rng(2)
    names = scalar_names("electron")
    mc = rng.normal(0.0, 1.0, (20000, len(names))).astype(np.float32)
    data = rng.normal(0.5, 1.3, (20000, len(names))).astype(np.float32)
    maps = equalisation_maps(mc, data, names)
    out = apply_equalisation(mc, names, maps)
    probs = [0.1, 0.5, 0.9]
    for k, name in enumerate(names):
        if name in NOT_EQUALISED:
            np.testing.assert_array_equal(out[:, k], mc[:, k])
        else:
            np.testing.assert_allclose(np.quantile(out[:, k], probs),
                                       np.quantile(data[:, k], probs), atol=0.03)


@pytest.mark.slow
def test_type_scalar_learns_the_data_scale():
    # data labels 3 % above the MC truth: the data mode of a type-scalar model predicts 3 %
    # more than its MC mode on the same inputs; the ensemble loss sees both samples
    mc = synthetic_sample(3000, seed=31)
    data = synthetic_sample(3000, seed=32)
    data.e_true = data.e_true * 1.03
    data.is_data = np.ones(len(data), bool)
    cfg = tiny_deepcalo_config()
    cfg.epochs = 5
    cfg.lr_max = 1e-2
    cfg.type_scalar = True
    res = train(concat([mc, data]), cfg, seed=2, threads=1)
    probe = mc.subset(np.arange(1000))
    r_mc, _ = predict(res.model, probe, domain=0.0)
    r_data, _ = predict(res.model, probe, domain=1.0)
    assert np.median(r_data / r_mc) == pytest.approx(1.03, abs=0.01)
    # the exported graph runs in data mode
    r_export, _ = predict(res.model, probe)
    np.testing.assert_allclose(r_export, r_data, rtol=1e-6)


@pytest.mark.slow
def test_labels_on_mc_and_ensemble_command(deepcalo_sim_files, tmp_path):
    from calocoffea.app.cli import main
    from calocoffea.bdt.standard import load_standard_calibration

    zee = str(deepcalo_sim_files["zee"])
    # the file has no standard calibration stored: the shipped BDT recomputes it
    sample, e_true = read_zee_labelled(zee, load_standard_calibration())
    assert len(sample) > 50 and sample.is_data.all()
    acc = label_accuracy(sample.e_true, e_true, sample.e_acc)
    # the label is centred (the Z pole), E_acc is low (no calibration)
    assert abs(acc["label"]["median"] - 1.0) < 0.03
    assert acc["e_acc"]["median"] < acc["label"]["median"]
    out = tmp_path / "ens.onnx"
    rc = main(["train", "cnn", "--particle", "electron", "--train", zee, "--data-train", zee,
               "--equalise-to", zee, "--type-scalar", "--out", str(out), "--epochs", "1",
               "--bdt-models", str(tmp_path / "none")])
    # the BDT directory does not exist: a clear error, not a crash
    assert rc == 2
    rc = main(["train", "cnn", "--particle", "electron", "--train", zee, "--data-train", zee,
               "--equalise-to", zee, "--type-scalar", "--out", str(out), "--epochs", "1"])
    assert rc == 0
    card = json.loads(out.with_suffix(".json").read_text())
    ens = card["training"]["ensemble"]
    assert ens["n_data_objects"] == len(sample) and ens["type_scalar"]
    assert "f0" in card["training"]["equalisation"]["maps"]
    assert card["config"]["type_scalar"] is True
    assert card["onnx_vs_torch_max_rel_diff_1000"] < 1e-4
