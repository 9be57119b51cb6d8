"""Per-object σ_E models (calocoffea.sigma): the dressed-electron reference, training and
ONNX export on real simulated files, the processors' use of the models (and their refusal of
a model trained for other calibration models), pulls against both references."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from calocoffea import sigma as sm
from calocoffea.uncertainty import pull_summary

pytestmark = pytest.mark.xdist_group("sigma")


@pytest.fixture(scope="module")
def zee_files(tmp_path_factory) -> dict[str, Path]:
    from calocoffea.sim.generate import generate_file

    d = tmp_path_factory.mktemp("sigma_zee")
    out = {}
    for tag, n, seed in (("train", 2500, 4301), ("test", 2500, 4302)):
        out[tag] = d / f"zee_{tag}.root"
        generate_file(out[tag], "zee", kind="mc", n_events=n, seed=seed)
    return out


def _events(path: Path):
    from coffea.nanoevents import NanoEventsFactory

    from calocoffea.schema import CaloNanoAODSchema

    return NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=CaloNanoAODSchema,
                                       mode="eager").events()


def test_dressed_energy_adds_the_electrons_own_collinear_fsr(zee_files):
    from calocoffea.constants import DRESSING_DR
    from calocoffea.energies import dressed_true_energy, true_energy

    ev = _events(zee_files["test"])
    obj = ev.Electron[ev.Electron.genPartIdx >= 0]
    dressed = dressed_true_energy(obj, ev)
    bare, _ = true_energy(obj)
    # reference: a plain loop over the generator record
    gp = ak.to_list(ev.GenPart[["pdgId", "genPartIdxMother", "pt", "eta", "phi"]])
    idx = ak.to_list(obj.genPartIdx)
    expect = []
    for parts, gens in zip(gp, idx, strict=True):
        for g in gens:
            e = 0.0
            for p in parts:
                if p["pdgId"] == 22 and p["genPartIdxMother"] == g:
                    dphi = (p["phi"] - parts[g]["phi"] + np.pi) % (2 * np.pi) - np.pi
                    if np.hypot(p["eta"] - parts[g]["eta"], dphi) < DRESSING_DR:
                        e += p["pt"] * np.cosh(p["eta"])
            expect.append(e)
    np.testing.assert_allclose(dressed - bare, expect, rtol=1e-6, atol=1e-6)
    # Z->ee has collinear FSR on a good fraction of the electrons, never negative
    frac = np.mean(np.asarray(expect) > 0)
    assert 0.05 < frac < 0.5, frac
    assert np.all(dressed >= bare)


@pytest.fixture(scope="module")
def trained(zee_files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sigma_models")
    cfg = sm.SigmaTrainingConfig(electron=[zee_files["train"]], out=out,
                                 calibrations=("bdt", "cnn"), n_estimators=150, seed=3)
    # a small sample: conformal groups from 100 validation objects (the default needs 1000)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sm, "MIN_CONFORMAL_OBJECTS", 100)
        mp.setattr(sm, "MIN_ET_CORRECTION_OBJECTS", 100)
        cards = sm.train_sigma_models(cfg)
    assert set(cards["electron"]) == {"bdt", "cnn"}
    return out


def test_trained_models_and_cards(trained):
    for cal in ("bdt", "cnn"):
        _, card_path = sm.model_paths(trained, cal, "electron")
        card = json.loads(card_path.read_text())
        assert card["features"] == sm.feature_names(cal, "electron")
        assert card["onnx_vs_xgboost_max_rel_diff"] < 1e-4
        assert "bdt_electron.onnx" in card["trained_for"]
        assert ("deepcalo_electron.onnx" in card["trained_for"]) == (cal == "cnn")
        groups = card["conformal"]["groups"]
        assert set(groups) == {"all/all", "zee/all"}  # Z->ee selection, electrons
        for g in groups.values():
            k = np.asarray(g["k"])
            assert k.shape == (5, 1) and np.all((k > 0.3) & (k < 3.0))
            assert sum(map(sum, g["n"])) >= 100
        assert card["training"]["n_train"] > 1500 and card["training"]["n_validation"] > 300
        assert card["training"]["samples"][0]["selection"] == "zee"
        assert "calocoffea train sigma" in card["reproduce"]
        # the shipped loader accepts it and predicts a physical relative width
        model = sm.load_sigma_model(trained, cal, "electron")
        assert model.card["name"] == f"sigma_{cal}_electron"


def _run(proc, path):
    from processors.base import StandardOnlyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StandardOnlyWarning)
        out = proc.postprocess(proc.process(_events(path)))
    (dataset,) = out.values()
    return dataset


def test_processor_uses_the_models_and_covers_on_an_independent_file(trained, zee_files):
    from processors.zee import ZeeProcessor

    proc = ZeeProcessor(calibrations=("bdt", "cnn", "truth"), sigma_models=trained)
    out = _run(proc, zee_files["test"])
    sources = " ".join(out["meta"]["sigma_source"])
    assert "sigma_bdt_electron.onnx" in sources and "sigma_cnn_electron.onnx" in sources
    summary = pull_summary(out["pull"], min_objects=10**9)["electron"]
    for cal in ("bdt", "cnn"):
        dressed = summary[cal]["inclusive"]
        bare = summary[cal]["other_references"]["bare"]
        assert dressed["n"] > 2000
        # calibrated on another file: 68 % of the pulls inside ±1 (binomial error ~1 %)
        assert abs(dressed["coverage68"] - 0.6827) < 0.04, dressed
        assert abs(dressed["coverage95"] - 0.9545) < 0.03, dressed
        # the bare reference has the one-sided collinear-FSR tail the dressing removes
        assert bare["coverage95"] < dressed["coverage95"] - 0.02, (bare, dressed)
    cf = out["cutflow"]
    assert "no cnn sigma: non-finite sigma-model inputs" in cf


def test_a_model_for_other_calibration_models_is_not_used(trained, zee_files, tmp_path):
    from processors.zee import ZeeProcessor

    # another CNN than the one the σ model was trained for: its own σ is used, and said
    proc = ZeeProcessor(calibrations=("bdt", "cnn"), sigma_models=trained,
                        model_path=_perturbed_cnn(tmp_path))
    src = dict(s.split(": ", 1) for s in
               (f"{c}: {v[1]}" for c, v in proc.sigma_models.items()))
    assert src["bdt"].startswith("sigma model sigma_bdt_electron.onnx")
    assert src["cnn"].startswith("CNN sigma_prime") and "trained for other" in src["cnn"]
    # a directory given explicitly must hold the models; a card with other features fails
    with pytest.raises(FileNotFoundError):
        ZeeProcessor(calibrations=("bdt",), sigma_models=tmp_path / "absent")
    bad = tmp_path / "bad"
    shutil.copytree(trained, bad)
    card = json.loads((bad / "sigma_bdt_electron.json").read_text())
    card["features"] = card["features"][:-1]
    (bad / "sigma_bdt_electron.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="features"):
        ZeeProcessor(calibrations=("bdt",), sigma_models=bad)
    off = ZeeProcessor(calibrations=("bdt", "cnn"), sigma_models="none")
    assert all("sigma models off" in v[1] for v in off.sigma_models.values())


def _shipped_cnn() -> Path:
    from calocoffea.energies import cnn_model_path

    return cnn_model_path("electron")


def _perturbed_cnn(tmp_path: Path) -> Path:
    """The shipped CNN with one weight changed by 1e-4: another model file."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(_shipped_cnn()))
    init = next(i for i in m.graph.initializer if numpy_helper.to_array(i).size > 10)
    arr = numpy_helper.to_array(init).copy()
    arr.flat[0] += 1e-4
    init.CopyFrom(numpy_helper.from_array(arr, init.name))
    path = tmp_path / "perturbed" / "deepcalo_electron.onnx"
    path.parent.mkdir()
    onnx.save(m, str(path))
    card = json.loads(_shipped_cnn().with_suffix(".json").read_text())
    card["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    assert card["sha256"] != hashlib.sha256(_shipped_cnn().read_bytes()).hexdigest()
    path.with_suffix(".json").write_text(json.dumps(card))
    return path


def _constant_sigma_model(directory: Path, cal: str, particle: str, value: float) -> Path:
    """A σ-model tree ensemble (one tree, one leaf of weight 0, base ``value``) returning
    ``value`` for every object, with a card."""
    import onnx
    from onnx import TensorProto, helper

    names = sm.feature_names(cal, particle)
    node = helper.make_node(
        "TreeEnsembleRegressor", ["features"], [sm.OUTPUT_NAME], domain="ai.onnx.ml",
        n_targets=1, nodes_treeids=[0], nodes_nodeids=[0], nodes_featureids=[0],
        nodes_values=[0.0], nodes_modes=["LEAF"], nodes_truenodeids=[0],
        nodes_falsenodeids=[0], nodes_missing_value_tracks_true=[0], target_treeids=[0],
        target_nodeids=[0], target_ids=[0], target_weights=[0.0], base_values=[value],
        post_transform="NONE")
    graph = helper.make_graph(
        [node], "const", [helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                                        [None, len(names)])],
        [helper.make_tensor_value_info(sm.OUTPUT_NAME, TensorProto.FLOAT, [None, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15),
                                                    helper.make_opsetid("ai.onnx.ml", 3)])
    onnx_path, card_path = sm.model_paths(directory, cal, particle)
    onnx.save(model, str(onnx_path))
    card_path.write_text(json.dumps({"name": onnx_path.stem, "features": names}))
    return onnx_path


@pytest.mark.parametrize("value", [5.0, -0.01, float("nan")])
def test_unphysical_sigma_outputs_are_nan_and_counted(tmp_path, zee_files, value):
    from calocoffea.bdt.columns import object_columns
    from calocoffea.energies import bdt_model_energy, standard_energy

    _constant_sigma_model(tmp_path, "bdt", "electron", value)
    model = sm.load_sigma_model(tmp_path, "bdt", "electron")
    ev = _events(zee_files["test"])
    obj = ev.Electron[ev.Electron.clusterIdx >= 0]
    e_bdt, _ = bdt_model_energy(obj, "electron", standard_energy(obj), "bdt")
    mu = np.repeat(ak.to_numpy(ev.Pileup.nTrueInt), ak.to_numpy(ak.num(obj)))
    sigma, code = model.sigma(object_columns(obj, "electron"), energy=e_bdt, e_bdt=e_bdt,
                              eta=ak.to_numpy(ak.flatten(obj.eta)), mu=mu)
    assert len(sigma) > 100 and np.all(np.isnan(sigma))
    assert np.all(code == sm.BAD_OUTPUT)
    # a physical constant passes through as σ_E = value · E
    _constant_sigma_model(tmp_path, "bdt", "electron", 0.02)
    good = sm.load_sigma_model(tmp_path, "bdt", "electron")
    s2, c2 = good.sigma(object_columns(obj, "electron"), energy=e_bdt, e_bdt=e_bdt,
                        eta=ak.to_numpy(ak.flatten(obj.eta)), mu=mu)
    np.testing.assert_allclose(s2, 0.02 * e_bdt, rtol=1e-6)
    assert np.all(c2 == 0)


def test_conformal_factors_per_channel_group_with_fallback():
    rng = np.random.default_rng(1)
    n = 6000
    abseta = rng.uniform(0, 2.4, n)
    et = rng.uniform(20, 80, n)
    conv = np.where(rng.random(n) < 0.5, "converted", "unconverted")
    chan = np.where(rng.random(n) < 0.5, "hgamgam", "zmumugamma")
    # |E - E_ref|/(E q) half-normal, twice as wide for Z->mumuy objects
    ratio = np.abs(rng.normal(0, 1, n)) * np.where(chan == "zmumugamma", 2.0, 1.0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sm, "MIN_CONFORMAL_OBJECTS", 200)
        table = sm.conformal_table(ratio, abseta, et, conv, chan)
    assert {"all/converted", "hgamgam/converted", "zmumugamma/unconverted"} <= set(table["groups"])
    card = {"conformal": table}
    k_h = sm.conformal_factor(card, abseta, et, conv, "hgamgam")
    k_z = sm.conformal_factor(card, abseta, et, conv, "zmumugamma")
    k_other = sm.conformal_factor(card, abseta, et, conv, "zee")  # no group: the "all" one
    assert abs(np.median(k_h) - 1.0) < 0.1 and abs(np.median(k_z) - 2.0) < 0.2
    assert 1.2 < np.median(k_other) < 1.8
    # with the factors, 68.27 % of each channel's objects have |pull| < 1
    for c, k in (("hgamgam", k_h), ("zmumugamma", k_z)):
        m = chan == c
        assert abs(np.mean(ratio[m] < k[m]) - 0.6827) < 0.03


def test_conformal_et_correction_fixes_an_et_dependence_the_eta_factors_miss():
    rng = np.random.default_rng(2)
    n = 40000
    abseta = rng.uniform(0, 2.4, n)
    et = np.where(rng.random(n) < 0.1, rng.uniform(80, 400, n), rng.uniform(20, 80, n))
    conv = np.where(rng.random(n) < 0.5, "converted", "unconverted")
    chan = np.where(rng.random(n) < 0.7, "hgamgam", "zmumugamma")
    # the quantile model over-covers high-E_T objects by 20 % (their ratio is 0.8x), and
    # Z->mumuy has (almost) no high-E_T objects of its own
    et[(chan == "zmumugamma") & (et > 80)] = 50.0
    ratio = np.abs(rng.normal(0, 1, n)) * np.where(et > 80, 0.8, 1.0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sm, "MIN_CONFORMAL_OBJECTS", 500)
        mp.setattr(sm, "MIN_ET_CORRECTION_OBJECTS", 500)
        table = sm.conformal_table(ratio, abseta, et, conv, chan)
        eta_only = sm.eta_factors(ratio, abseta, et, conv, chan)
    corr = table["et_correction"]
    assert corr["et_edges"] == list(sm.CONFORMAL_ET_CORRECTION_EDGES)
    high = [j for j, lo in enumerate(corr["et_edges"][:-1]) if lo >= 80]
    # Z->mumuy's sparse high-E_T bins take those of every channel, and say so
    for j in high:
        assert corr["channels"]["zmumugamma"]["n"][j] == 0
        assert corr["channels"]["zmumugamma"]["source"][j] in ("all", "none")
    card = {"conformal": table}
    for c in ("hgamgam", "zmumugamma"):
        m = chan == c
        k = sm.conformal_factor(card, abseta[m], et[m], conv[m], c)
        k0 = sm.conformal_factor({"conformal": eta_only}, abseta[m], et[m], conv[m], c)
        for lo, hi in ((20, 80), (80, 400)):
            b = (et[m] >= lo) & (et[m] < hi)
            if b.sum() < 1000:
                continue
            cov = np.mean(ratio[m][b] < k[b])
            assert abs(cov - 0.6827) < 0.02, (c, lo, cov)
            if lo == 80:  # the |eta| factors alone over-cover these objects
                assert np.mean(ratio[m][b] < k0[b]) > 0.72
    # a table without the correction (a card of an earlier model) keeps r = 1: k r = k · r
    bare = sm.conformal_factor({"conformal": {**table, "et_correction": None}}, abseta, et,
                               conv, chan)
    r = sm.conformal_factor(card, abseta, et, conv, chan) / bare
    assert np.ptp(r) > 0.1 and np.all(np.isin(np.round(r, 5), np.round(
        [v for row in corr["channels"].values() for v in row["r"]], 5)))


def test_recalibration_keeps_the_model_and_adds_conformal_only_objects(trained, zee_files,
                                                                       tmp_path):
    from calocoffea.sim.generate import generate_file

    extra = tmp_path / "zee_conformal.root"
    generate_file(extra, "zee", kind="mc", n_events=1500, seed=4303)
    out = tmp_path / "recal"
    cfg = sm.SigmaTrainingConfig(electron=[zee_files["train"]], electron_conformal=[extra],
                                 recalibrate=trained, out=out, calibrations=("bdt",),
                                 n_estimators=150, seed=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sm, "MIN_CONFORMAL_OBJECTS", 100)
        with pytest.raises(ValueError, match="overwrite"):
            sm.train_sigma_models(sm.SigmaTrainingConfig(**{**cfg.__dict__, "out": trained}))
        with pytest.raises(ValueError, match="not on the samples"):
            sm.train_sigma_models(sm.SigmaTrainingConfig(
                **{**cfg.__dict__, "electron": [zee_files["test"]]}))
        with pytest.raises(ValueError, match="split seed"):
            sm.train_sigma_models(sm.SigmaTrainingConfig(**{**cfg.__dict__, "seed": 4}))
        card = sm.train_sigma_models(cfg)["electron"]["bdt"]
    old_onnx, old_card_path = sm.model_paths(trained, "bdt", "electron")
    new_onnx, new_card_path = sm.model_paths(out, "bdt", "electron")
    assert new_onnx.read_bytes() == old_onnx.read_bytes()
    old = json.loads(old_card_path.read_text())
    assert json.loads(new_card_path.read_text()) == card
    t, t0 = card["training"], old["training"]
    # the same fit and split; the conformal set adds every object of the extra file
    assert (t["n_train"], t["n_validation"]) == (t0["n_train"], t0["n_validation"])
    assert [s.get("use") for s in t["samples"]] == [None, "conformal factors only"]
    n_extra = t["samples"][1]["n_objects"]
    assert n_extra > 500 and t["n_conformal"] == t0["n_validation"] + n_extra
    assert card["validation"]["reference"]["inclusive"]["n"] == t["n_conformal"]
    assert "--electron-conformal" in card["reproduce"] and "recalibrated" in card
    # the processor loads it
    assert sm.load_sigma_model(out, "bdt", "electron").card["conformal"]["et_correction"]


def test_recalibration_on_conformal_samples_alone_with_a_pt_sliced_one(trained, zee_files,
                                                                         tmp_path):
    from calocoffea.sim.generate import generate_file
    from calocoffea.sim.processes import complete_above_et

    incl, sliced = tmp_path / "zee_conformal.root", tmp_path / "zee_sliced.root"
    generate_file(incl, "zee", kind="mc", n_events=1500, seed=4304)
    generate_file(sliced, "zee", kind="mc", n_events=800, seed=4305,
                  gun_options={"boson_pt_min": 60.0})
    floor = complete_above_et("zee", 60.0)
    out = tmp_path / "recal"
    cfg = sm.SigmaTrainingConfig(electron_conformal=[incl, sliced], recalibrate=trained,
                                 out=out, calibrations=("bdt",), n_estimators=150, seed=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sm, "MIN_CONFORMAL_OBJECTS", 100)
        mp.setattr(sm, "MIN_ET_CORRECTION_OBJECTS", 50)
        with pytest.raises(ValueError, match="need the training samples"):
            sm.train_sigma_models(sm.SigmaTrainingConfig(**{**cfg.__dict__,
                                                            "recalibrate": None}))
        with pytest.raises(ValueError, match="only be a conformal-only sample"):
            sm.train_sigma_models(sm.SigmaTrainingConfig(
                **{**cfg.__dict__, "electron": [sliced], "electron_conformal": [incl]}))
        with pytest.raises(ValueError, match="sliced samples alone"):
            sm.train_sigma_models(sm.SigmaTrainingConfig(
                **{**cfg.__dict__, "electron_conformal": [sliced]}))
        card = sm.train_sigma_models(cfg)["electron"]["bdt"]
    old_onnx, old_card_path = sm.model_paths(trained, "bdt", "electron")
    assert sm.model_paths(out, "bdt", "electron")[0].read_bytes() == old_onnx.read_bytes()
    old = json.loads(old_card_path.read_text())
    t = card["training"]
    # the booster's own sample is listed, then the two conformal-only ones
    assert [s.get("use", "")[:7] for s in t["samples"]] == ["", "conform", "E_T cor"]
    assert t["samples"][0]["sha256"] == old["training"]["samples"][0]["sha256"]
    assert t["samples"][2]["boson_pt_min"] == 60.0
    assert t["samples"][2]["complete_above_et"] == pytest.approx(floor, abs=1e-3)
    n_incl, n_sliced = t["samples"][1]["n_objects"], t["samples"][2]["n_objects"]
    assert t["n_conformal"] == n_incl + n_sliced and t["n_train"] == old["training"]["n_train"]
    # the |eta| factors and the validation pulls see the inclusive sample alone
    assert card["validation"]["reference"]["inclusive"]["n"] == n_incl
    assert sum(map(sum, card["conformal"]["groups"]["all/all"]["n"])) == n_incl
    # the sliced objects enter only the E_T bins above (1 + margin) x where it is complete
    row = card["conformal"]["et_correction"]["channels"]["zee"]
    edges = card["conformal"]["et_correction"]["et_edges"]
    for j, lo in enumerate(edges[:-1]):
        if lo < (1 + sm.SLICED_MARGIN) * floor:
            assert row["n_sliced"][j] == 0
    assert row["n_sliced"][-1] > 20 and row["n"][-1] > row["n_sliced"][-1]
    assert card["reproduce"] == old["reproduce"]
    assert "--recalibrate" in card["recalibration_command"]
    assert "--electron-conformal" in card["recalibration_command"]


def test_true_et_binned_correction_covers_true_bins_at_a_kinematic_edge():
    """A falling spectrum (e-folding 8 GeV) ending at 45 GeV, as the Z->mumugamma photons'
    at their FSR edge, measured with an exact σ = 8 %: binned in true E_T, each true bin is
    covered at 68.27 %; binned in reco E_T, the 40-50 GeV objects are mostly upward
    fluctuations (median pull ≈ +0.6), r grows and the true 40-50 GeV bin is over-covered."""
    rng = np.random.default_rng(11)
    et_true = 5.0 + rng.exponential(8.0, 1_000_000)
    et_true = et_true[et_true < 45.0]
    n = len(et_true)
    et = et_true * (1 + 0.08 * rng.normal(0, 1, n))
    ratio = np.abs(et - et_true) / (0.08 * et)  # |E - E_ref|/(E q̂): q̂ exact
    chan = np.full(n, "zmumugamma")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sm, "MIN_ET_CORRECTION_OBJECTS", 2000)
        true_binned = sm.et_correction(ratio, et, chan, et_true=et_true)
        reco_binned = sm.et_correction(ratio, et, chan)
    assert true_binned["binning"].startswith("true") and reco_binned["binning"].startswith("reco")
    edges = true_binned["et_edges"]
    j = edges.index(40.0)

    def coverage(table, m):
        return np.mean(ratio[m] < sm._et_factor(table, et[m], "zmumugamma"))
    for lo, hi in itertools.pairwise(edges[:5]):
        m = (et_true >= lo) & (et_true < hi)
        assert m.sum() > 5000
        assert abs(coverage(true_binned, m) - 0.6827) < 0.002, (lo, coverage(true_binned, m))
    in_bin = (et_true >= 40) & (et_true < 50)
    assert reco_binned["channels"]["zmumugamma"]["r"][j] > 1.02
    assert coverage(reco_binned, in_bin) > 0.688


def test_sliced_objects_leave_the_bins_below_their_complete_et_alone():
    rng = np.random.default_rng(9)
    n = 20000
    et = rng.uniform(20, 400, n)
    ratio = np.abs(rng.normal(0, 1, n))
    chan = np.full(n, "zee")
    floor = np.where(rng.random(n) < 0.5, 100.0, 0.0)
    # sliced objects with a wrong (doubled) ratio everywhere: they must move only the bins
    # with lower edge >= 120 GeV, where they are complete
    biased = np.where(floor > 0, 2 * ratio, ratio)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sm, "MIN_ET_CORRECTION_OBJECTS", 200)
        with_sliced = sm.et_correction(biased, et, chan, floor)
        alone = sm.et_correction(ratio[floor == 0], et[floor == 0], chan[floor == 0])
    edges = with_sliced["et_edges"]
    r, r0 = with_sliced["channels"]["zee"]["r"], alone["channels"]["zee"]["r"]
    for j, lo in enumerate(edges[:-1]):
        if lo < 120:
            assert r[j] == r0[j] and with_sliced["channels"]["zee"]["n_sliced"][j] == 0
        else:
            assert r[j] > 1.3 * r0[j]


def test_train_sigma_command_line_takes_conformal_samples_and_recalibrate():
    from calocoffea.app.cli import build_parser
    from calocoffea.app.commands.train_sigma import config_from_args

    args = build_parser().parse_args([
        "train", "sigma", "--photon", "h1.root", "z1.root", "--photon-conformal", "h2.root",
        "--recalibrate", "models", "--out", "new"])
    cfg = config_from_args(args)
    assert cfg.photon == [Path("h1.root"), Path("z1.root")]
    assert cfg.photon_conformal == [Path("h2.root")] and cfg.electron_conformal == []
    assert cfg.recalibrate == Path("models") and cfg.out == Path("new")
    cmd = sm.reproduce_command(cfg)
    assert "--photon h1.root z1.root --photon-conformal h2.root" in cmd
    assert "--recalibrate" not in cmd  # the command trains the same booster afresh
