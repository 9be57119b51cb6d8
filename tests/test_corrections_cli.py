"""``calocoffea corrections`` and ``calocoffea pileup``: inputs checked, errors from the fit
covariances, the propagated uncertainty of the corrections (issue 21)."""

from __future__ import annotations

import json

import correctionlib
import numpy as np
import pytest

from calocoffea.app.cli import main
from calocoffea.constants import MZ_GEV
from calocoffea.corrections import correction_errors, derive


def _results(kind, alpha, sigma, cov_alpha=None, cov_s2=None):
    es = {"alpha": alpha, "alpha_error": [0.01] * 5}
    rs = {"sigma": sigma, "sigma_error": [0.05] * 5}
    if cov_alpha is not None:
        es["covariance"] = cov_alpha
    if cov_s2 is not None:
        rs["sigma2_covariance"] = cov_s2
    return {"channel": "zee", "kind": kind,
            "mass": {"eta_shift": {"bdt": es}, "resolution": {"bdt": rs}}}


def test_errors_come_from_the_covariance_diagonal():
    cov = np.diag([1e-6, 4e-6, 9e-6, 1e-6, 1e-6]).tolist()
    cov_s2 = np.diag([0.04, 0.04, 0.04, 0.04, 0.04]).tolist()  # δ(σ²) = 0.2 GeV²
    mc = _results("mc", [0.0] * 5, [1.0] * 5, cov, cov_s2)
    data = _results("data", [0.0] * 5, [1.0] * 5, cov, cov_s2)
    ss = derive(mc, data, "bdt")
    np.testing.assert_allclose(ss.scale_error, np.sqrt(2) * np.sqrt(np.diag(cov)))
    # smearing 0 within errors: δΔ = 2/m_Z √δx with δx = 2 hypot(σ_d δσ_d, σ_MC δσ_MC),
    # δσ = δ(σ²)/(2σ) = 0.1
    np.testing.assert_allclose(ss.smearing_error, 2 / MZ_GEV * np.sqrt(2 * np.hypot(0.1, 0.1)))
    d_mu, d_sigma = correction_errors(ss, [(0, 0), (0, 1)], np.array([1.5, 1.5]))
    assert d_mu[0] == pytest.approx(MZ_GEV * ss.scale_error[0])
    assert d_mu[1] == pytest.approx(0.5 * MZ_GEV * np.hypot(ss.scale_error[0],
                                                          ss.scale_error[1]))
    assert np.all(d_sigma > 0)
    with pytest.raises(ValueError, match="kind"):
        derive(data, mc, "bdt")


def test_corrections_command(tmp_path, capsys):
    mc = _results("mc", [0.01, 0.0, None, 0.0, 0.0], [1.0, 1.1, 2.0, 1.5, 1.4])
    data = _results("data", [0.02, -0.01, None, 0.0, 0.0], [1.2, 1.0, 2.3, 1.6, 1.4])
    (tmp_path / "mc.json").write_text(json.dumps(mc))
    (tmp_path / "data.json").write_text(json.dumps(data))
    out = tmp_path / "egm.json"
    assert main(["corrections", "--mc", str(tmp_path / "mc.json"), "--data",
                 str(tmp_path / "data.json"), "--out", str(out)]) == 0
    assert "4 of 5 |eta| bins measured" in capsys.readouterr().out
    cset = correctionlib.CorrectionSet.from_file(str(out))
    s = cset["EGMScale_bdt"]
    assert s.evaluate("nominal", 0.3, 40.0) == pytest.approx(1.02 / 1.01)
    assert s.evaluate("up", 0.3, 40.0) > s.evaluate("nominal", 0.3, 40.0) > s.evaluate(
        "down", 0.3, 40.0)
    assert s.evaluate("nominal", 1.45, 40.0) == 1.0  # not measured: no correction
    # swapped inputs: a clear error naming the kinds, nothing written
    bad = tmp_path / "bad.json"
    assert main(["corrections", "--mc", str(tmp_path / "data.json"), "--data",
                 str(tmp_path / "mc.json"), "--out", str(bad)]) == 2
    assert "kind" in capsys.readouterr().err and not bad.exists()


def test_pileup_command_refuses_wrong_kinds(tmp_path, capsys):
    missing = tmp_path / "nope.hist.zip"
    assert main(["pileup", "--data", str(missing), "--mc", str(missing), "--out",
                 str(tmp_path / "pu.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_flat_outputs_reads_both_output_forms():
    from calocoffea.weights import flat_outputs

    flat = {"mass": 1, "meta": {"kind": "mc"}}
    assert flat_outputs(flat) == [flat]
    assert flat_outputs({"zee_mc": flat, "zee_data": {"meta": {"kind": "data"}}})[1] == {
        "meta": {"kind": "data"}}
    with pytest.raises(KeyError, match="not a processor output"):
        flat_outputs({"cutflow": {}})
