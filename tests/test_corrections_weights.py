"""correctionlib exports: scale and smearing from fit results, pile-up weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calocoffea.app.cli import main
from calocoffea.corrections import (
    CorrectionApplier,
    derive,
    deterministic_normal,
    write_corrections,
)
from calocoffea.weights import PileupWeights, normalisation, write_pileup_correction


def _results(alpha, sigma, err=0.01):
    return {"mass": {"eta_shift": {"bdt": {"alpha": alpha, "alpha_error": [err] * 5}},
                     "resolution": {"bdt": {"sigma": sigma, "sigma_error": [err] * 5}}}}


def test_scale_and_smearing_roundtrip(tmp_path):
    mc = _results([0.01, 0.0, 0.02, -0.01, 0.0], [1.0, 1.1, 2.0, 1.5, 1.4])
    data = _results([0.02, -0.01, 0.02, 0.0, None], [1.2, 1.0, 2.3, 1.6, 1.4])
    ss = derive(mc, data, "bdt")
    np.testing.assert_allclose(ss.scale[:4], [1.02 / 1.01, 0.99, 1.0, 1.0 / 0.99])
    assert ss.smearing[1] == 0.0  # data narrower than MC: no smearing, not an imaginary one
    np.testing.assert_allclose(ss.smearing[0], 2 * np.sqrt(1.2**2 - 1.0) / 91.1876)
    assert not ss.measured[4]
    path = write_corrections(tmp_path / "egm.json", {"bdt": ss})
    # correctionlib's own validator reads it
    out = subprocess.run([str(Path(sys.executable).with_name("correction")), "summary",
                          str(path)], check=False, capture_output=True, text=True)
    assert out.returncode == 0 and "EGMScale_bdt" in out.stdout
    app = CorrectionApplier(path, "bdt")
    e = app.scale(np.full(3, 100.0), np.array([0.3, 1.0, 2.3]), np.full(3, 40.0))
    np.testing.assert_allclose(e, 100.0 * np.array([ss.scale[0], ss.scale[1], 1.0]))
    up = CorrectionApplier(path, "bdt", syst="up")
    assert up.scale(np.array([100.0]), np.array([0.3]), np.array([40.0]))[0] > e[0]
    with pytest.raises(KeyError, match="EGMScale_cnn"):
        CorrectionApplier(path, "cnn")
    # smearing: the relative spread of the smeared energies is the stored Δ
    n = 200_000
    sm = app.smear(np.full(n, 50.0), np.full(n, 0.3), np.full(n, 40.0), np.arange(n),
                   np.zeros(n, int))
    assert np.std(sm / 50.0) == pytest.approx(ss.smearing[0], rel=0.01)


def test_deterministic_normals_do_not_depend_on_chunking():
    ev = np.arange(10_000, dtype=np.uint64)
    idx = np.tile([0, 1], 5000)
    whole = deterministic_normal(ev, idx, 3)
    parts = np.concatenate([deterministic_normal(ev[a:a + 999], idx[a:a + 999], 3)
                            for a in range(0, 10_000, 999)])
    np.testing.assert_array_equal(whole, parts)
    assert abs(whole.mean()) < 0.04 and abs(whole.std() - 1) < 0.03
    assert not np.array_equal(whole, deterministic_normal(ev, idx, 4))


def test_pileup_weights_match_the_data_profile(tmp_path):
    files = {}
    for kind, seed in (("mc", 21), ("data", 22)):
        files[kind] = tmp_path / f"{kind}.root"
        assert main(["generate", "--process", "zee", "--events", "300", "--seed", str(seed),
                     "--kind", kind, "--out", str(files[kind]),
                     "--no-standard-calibration"]) == 0
    import uproot

    path = write_pileup_correction(tmp_path / "pu.json", [files["data"]], [files["mc"]])
    mu_mc = uproot.open(files["mc"])["Events"]["Pileup_nTrueInt"].array(library="np")
    mu_d = uproot.open(files["data"])["Events"]["Pileup_nTrueInt"].array(library="np")
    w = PileupWeights(path)(mu_mc)
    assert np.average(mu_mc, weights=w) == pytest.approx(mu_d.mean(), abs=0.5)
    assert np.all(w[(mu_mc > 45)] == 0)  # data-like profile ends at 40
    assert normalisation(None, 1.0, 10.0) == 1.0
    assert normalisation(2.0, 3.0, 6.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="xsec"):
        normalisation(-1.0, 3.0, 6.0)
