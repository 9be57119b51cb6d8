"""Per-object energy uncertainty: the BDT resolution table (correctionlib), the CNN's σ_E
from its ``sigma_prime`` output (real onnxruntime models), pulls and coverage, the
processors' ``pull`` and ``sigma_m`` histograms, σ_m/m categories and their fits."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from calocoffea import histograms
from calocoffea import uncertainty as unc
from calocoffea.binning import ABS_ETA_EDGES, ET_EDGES, PULL_BINS

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------- resolution table
def _response_hist(widths, median=0.95, n_per_bin=4000, seed=1):
    """A processor-style response histogram: bdt electrons with response ~
    N(median, widths[i]) in |η| bin i, all in the 30-40 GeV E_T bin; bdt photons absent."""
    rng = np.random.default_rng(seed)
    h = histograms.book_response()
    for i, w in enumerate(widths):
        eta = np.full(n_per_bin, 0.5 * (ABS_ETA_EDGES[i] + ABS_ETA_EDGES[i + 1]))
        h.fill(calibration="bdt", particle="electron", abseta=eta, et=35.0, mu=30.0,
               response=rng.normal(median, w, n_per_bin))
    return h


def test_resolution_table_measures_width_and_median_and_roundtrips(tmp_path):
    widths = [0.01, 0.015, 0.04, 0.02, 0.025]
    h = _response_hist(widths)
    (entry,) = unc.derive_resolution_table(h)
    assert (entry.calibration, entry.particle) == ("bdt", "electron")
    j = ET_EDGES.index(30.0)
    np.testing.assert_allclose(entry.sigma_rel[:, j], widths, rtol=0.05)
    np.testing.assert_allclose(entry.median[:, j], 0.95, atol=0.002)
    assert entry.measured[:, j].all() and entry.measured.sum() == len(widths)
    # unmeasured E_T bins copy the measured one of their |η| row
    np.testing.assert_array_equal(entry.sigma_rel[:, 0], entry.sigma_rel[:, j])

    path = unc.write_resolution_table(tmp_path / "res.json", [entry])
    import correctionlib

    cset = correctionlib.CorrectionSet.from_file(str(path))  # valid schema v2
    assert set(cset) == {"sigma_rel_bdt_electron", "median_bdt_electron",
                         "mu_factor_bdt_electron"}
    np.testing.assert_allclose(entry.mu_factor, 1.0, atol=1e-9)  # one ⟨μ⟩ bin filled
    table = unc.ResolutionTable(path)
    energy = np.array([40.0, 40.0, -1.0, np.nan])
    eta = np.array([0.1, 1.45, 0.1, 0.1])
    sigma, code = table.sigma("bdt", "electron", energy, eta)
    # σ_E = σ_rel · E / median, in the bins of the objects
    np.testing.assert_allclose(sigma[:2], [entry.sigma_rel[0, j] * 40 / entry.median[0, j],
                                           entry.sigma_rel[2, j] * 40 / entry.median[2, j]],
                               rtol=1e-6)
    assert code.tolist() == [0, 0, unc.TABLE_BAD_ENERGY, unc.TABLE_BAD_ENERGY]
    assert np.isnan(sigma[2:]).all()
    s2, c2 = table.sigma("bdt", "photon", energy, eta)
    assert np.isnan(s2).all() and (c2 == unc.TABLE_NO_ENTRY).all()


def test_pileup_factor_follows_the_width_per_mu_bin(tmp_path):
    """Responses 1 % wide at ⟨μ⟩ 15 and 2 % at ⟨μ⟩ 70: f(⟨μ⟩) ≈ w_k / w_summed."""
    rng = np.random.default_rng(7)
    h = histograms.book_response()
    for mu, w in ((15.0, 0.01), (70.0, 0.02)):
        h.fill(calibration="bdt", particle="photon", abseta=0.3, et=45.0, mu=mu,
               response=rng.normal(1.0, w, 20_000))
    (entry,) = unc.derive_resolution_table(h)
    summed = entry.sigma_rel[0, ET_EDGES.index(40.0)]
    assert entry.mu_factor[0] == pytest.approx(0.01 / summed, rel=0.05)
    assert entry.mu_factor[-1] == pytest.approx(0.02 / summed, rel=0.05)
    table = unc.ResolutionTable(unc.write_resolution_table(tmp_path / "t.json", [entry]))
    e, eta = np.full(3, 45.0), np.full(3, 0.3)
    sig, _ = table.sigma("bdt", "photon", e, eta, np.array([15.0, 70.0, np.nan]))
    np.testing.assert_allclose(sig / 45.0, [0.01, 0.02, summed], rtol=0.06)


def test_resolution_table_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        unc.ResolutionTable(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match=r"bad\.json"):
        unc.ResolutionTable(bad)
    with pytest.raises(ValueError, match="no objects"):
        unc.derive_resolution_table(histograms.book_response())


def test_shipped_resolution_table_loads():
    from calocoffea.resources import resolution_table_path

    table = unc.ResolutionTable(resolution_table_path())
    for cal in unc.TABLE_CALIBRATIONS:
        for particle in ("electron", "photon"):
            assert table.has(cal, particle)
    sigma, code = table.sigma("bdt", "photon", np.array([60.0]), np.array([0.3]))
    assert code[0] == 0 and 0.1 < sigma[0] < 5.0  # GeV: a 0.2-8 % resolution at 60 GeV


# ----------------------------------------------------------------------- pulls, coverage
def _pull_hist(width, n=20_000, seed=2, et=35.0):
    rng = np.random.default_rng(seed)
    h = histograms.book_pull()
    eta = rng.uniform(0.0, 2.4, n)
    h.fill(calibration="cnn", particle="electron", reference="dressed", abseta=eta, et=et,
           mu=30.0, pull=rng.normal(0.0, width, n))
    return h


def test_pull_stats_of_a_unit_gaussian_meet_the_targets():
    summary = unc.pull_summary(_pull_hist(1.0))
    entry = summary["electron"]["cnn"]
    incl = entry["inclusive"]
    assert incl["n"] == 20_000
    assert abs(incl["pull_width"] - 1.0) < 0.03
    assert abs(incl["coverage68"] - 0.6827) < 0.01
    assert abs(incl["coverage95"] - 0.9545) < 0.005
    assert entry["misses"] == []
    # per-bin entries on the processors' binnings; bins < MIN_OBJECTS are not checked
    assert len(entry["bins"]["abseta"]) == len(ABS_ETA_EDGES) - 1
    assert sum(r["n"] for r in entry["bins"]["et"]) == 20_000
    assert entry["bins_checked"] == 1 + 5 + 1 + 1  # inclusive, 5 |η|, one E_T, one ⟨μ⟩


def test_too_wide_pulls_are_reported_per_bin():
    entry = unc.pull_summary(_pull_hist(1.3))["electron"]["cnn"]
    axes = {(m["axis"], m.get("lo")) for m in entry["misses"]}
    assert ("inclusive", None) in axes
    assert {lo for a, lo in axes if a == "abseta"} == set(ABS_ETA_EDGES[:-1])
    reasons = " ".join(m["reason"] for m in entry["misses"])
    assert "pull_width" in reasons and "coverage68" in reasons and "coverage95" in reasons
    # a small bin is listed but never checked
    small = unc.pull_summary(_pull_hist(1.3, n=300))["electron"]["cnn"]
    assert small["misses"] == [] and small["bins_checked"] == 0


def test_scaled_weights_count_as_effective_objects():
    """An xsec x lumi scaled pull histogram (weights 0.01) is checked as the unweighted one:
    thresholds, binomial errors and chance misses use (Σw)²/Σw², not Σw."""
    ref = unc.pull_summary(_pull_hist(1.0))["electron"]["cnn"]
    scaled = _pull_hist(1.0)
    view = scaled.view(flow=True)
    view["value"] *= 0.01
    view["variance"] *= 1e-4
    entry = unc.pull_summary(scaled)["electron"]["cnn"]
    assert entry["inclusive"]["n"] == 200
    assert entry["inclusive"]["n_effective"] == pytest.approx(20_000)
    assert entry["bins_checked"] == ref["bins_checked"] == 8
    assert entry["expected_chance_misses"] == ref["expected_chance_misses"]
    assert entry["inclusive"]["coverage68_err"] == pytest.approx(
        ref["inclusive"]["coverage68_err"])


def test_calibrated_et_bins_are_summarised_as_a_diagnostic_beside_the_true_ones():
    """pull_summary with the processors' pull_et_reco histogram: its E_T bins are summarised
    (with the median pull) and a bin with too wide or shifted pulls there is listed in
    diagnostic_misses, not in misses, and not counted in bins_checked."""
    rng = np.random.default_rng(5)
    reco = histograms.book_pull_et_reco()
    n_ok, n_bad, n_shift = 20_000, 3_000, 4_000
    reco.fill(calibration="cnn", particle="electron", reference="dressed", et_reco=35.0,
              pull=rng.normal(0.0, 1.0, n_ok))
    reco.fill(calibration="cnn", particle="electron", reference="dressed", et_reco=100.0,
              pull=rng.normal(0.0, 1.3, n_bad))
    reco.fill(calibration="cnn", particle="electron", reference="dressed", et_reco=45.0,
              pull=rng.normal(0.45, 1.0, n_shift))
    entry = unc.pull_summary(_pull_hist(1.0), pull_et_reco=reco)["electron"]["cnn"]
    rows = entry["bins"]["et_reco"]
    assert [r["lo"] for r in rows] == list(ET_EDGES[:-1])
    assert sum(r["n"] for r in rows) == n_ok + n_bad + n_shift
    by_lo = {r["lo"]: r for r in rows}
    assert abs(by_lo[30.0]["median"]) < 0.05 and abs(by_lo[40.0]["median"] - 0.45) < 0.06
    diag = {(m["axis"], m.get("lo")) for m in entry["diagnostic_misses"]}
    assert diag == {("et_reco", 80.0), ("et_reco", 40.0)}  # wide, and shifted (coverage)
    assert not entry["misses"]
    without = unc.pull_summary(_pull_hist(1.0))["electron"]["cnn"]
    assert entry["bins_checked"] == without["bins_checked"]
    assert "et_reco" not in without["bins"] and "diagnostic_misses" not in without
    summary = unc.summary_entry({"electron": {"cnn": entry}})["electron"]
    assert summary["diagnostic_misses"]["cnn"] == entry["diagnostic_misses"]


def test_chance_misses_match_gaussian_samples_and_vanish_for_large_bins():
    """The multinomial toys of chance_misses agree with unit-Gaussian samples filled into the
    pull histogram's binning one by one (another path to the same probability)."""
    edges = histograms.book_pull().axes["pull"].edges
    rng = np.random.default_rng(11)
    trials = 300
    missed = 0
    for _ in range(trials):
        x = rng.normal(0.0, 1.0, 500)
        counts = np.concatenate([[np.sum(x < edges[0])], np.histogram(x, edges)[0],
                                 [np.sum(x >= edges[-1])]])
        missed += bool(unc.meets_targets(unc.pull_stats(counts, edges)))
    p_sample = missed / trials
    p_toys = unc.chance_misses([500], edges, toys=1000)
    err = np.hypot(np.sqrt(p_sample * (1 - p_sample) / trials),
                   np.sqrt(p_toys * (1 - p_toys) / 1000))
    assert 0.25 < p_toys < 0.75  # the 2-point tolerance is ~1 sigma of a 500-object bin
    assert abs(p_sample - p_toys) < 3 * err
    assert unc.chance_misses([50_000], edges) < 0.01
    assert unc.chance_misses([500, 500], edges, toys=1000) == pytest.approx(2 * p_toys)
    # and pull_summary reports the sum over the bins it checked
    entry = unc.pull_summary(_pull_hist(1.0))["electron"]["cnn"]
    # 8 checks: the crack bin (1.37-1.52 of a flat 0-2.4) holds ~1250 objects, the others
    # 2,600-20,000: only the crack has a sizeable chance
    assert 0.05 < entry["expected_chance_misses"] < 0.5
    small = unc.pull_summary(_pull_hist(1.0, n=4000))["electron"]["cnn"]
    assert small["expected_chance_misses"] > entry["expected_chance_misses"]


def test_coverage_counts_flow_entries_as_outside():
    n, lo, hi = PULL_BINS
    edges = np.linspace(lo, hi, n + 1)
    counts = np.zeros(n + 2)
    counts[1 + n // 2] = 60  # inside ±1
    counts[-1] = 40  # overflow
    st = unc.pull_stats(counts, edges)
    assert st["coverage68"] == pytest.approx(0.6) and st["coverage95"] == pytest.approx(0.6)


# ----------------------------------------------------------------------- CNN σ_E (onnx)
def _constant_model(path: Path, ratio: float, sigma_prime: float | None) -> Path:
    """A real ONNX model with the shipped electron card's inputs that returns a constant
    ratio (and σ'): ratio = 0·e_acc + r."""
    import onnx
    from onnx import TensorProto, helper

    from calocoffea.cnn.training.export import sha256_file

    card = json.loads((REPO / "models" / "deepcalo_electron.json").read_text())
    inputs = [helper.make_tensor_value_info(i["name"], TensorProto.FLOAT,
                                            ["n", *i["shape"][1:]]) for i in card["inputs"]]
    consts = [helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]),
              helper.make_tensor("r", TensorProto.FLOAT, [1], [ratio]),
              helper.make_tensor("s", TensorProto.FLOAT, [1], [sigma_prime or 0.0]),
              helper.make_tensor("start", TensorProto.INT64, [1], [0]),
              helper.make_tensor("end", TensorProto.INT64, [1], [1]),
              helper.make_tensor("axis", TensorProto.INT64, [1], [1])]
    nodes = [helper.make_node("Slice", ["scalars", "start", "end", "axis"], ["e_acc"]),
             helper.make_node("Mul", ["e_acc", "zero"], ["z"]),
             helper.make_node("Add", ["z", "r"], ["ratio"])]
    outputs = [helper.make_tensor_value_info("ratio", TensorProto.FLOAT, ["n", 1])]
    names = ["ratio"]
    if sigma_prime is not None:
        nodes.append(helper.make_node("Add", ["z", "s"], ["sigma_prime"]))
        outputs.append(helper.make_tensor_value_info("sigma_prime", TensorProto.FLOAT,
                                                     ["n", 1]))
        names.append("sigma_prime")
    graph = helper.make_graph(nodes, "const", inputs, outputs, initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    card = {k: card[k] for k in ("model", "particle", "inputs")}
    card.update(outputs=names, sha256=sha256_file(path))
    path.with_suffix(".json").write_text(json.dumps(card))
    return path


@pytest.fixture(scope="module")
def sim_zee_small(tmp_path_factory) -> Path:
    from calocoffea.sim.generate import generate_file

    path = tmp_path_factory.mktemp("unc_zee") / "zee.root"
    generate_file(path, "zee", kind="mc", n_events=200, seed=4242)
    return path


def _events(path: Path):
    from coffea.nanoevents import NanoEventsFactory

    from calocoffea.schema import CaloNanoAODSchema

    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=CaloNanoAODSchema, mode="virtual",
        metadata={"dataset": "test", "filename": str(path)}).events()


def test_cnn_sigma_is_e_acc_times_exp_half_sigma_prime(tmp_path, sim_zee_small):
    from calocoffea.cnn.inference import SIGMA_NO_OUTPUT, cnn_predict

    ev = _events(sim_zee_small)
    sp = 2.0 * np.log(0.02)
    with_sigma = _constant_model(tmp_path / "with.onnx", 1.1, sp)
    pred = cnn_predict(ev.Electron, ev, "electron", with_sigma)
    ok = ~pred.fallback
    assert ok.sum() > 100
    e_acc = pred.energy[ok] / 1.1
    np.testing.assert_allclose(pred.sigma[ok], 0.02 * e_acc, rtol=1e-5)
    assert (pred.sigma_code[ok] == 0).all()
    assert np.isnan(pred.sigma[~ok]).all()

    without = _constant_model(tmp_path / "without.onnx", 1.1, None)
    pred2 = cnn_predict(ev.Electron, ev, "electron", without)
    np.testing.assert_array_equal(pred2.energy, pred.energy)
    assert np.isnan(pred2.sigma).all() and (pred2.sigma_code == SIGMA_NO_OUTPUT).all()


# ----------------------------------------------------------------------- processors
def _run(proc, path: Path) -> dict:
    from processors.base import StandardOnlyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StandardOnlyWarning)
        out = proc.postprocess(proc.process(_events(path)))
    (dataset,) = out.values()  # one dataset per file
    return dataset


def test_zee_processor_fills_pulls_and_sigma_m(tmp_path, sim_zee_small):
    from processors.zee import ZeeProcessor

    model = _constant_model(tmp_path / "deepcalo_electron.onnx", 1.1, 2.0 * np.log(0.02))
    proc = ZeeProcessor(calibrations=("bdt", "cnn", "truth"), model_path=model)
    out = _run(proc, sim_zee_small)
    cf = out["cutflow"]
    n_sel = cf["selected"]
    assert n_sel > 50
    # every object has a σ_E (the shipped table covers bdt electrons) or is counted
    for cal in ("bdt", "cnn"):
        no_sigma = sum(v for k, v in cf.items() if k.startswith(f"no {cal} sigma: "))
        n_pull = out["pull"][{"calibration": cal, "particle": "electron"}].sum(flow=True).value
        assert n_pull + no_sigma >= cf["objects"] - cf["truth unmatched"]
        n_sm = out["sigma_m"][{"calibration": cal}].sum(flow=True).value
        assert n_sm + cf[f"no {cal} sigma_m"] == n_sel
        # the same pulls binned in the calibrated E_T: every one of them, per reference
        for ref in ("dressed", "bare"):
            sel = {"calibration": cal, "particle": "electron", "reference": ref}
            assert (out["pull_et_reco"][sel].sum(flow=True).value
                    == out["pull"][sel].sum(flow=True).value)
    # E_cnn = 1.1 E_acc: in the calibrated E_T more electrons sit above 40 GeV than in
    # the true E_T (the axes differ, the calibrated one follows the calibration)
    sel = {"calibration": "cnn", "particle": "electron", "reference": "dressed"}
    reco = out["pull_et_reco"][sel].project("et_reco").values(flow=True)
    true = out["pull"][sel].project("et").values(flow=True)
    k40 = 1 + list(ET_EDGES).index(40.0)
    assert reco[k40:].sum() / reco.sum() > true[k40:].sum() / true.sum() + 0.05
    assert cf["no cnn sigma: CNN fallback (standard energy)"] == cf["fallback"]
    # the constant model: σ_E = 0.02 E_acc, E = 1.1 E_acc for both electrons ->
    # σ_m/m = ½√2 · 0.02/1.1, within one bin of the log axis
    h = out["sigma_m"][{"calibration": "cnn"}].project("sigma_m")
    centers = h.axes[0].centers
    peak = centers[np.argmax(h.values())]
    assert abs(np.log(peak / (0.5 * np.sqrt(2) * 0.02 / 1.1))) < np.log(1.09)
    assert out["meta"]["resolution_table"].endswith("bdt_resolution.json")
    assert len(out["meta"]["resolution_sha256"]) == 64


def test_model_without_sigma_and_missing_table_are_counted(tmp_path, sim_zee_small,
                                                          monkeypatch):
    from calocoffea.resources import RESOLUTION_ENV
    from processors.zee import ZeeProcessor

    monkeypatch.setenv(RESOLUTION_ENV, str(tmp_path / "absent.json"))
    model = _constant_model(tmp_path / "deepcalo_electron.onnx", 1.1, None)
    # the table path (the σ models off): nothing to give a σ_E
    proc = ZeeProcessor(calibrations=("bdt", "cnn", "truth"), model_path=model,
                        sigma_models="none")
    out = _run(proc, sim_zee_small)
    cf = out["cutflow"]
    assert cf["no cnn sigma: model has no sigma_prime output"] == cf["objects"]
    assert cf[f"no bdt sigma: {unc.TABLE_MISSING}"] == cf["objects"]
    assert "absent.json" in out["meta"]["resolution_table"]
    assert out["pull"].sum(flow=True).value == 0
    assert cf["no bdt sigma_m"] == cf["no cnn sigma_m"] == cf["selected"]
    # an explicit table that does not exist is an error, not a silent downgrade
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        ZeeProcessor(calibrations=("bdt", "truth"), resolution=tmp_path / "nope.json")


# ----------------------------------------------------------------------- categories
def test_categorise_terciles_fits_and_gain():
    """Toy H→γγ sigma_m histogram: three populations with σ_m/m 0.8 %, 1.2 %, 2 %; the
    terciles separate them, the fits run and the gain exceeds 1."""
    from calocoffea.fitting.categories import categorise

    rng = np.random.default_rng(3)
    h = histograms.book_sigma_m("hgamgam")
    for rel in (0.008, 0.012, 0.02):
        n = 3000
        h.fill(calibration="cnn", sigma_m=rng.normal(rel, 0.0005, n),
               mass=rng.normal(125.0, rel * 125.0, n))
    res = categorise(h, "hgamgam", n_boot=20)
    c = res["cnn"]
    assert c["chosen_on"] == "self" and len(c["edges"]) == 4
    assert max(c["n"]) / min(c["n"]) < 1.2
    assert c["sigma_eff"][0] < c["sigma_eff"][1] < c["sigma_eff"][2]
    assert len(c["fits"]) == 3 and all("accepted" in f for f in c["fits"])
    assert c["significance_gain"] > 1.01 and 0 < c["significance_gain_err"] < 0.02
    # one resolution for every event: categorising gains nothing
    same = histograms.book_sigma_m("hgamgam")
    same.fill(calibration="bdt", sigma_m=rng.normal(0.012, 0.002, 9000),
              mass=rng.normal(125.0, 1.5, 9000))
    flat = categorise(same, "hgamgam", n_boot=20)["bdt"]
    assert abs(flat["significance_gain"] - 1.0) < 3 * flat["significance_gain_err"] + 0.01
    # data are categorised with the MC's boundaries
    again = categorise(h, "hgamgam", edges_from=res, n_boot=5)
    assert again["cnn"]["chosen_on"] == "mc" and again["cnn"]["edges"] == c["edges"]


def test_summary_entries_and_coverage_plot(tmp_path):
    """summary.json ``uncertainty.<particle>`` / ``categories.<calibration>`` from a results
    dict, and the coverage figure drawn from it."""
    import matplotlib

    matplotlib.use("Agg")
    from calocoffea.app.summary import uncertainty_entries
    from calocoffea.fitting.categories import add_uncertainty_results
    from calocoffea.plots.style import save
    from calocoffea.plots.uncertainty import plot_coverage

    rng = np.random.default_rng(5)
    sm = histograms.book_sigma_m("hgamgam")
    for rel in (0.008, 0.02):
        sm.fill(calibration="bdt", sigma_m=rng.normal(rel, 0.0005, 2000),
                mass=rng.normal(125.0, rel * 125.0, 2000))
    output = {"pull": _pull_hist(1.0), "sigma_m": sm, "meta": {"channel": "hgamgam"}}
    res = add_uncertainty_results(output, {"channel": "hgamgam"})
    json.dumps(res, allow_nan=False)  # JSON-ready
    entry = uncertainty_entries(res)
    u = entry["uncertainty"]["electron"]
    assert set(u["pull_width"]) == {"cnn"} and abs(u["coverage68"]["cnn"] - 0.6827) < 0.01
    assert u["targets"]["min_objects"] == unc.MIN_OBJECTS
    g = entry["categories"]["bdt"]
    assert g["significance_gain"] > 1.0 and g["significance_gain_err"] > 0
    assert len(g["accepted"]) == 3 and g["chosen_on"] == "self"
    paths = save(plot_coverage(res["uncertainty"]["electron"], "abseta", particle="electron"),
                 tmp_path, "coverage")
    assert any(p.suffix == ".png" and p.stat().st_size > 5000 for p in paths)


def test_resolution_command_writes_a_loadable_table(tmp_path, capsys):
    from calocoffea.app.cli import main
    from calocoffea.execution.outputs import save_output

    out = tmp_path / "zee.hist.zip"
    mass = histograms.book_mass("zee", 15)
    save_output({"zee_mc": {"response": _response_hist([0.01, 0.015, 0.04, 0.02, 0.025]),
                            "mass": mass, "cutflow": {},
                            "meta": {"channel": "zee", "kind": "mc"}}}, out)
    table = tmp_path / "tables" / "res.json"
    assert main(["resolution", str(out), "--out", str(table)]) == 0
    assert "bdt/electron: 20000 objects, 5/40 bins measured" in capsys.readouterr().out
    assert unc.ResolutionTable(table).has("bdt", "electron")
    # an output without a response histogram (data) is refused, naming it
    data = tmp_path / "data.hist.zip"
    save_output({"zee_data": {"response": histograms.book_response(), "mass": mass,
                              "cutflow": {}, "meta": {"channel": "zee", "kind": "data"}}}, data)
    assert main(["resolution", str(data), "--out", str(tmp_path / "x.json")]) == 1
    assert "data.hist.zip dataset 'zee_data' has no response" in capsys.readouterr().err
