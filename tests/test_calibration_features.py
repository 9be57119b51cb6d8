"""Features of the standard calibration: table-1.2 content, order, guards and errors."""

from __future__ import annotations

import numpy as np
import pytest

from calocoffea.bdt.inputs import (
    FEATURES,
    MODELS,
    REQUIRED_COLUMNS,
    feature_matrix,
    feature_names,
    photon_is_converted,
)
from calocoffea.bdt.toy import toy_gun_columns


@pytest.fixture(scope="module")
def photons():
    return toy_gun_columns(500, "photon", seed=3)[0]


def test_inputs_are_table_1_2_only():
    # E3 alone, pile-up and tracks must not enter; only the converted-photon model sees
    # conversion variables.
    for model in MODELS:
        used = {c for f in FEATURES[model] for c in f.columns}
        assert "e3" not in used
        assert not any("mu" in c.lower() or "track" in c.lower() for c in used)
        assert {"eAcc", "e0", "e1", "e2", "eta", "etaMod", "phiMod", "eTileGap"} <= used
    assert "convRadius" in {c for f in FEATURES["photon_converted"] for c in f.columns}
    assert "convRadius" not in {c for f in FEATURES["electron"] for c in f.columns}
    assert "convType" in REQUIRED_COLUMNS["photon"]


def test_matrix_values_and_order(photons):
    x = feature_matrix(photons, "photon_converted")
    names = feature_names("photon_converted")
    assert x.dtype == np.float32
    assert x.shape == (500, len(names))
    col = dict(zip(names, x.T, strict=True))
    np.testing.assert_allclose(col["e1OverE2"], photons["e1"] / photons["e2"], rtol=1e-6)
    np.testing.assert_allclose(col["absEta"], np.abs(photons["eta"]), rtol=1e-6)
    np.testing.assert_allclose(
        col["etAcc"], photons["eAcc"] / np.cosh(photons["eta"].astype(np.float64)), rtol=1e-5
    )
    np.testing.assert_array_equal(col["convRadius"], photons["convRadius"])


def test_e3_does_not_change_inputs(photons):
    changed = dict(photons, e3=photons["e3"] * 3.0 + 1.0)
    np.testing.assert_array_equal(
        feature_matrix(photons, "electron"), feature_matrix(changed, "electron")
    )


def test_nonpositive_denominator_gives_finite_sentinel(photons):
    cols = {k: v[:3].copy() for k, v in photons.items()}
    cols["e2"][0] = 0.0
    cols["eAcc"][1] = -1.0
    x = feature_matrix(cols, "electron")
    names = feature_names("electron")
    assert np.all(np.isfinite(x))
    assert x[0, names.index("e1OverE2")] == -1.0
    assert x[1, names.index("e0OverEAcc")] == -1.0


def test_missing_column_is_named(photons):
    cols = dict(photons)
    del cols["phiMod"]
    with pytest.raises(KeyError, match="phiMod"):
        feature_matrix(cols, "electron")


def test_nonfinite_column_is_named(photons):
    cols = dict(photons, etaMod=photons["etaMod"].copy())
    cols["etaMod"][4] = np.nan
    with pytest.raises(ValueError, match="etaMod"):
        feature_matrix(cols, "electron")


def test_unknown_model_and_bad_conv_type():
    with pytest.raises(ValueError, match="unknown BDT model"):
        feature_names("muon")
    with pytest.raises(ValueError, match="convType"):
        photon_is_converted(np.array([0, 1, 3]))
    np.testing.assert_array_equal(photon_is_converted(np.array([0, 1, 2])), [False, True, True])
