"""Inputs of the BDT calibrations: the egammaMVACalib set, the shower-shape additions, their
definitions, order, guards and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calocoffea.bdt.inputs import (
    FEATURES,
    MODELS,
    REQUIRED_COLUMNS,
    SHAPE_FEATURES,
    VARIANTS,
    feature_matrix,
    feature_names,
    photon_is_converted,
)
from calocoffea.bdt.toy import toy_gun_columns

#: The egammaMVAFunctions variables every model reads (our names).
EGAMMA_CLUSTER = ["clE", "clEta", "clPhi", "Es0", "Es1", "Es2", "Es3", "Eacc", "f0", "R12",
                  "E_TileGap3", "fTG3", "cellIndexCalo", "etaModCalo", "phiModCalo", "dPhiTG3"]


@pytest.fixture(scope="module")
def photons():
    return toy_gun_columns(500, "photon", seed=3)[0]


@pytest.fixture(scope="module")
def electrons():
    return toy_gun_columns(500, "electron", seed=4)[0]


def test_bdt_has_the_egammamvacalib_inputs_and_shapes_add_the_shower_shapes():
    for model in MODELS:
        names = feature_names(model, "bdt")
        assert names[: len(EGAMMA_CLUSTER)] == EGAMMA_CLUSTER
        shapes = feature_names(model, "bdt_shapes")
        assert shapes[: len(names)] == names  # the same inputs first
        assert shapes[len(names):] == [f.name for f in SHAPE_FEATURES]
        # no shower shape and no window energy in the standard calibration
        assert not {f.name for f in SHAPE_FEATURES} & set(names)
    conv = feature_names("photon_converted")
    assert {"Rconv", "zconv", "pt1conv", "pt2conv", "ptconv", "convPtRatio",
            "convEtOverPt"} <= set(conv)
    assert "Rconv" not in feature_names("photon_unconverted")
    assert {"charge", "trackEta", "trackPt", "trackZ0", "qOverP"} <= set(
        feature_names("electron"))
    assert "trackPt" not in feature_names("photon_converted")
    for variant in VARIANTS:
        assert "convType" in REQUIRED_COLUMNS[(variant, "photon")]


def test_matrix_values_follow_egamma_mva_functions(photons, electrons):
    x = feature_matrix(photons, "photon_converted")
    names = feature_names("photon_converted")
    assert x.dtype == np.float32 and x.shape == (500, len(names))
    col = dict(zip(names, x.T, strict=True))
    eta = photons["eta"].astype(np.float64)
    phi = photons["phi"].astype(np.float64)
    np.testing.assert_allclose(col["R12"], photons["e1"] / photons["e2"], rtol=1e-6)
    np.testing.assert_allclose(col["f0"], photons["e0"] / photons["eAcc"], rtol=1e-5)
    np.testing.assert_allclose(
        col["clE"], photons["e0"] + photons["e1"] + photons["e2"] + photons["e3"], rtol=1e-5)
    np.testing.assert_allclose(col["cellIndexCalo"], np.floor(np.abs(eta) / 0.025))
    np.testing.assert_allclose(col["etaModCalo"], np.fmod(np.abs(eta), 0.025), atol=1e-7)
    period = np.where(np.abs(eta) < 1.425, math.pi / 512, math.pi / 384)
    np.testing.assert_allclose(col["phiModCalo"], np.fmod(phi, period), atol=1e-7)
    np.testing.assert_allclose(
        col["dPhiTG3"], np.fmod(2 * math.pi + phi, math.pi / 32) - math.pi / 64, atol=1e-6)
    np.testing.assert_array_equal(col["Rconv"], photons["convRadius"])
    xe = feature_matrix(electrons, "electron")
    ce = dict(zip(feature_names("electron"), xe.T, strict=True))
    q_over_p = electrons["charge"] / (electrons["trackPt"] * np.cosh(electrons["trackEta"]))
    np.testing.assert_allclose(ce["qOverP"], q_over_p, rtol=1e-5)


def test_electron_without_track_gets_the_stand_in(electrons):
    cols = {k: v[:4].copy() for k, v in electrons.items()}
    for c in ("trackPt", "trackEta", "trackZ0"):
        cols[c] = cols[c].astype(np.float64)
        cols[c][1] = np.nan
    x = feature_matrix(cols, "electron")
    names = feature_names("electron")
    assert np.all(np.isfinite(x))
    for c in ("trackPt", "trackEta", "trackZ0", "qOverP"):
        assert x[1, names.index(c)] == 0.0


def test_nonpositive_denominator_gives_finite_sentinel(photons):
    cols = {k: v[:3].copy() for k, v in photons.items()}
    cols["e2"][0] = 0.0
    cols["eAcc"][1] = -1.0
    x = feature_matrix(cols, "photon_unconverted")
    names = feature_names("photon_unconverted")
    assert np.all(np.isfinite(x))
    assert x[0, names.index("R12")] == -1.0
    assert x[1, names.index("f0")] == -1.0


def test_missing_column_is_named(photons):
    cols = dict(photons)
    del cols["rEta"]
    feature_matrix(cols, "photon_unconverted")  # bdt does not need it
    with pytest.raises(KeyError, match="rEta"):
        feature_matrix(cols, "photon_unconverted", "bdt_shapes")


def test_nonfinite_column_is_named(photons):
    cols = dict(photons, e0=photons["e0"].copy())
    cols["e0"][4] = np.nan
    with pytest.raises(ValueError, match="e0"):
        feature_matrix(cols, "photon_unconverted")


def test_unknown_model_variant_and_bad_conv_type():
    with pytest.raises(ValueError, match="unknown BDT model"):
        feature_names("muon")
    with pytest.raises(ValueError, match="variant"):
        feature_names("electron", "gbr")
    with pytest.raises(ValueError, match="convType"):
        photon_is_converted(np.array([0, 1, 3]))
    np.testing.assert_array_equal(photon_is_converted(np.array([0, 1, 2])), [False, True, True])
    assert set(FEATURES) == {(v, m) for v in VARIANTS for m in MODELS}
