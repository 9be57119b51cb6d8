"""``calocoffea fit`` on a small processor-like output written with the safe output format
(calocoffea.execution.outputs)."""

import json

import numpy as np
import pytest

from calocoffea.app import cli
from calocoffea.execution.outputs import save_output as save
from calocoffea.fitting import toys
from calocoffea.histograms import book_response

pytest.importorskip("zfit")


@pytest.fixture(scope="module")
def output_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fit") / "zee.hist.zip"
    # one calibration in the mass histogram keeps the number of fits small
    mass = toys.zee_toy_mass_hist(40_000, [0.0] * 5, [0.02] * 5, seed=4, calibrations=("bdt",))
    response = book_response()
    rng = np.random.default_rng(4)
    for calib, width in (("bdt", 0.03), ("cnn", 0.024)):
        n = 20_000
        response.fill(
            calibration=calib,
            particle="electron",
            abseta=rng.uniform(0, 2.4, n),
            et=rng.uniform(20, 100, n),
            mu=rng.uniform(15, 70, n),
            response=rng.normal(1.0, width, n),
        )
    save(
        {
            "response": response,
            "mass": mass,
            "cutflow": {"all": 30_000},
            "meta": {"channel": "zee", "kind": "mc"},
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def results(output_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("fitres") / "results.json"
    # a high entry threshold keeps the test fast: only the biggest categories are fitted
    rc = cli.main(["fit", str(output_file), "--out", str(out), "--min-entries", "4000"])
    assert rc == 0
    return json.loads(out.read_text())


@pytest.mark.slow
def test_fit_command_writes_documented_json(results):
    res = results
    assert res["schema_version"] == 1 and res["channel"] == "zee"
    mass = res["mass"]
    assert set(mass["fits"]) == {"bdt"} and len(mass["fits"]["bdt"]) == 15
    skipped = [f for f in mass["fits"]["bdt"] if f["status"] == "skipped"]
    assert skipped and all(not f["accepted"] and f["reason"] for f in skipped)
    fitted = [f for f in mass["fits"]["bdt"] if f["status"] == "ok"]
    assert fitted and {"mu", "sigma", "alpha", "n"} <= set(fitted[0]["values"])
    assert set(mass["eta_shift"]) == {"bdt"} and len(mass["fits_eta_shifted"]["bdt"]) == 15
    assert len(mass["resolution"]["bdt"]["sigma"]) == 5
    assert mass["summary"]["inclusive"]["bdt"]["accepted"]
    wmean = mass["summary"]["categories_fits"]["weighted_mean_sigma"]["bdt"]
    assert wmean["n"] >= 1 and wmean["value"] > 0
    # the toy sits at <mu> = 30: one <mu> bin is fitted, the empty ones are skipped
    by_mu = mass["inclusive_by_mu"]
    assert len(by_mu["mu_edges"]) == 6 and len(by_mu["bdt"]) == 5
    assert [f["status"] for f in by_mu["bdt"]].count("ok") == 1
    # eIQR of the response: the toy CNN is 20 % narrower than the BDT
    reiqr = res["response"]["reiqr_cnn_vs_bdt"]["electron"]["reiqr75"]
    assert abs(reiqr - 0.2) < 0.03


def test_fit_command_rejects_bad_input(tmp_path, capsys):
    missing = tmp_path / "nope.hist.zip"
    assert cli.main(["fit", str(missing), "--out", str(tmp_path / "r.json")]) == 1
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.hist.zip"
    save({"mass": 3, "meta": {"channel": "zzz"}}, bad)
    assert cli.main(["fit", str(bad), "--out", str(tmp_path / "r.json")]) == 1
    assert "zzz" in capsys.readouterr().err


@pytest.mark.slow
def test_unconstrained_bins_are_reported_not_invented(results):
    shift = results["mass"]["eta_shift"]["bdt"]
    cats = results["mass"]["categories"]
    accepted = [cats[k] for k, f in enumerate(results["mass"]["fits"]["bdt"]) if f["accepted"]]
    # only (0,1), (0,3), (0,4) pass 4000 entries ((0,0) has 3923): three equations for
    # α0+α1, α0+α3, α0+α4, four unknowns, so no α_i is determined on its own; bin 2 is seen
    # by no accepted category at all. (Before the rank check all but bin 2 were reported
    # identified, with α values that were one arbitrary solution of the three equations.)
    assert accepted == [[0, 1], [0, 3], [0, 4]]
    assert shift["identified"] == [False] * 5
    assert shift["alpha"] == [None] * 5 and shift["alpha_error"] == [None] * 5
    assert shift["alpha_applied"] == [0.0] * 5


def _hgamgam_output(path):
    from calocoffea import binning
    from calocoffea.histograms import book_mass

    rng = np.random.default_rng(6)
    mass = book_mass("hgamgam", len(binning.eta_pair_categories()))
    m = rng.normal(125.0, 1.6, 6_000)
    mass.fill(calibration="bdt", etacat=np.zeros(m.size, int), mu=np.full(m.size, 30.0), mass=m)
    save({"mass": mass, "cutflow": {}, "meta": {"channel": "hgamgam", "kind": "mc"}}, path)
    return path


@pytest.mark.slow
def test_fit_command_model_option(tmp_path, capsys):
    path = _hgamgam_output(tmp_path / "hgg.hist.zip")
    out = tmp_path / "r.json"
    assert cli.main(["fit", str(path), "--out", str(out), "--model", "bwcb",
                     "--no-progress"]) == 1
    assert "'bwcb' is not one of hgamgam's ['dscb', 'double_gauss']" in capsys.readouterr().err
    assert not out.exists()
    assert cli.main(["fit", str(path), "--out", str(out), "--model", "double_gauss",
                     "--no-mu-fits", "--no-progress"]) == 0
    res = json.loads(out.read_text())["mass"]
    assert res["model"] == "double_gauss" and res["inclusive"]["bdt"]["model"] == "double_gauss"
    assert res["inclusive"]["bdt"]["accepted"]
    assert res["sigma_eff"]["bdt"]["sigma_eff"] == pytest.approx(1.6, rel=0.05)
