"""summary.json entries and summary.md tables from fit results (no fitting here)."""

from pathlib import Path

import pytest

from calocoffea.app.summary import (
    _mass_entry,
    linearity,
    sample_summary,
    write_summary_markdown,
)
from calocoffea.constants import MH_GEV


def _fit(model, mu, sigma, accepted=True, chi2_ndf=1.1):
    return {"model": model, "values": {"mu": mu, "sigma": sigma}, "errors": {"sigma": 0.02},
            "accepted": accepted, "reason": "" if accepted else "chi2/ndf 12.4 > 3",
            "chi2_ndf": chi2_ndf, "status": "ok"}


def _bin(median, sigma_rel, n=1000.0):
    return {"n": n, "median": median, "median_error": 1e-4, "sigma_rel": sigma_rel,
            "sigma_rel_error": 1e-4, "eiqr75": 0.02, "sigma68": 0.02, "sigma68_error": 1e-4}


def _result():
    response = {}
    for cal, scale in (("bdt", 0.99), ("cnn", 1.0)):
        inc = {**_bin(scale, 0.013), "eiqr75_error": 1e-4, "eiqr95": 0.03, "sigma68": 0.018}
        response[cal] = {"photon": {"inclusive": inc, "abseta": [_bin(scale, 0.012)] * 5,
                                    "et": [_bin(scale, 0.02)] * 8, "mu": [_bin(scale, 0.01)] * 5}}
    return {
        "mass": {
            "model": "dscb",
            "inclusive": {"bdt": _fit("dscb", 125.3, 1.6), "cnn": _fit("dscb", 124.9, 1.4),
                          "truth": _fit("dscb", 125.0, 0.18, accepted=False, chi2_ndf=12.4)},
            "sigma_eff": {"bdt": {"sigma_eff": 1.7, "sigma_eff_err": 0.02},
                          "cnn": {"sigma_eff": 1.5, "sigma_eff_err": 0.02},
                          "truth": {"sigma_eff": 0.19, "sigma_eff_err": 0.002}},
        },
        "response": response,
    }


def test_mass_entry_of_the_dscb_gives_the_shift_from_mh_chi2_and_sigma_eff():
    entry = _mass_entry(_fit("dscb", 125.3, 1.6), "hgamgam",
                        {"sigma_eff": 1.7, "sigma_eff_err": 0.02})
    assert entry["model"] == "dscb"
    assert entry["mu_cb"] == pytest.approx(125.3 - MH_GEV)
    assert entry["sigma_cb"] == 1.6 and entry["chi2_ndf"] == 1.1
    assert entry["sigma_eff"] == 1.7 and entry["sigma_eff_err"] == 0.02
    # the BW x CB mu is already a shift; the double Gaussian's is absolute
    assert _mass_entry(_fit("bwcb", 0.2, 1.6), "zee")["mu_cb"] == 0.2
    assert _mass_entry(_fit("double_gauss", 125.5, 1.6), "hgamgam")["mu_cb"] == pytest.approx(
        125.5 - MH_GEV)
    # no fit: still the fit-free sigma_eff
    empty = _mass_entry(None, "hgamgam", {"sigma_eff": 1.7, "sigma_eff_err": 0.02})
    assert empty["sigma_cb"] is None and empty["sigma_eff"] == 1.7 and not empty["accepted"]


def test_sample_summary_has_sigma_eff_sigma68_and_linearity(tmp_path):
    entry = sample_summary("hgamgam", "mc", {"events": 10}, _result(), tmp_path / "x.root")
    assert entry["mass_fit"]["cnn"]["sigma_eff"] == 1.5
    assert entry["mass_fit"]["truth"]["sigma_eff"] == 0.19
    assert entry["sigma68"] == {"bdt": 0.018, "cnn": 0.018}
    lin = entry["linearity"]["photon"]
    assert set(lin) == {"bdt", "cnn"} and set(lin["bdt"]) == {"abseta", "et"}
    first_et = lin["bdt"]["et"][0]
    assert (first_et["lo"], first_et["hi"]) == (5.0, 20.0)
    assert first_et["median"] == 0.99 and first_et["sigma_rel"] == 0.02
    assert lin["cnn"]["abseta"][4]["hi"] == pytest.approx(2.47)
    assert linearity({}, "photon") == {}


def test_summary_markdown_shows_rejected_fits_as_dash_and_sigma_eff(tmp_path):
    entry = sample_summary("hgamgam", "mc", {}, _result(), tmp_path / "x.root")
    path = write_summary_markdown({"channels": {"hgamgam": {"mc": entry}}, "timings": {}},
                                  Path(tmp_path / "summary.md"))
    text = path.read_text()
    (main,) = [line for line in text.splitlines() if line.startswith("| H→γγ | MC | ")
               and line.count("|") == 8]
    # the truth fit is rejected: no width in the headline table
    assert main.rstrip().endswith("| — |") and "0.180" not in main
    assert "1.600 ± 0.020" in main and "1.400 ± 0.020" in main
    truth = next(line for line in text.splitlines() if "| truth | dscb |" in line)
    assert "12.40 | no | 0.190 ± 0.002" in truth
    cnn = next(line for line in text.splitlines() if "| cnn | dscb |" in line)
    assert "1.10 | yes | 1.500 ± 0.020 | 0.0180 ± 0.0001" in cnn


def test_summary_markdown_has_the_pull_table_on_both_references(tmp_path):
    import numpy as np

    from calocoffea import histograms
    from calocoffea.uncertainty import pull_summary, summary_entry

    rng = np.random.default_rng(11)
    h = histograms.book_pull()
    n = 20_000
    eta = rng.uniform(0.0, 2.4, n)
    h.fill(calibration="cnn", particle="electron", reference="dressed", abseta=eta, et=35.0,
           mu=30.0, pull=rng.normal(0.0, 1.0, n))
    h.fill(calibration="cnn", particle="electron", reference="bare", abseta=eta, et=35.0,
           mu=30.0, pull=rng.normal(0.0, 1.5, n))
    entry = {"uncertainty": summary_entry(pull_summary(h))}
    u = entry["uncertainty"]["electron"]
    assert u["reference"] == "dressed"
    assert abs(u["coverage95"]["cnn"] - 0.9545) < 0.01
    bare95 = u["other_references"]["bare"]["cnn"]["coverage95"]
    assert abs(bare95 - 0.818) < 0.015  # P(|z| < 2/1.5)
    text = write_summary_markdown({"channels": {"zee": {"mc": entry}}, "timings": {}},
                                  Path(tmp_path / "summary.md")).read_text()
    row = next(line for line in text.splitlines() if line.startswith("| Z→ee | electron | cnn"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    chance = u["expected_chance_misses"]["cnn"]
    assert abs(float(cells[3]) - 1.0) < 0.03
    assert cells[6] == f"0 / {u['bins_checked']['cnn']} ({chance:.1f} by chance)"
    assert cells[7] == "0"  # no pull_et_reco histogram: no calibrated-E_T bins
    assert abs(float(cells[8]) - bare95) < 1e-3 and cells[9] == "—"
