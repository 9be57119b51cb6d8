"""`calocoffea demo` end to end on tiny samples: the summary schema, the plots, the cache."""

import json

import pytest

from calocoffea.app import cli

CHANNELS = {"zee": ("mc", "data"), "zmumugamma": ("mc", "data"), "hgamgam": ("mc",)}


@pytest.mark.slow
def test_demo_writes_summary_plots_and_reuses_cache(tmp_path):
    out, cache = tmp_path / "demo", tmp_path / "cache"
    args = ["demo", "--out", str(out), "--scale", "0.02", "--cache", str(cache)]
    assert cli.main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["channels"]) == set(CHANNELS)
    for channel, kinds in CHANNELS.items():
        assert set(summary["channels"][channel]) == set(kinds)
        for kind in kinds:
            entry = summary["channels"][channel][kind]
            assert entry["n_events"] > 0 and entry["n_objects"] > 0
            assert {"bdt", "cnn"} <= set(entry["mass_fit"])
            assert ("truth" in entry["mass_fit"]) == (kind == "mc")
            assert ("reiqr75" in entry) == (kind == "mc")
            # sigma_eff needs no fit: present for every calibration, fitted or not
            assert all("sigma_eff" in fit and "chi2_ndf" in fit
                       for fit in entry["mass_fit"].values())
            assert ("sigma68" in entry and "linearity" in entry) == (kind == "mc")
    hgg = summary["channels"]["hgamgam"]["mc"]["mass_fit"]["bdt"]
    assert hgg["model"] == "dscb" and hgg["sigma_eff"] > 0
    # per-object uncertainty (MC) and sigma_m/m categories (data: the MC's boundaries)
    hgg_mc = summary["channels"]["hgamgam"]["mc"]
    assert {"bdt", "cnn"} <= set(hgg_mc["uncertainty"]["photon"]["coverage68"])
    assert {"bdt", "cnn"} <= set(hgg_mc["categories"])
    assert all("significance_gain_err" in c for c in hgg_mc["categories"].values())
    assert "uncertainty" not in summary["channels"]["zee"]["data"]
    assert summary["channels"]["zee"]["data"]["categories"]["cnn"]["chosen_on"] == "mc"
    assert (out / "plots" / "coverage_vs_abseta_hgamgam_mc.png").is_file()
    assert (out / "plots" / "coverage_vs_et_reco_zee_mc.png").is_file()  # calibrated E_T
    zee_data = summary["channels"]["zee"]["data"]["eta_shift"]
    assert len(zee_data["injected_alpha"]) == 5 and len(zee_data["bdt"]["alpha"]) == 5
    # the data-like Z->ee sample with the MC-trained and the ensemble CNN, and the classifier
    data = summary["channels"]["zee"]["data"]
    assert set(data["sigma_cb_gain"]) == {"cnn_mc", "cnn_ensemble"}
    assert 0.0 < data["mc_data_auc"] < 1.0 and data["mc_data_auc_err"] > 0
    ens = json.loads((out / "outputs" / "zee_data_cnn_ensemble.metrics.json").read_text())
    mc_trained = json.loads((out / "outputs" / "zee.metrics.json").read_text())
    assert ens["model"].endswith("deepcalo_electron_ensemble.onnx")
    assert ens["model_sha256"] != mc_trained["model_sha256"]
    assert ens["events"] == mc_trained["datasets"]["zee_data"]["events"]
    assert (out / "data_mc.json").exists()
    assert set(summary["timings"]) >= {"generate", "run", "fit", "plot", "data_mc"}
    assert "| Z→ee | MC |" in (out / "summary.md").read_text()
    pngs = {p.stem for p in (out / "plots").glob("*.png")}
    assert {"mass_zee_mc", "mass_zee_data", "mass_zmumugamma_mc", "mass_hgamgam_mc",
            "alpha_zee_data", "response_zee_mc", "eiqr_vs_mu_hgamgam_mc",
            "linearity_vs_et_hgamgam_mc", "linearity_vs_abseta_zee_mc"} <= pngs
    assert all((out / "plots" / f"{stem}.pdf").exists() for stem in pngs)
    # second run: samples come from the cache, numbers are identical
    first = (out / "summary.md").read_text().split("Timings")[0]
    stamp = {p: p.stat().st_mtime_ns for p in cache.glob("*.root")}
    assert cli.main([*args, "--no-plots"]) == 0
    assert {p: p.stat().st_mtime_ns for p in cache.glob("*.root")} == stamp
    assert (out / "summary.md").read_text().split("Timings")[0] == first
