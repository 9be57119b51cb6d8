"""Processors: selections, per-calibration masses, histograms, real NanoAOD, import hygiene."""

from __future__ import annotations

import itertools
import subprocess
import sys
import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from coffea.nanoevents import NanoEventsFactory

from calocoffea import binning
from calocoffea.execution.outputs import single_dataset
from calocoffea.schema import CaloNanoAODSchema
from calocoffea.selection import HgamgamSelection, ZeeSelection, ZmumugammaSelection
from processors.base import StandardOnlyWarning
from processors.hgamgam import HgamgamProcessor
from processors.zee import ZeeProcessor
from processors.zmumugamma import ZmumugammaProcessor

F32, I32 = np.float32, np.int32


def _pair_pt2(rng, n, mass, pt1_range=(25.0, 60.0)):
    """Two massless objects with invariant mass ``mass`` (n,): (pt, eta, phi) each (n, 2)."""
    eta = rng.uniform(-2.3, 2.3, (n, 2))
    phi = rng.uniform(-np.pi, np.pi, (n, 2))
    pt1 = rng.uniform(*pt1_range, n)
    denom = np.cosh(eta[:, 0] - eta[:, 1]) - np.cos(phi[:, 0] - phi[:, 1])
    pt2 = mass**2 / (2 * pt1 * np.maximum(denom, 1e-3))
    return np.stack([pt1, pt2], axis=1), eta, phi


def _jagged(core: dict, extra: dict, has_extra: np.ndarray) -> ak.Array:
    """Records with 2 objects per event plus an optional third one."""
    n = len(has_extra)
    fields = {}
    for name, values in core.items():
        first = ak.unflatten(np.asarray(values).reshape(-1), np.full(n, 2))
        third = ak.unflatten(np.asarray(extra[name])[has_extra], has_extra.astype(np.int64))
        fields[name] = ak.concatenate([first, third], axis=1)
    return ak.zip(fields)


def write_channel_sample(path: Path, n_events: int, seed: int, mc: bool = True) -> Path:
    """NanoAOD-style MC file (no cells) where every event has a Z→ee-like electron pair, a
    μμ pair, a H→γγ-like photon pair (GenPart indices 0-5) and sometimes a fake extra
    object (genPartIdx -1). Reco energies are the true ones smeared by 3 %; ids random.
    With ``mc=False`` the generator branches (GenPart, genPartIdx, genWeight) are left out."""
    rng = np.random.default_rng(seed)
    n = n_events
    m_z = 91.19 + 2.5 * rng.standard_cauchy(n).clip(-8, 8)
    e_pt, e_eta, e_phi = _pair_pt2(rng, n, m_z)
    mu_pt, mu_eta, mu_phi = _pair_pt2(rng, n, rng.uniform(25.0, 85.0, n))
    g_pt, g_eta, g_phi = _pair_pt2(rng, n, np.full(n, 125.0), (40.0, 90.0))
    gen = {
        "pt": np.concatenate([e_pt, mu_pt, g_pt], axis=1),
        "eta": np.concatenate([e_eta, mu_eta, g_eta], axis=1),
        "phi": np.concatenate([e_phi, mu_phi, g_phi], axis=1),
    }
    gen["mass"] = np.tile([0.000511, 0.000511, 0.1057, 0.1057, 0.0, 0.0], (n, 1))
    gen["pdgId"] = np.tile([11, -11, 13, -13, 22, 22], (n, 1))

    def reco(i, j):
        scale = 1.0 + 0.03 * rng.standard_normal((n, 2))
        return {
            "pt": (gen["pt"][:, i:j] * scale).astype(F32),
            "eta": (gen["eta"][:, i:j] + 0.001 * rng.standard_normal((n, 2))).astype(F32),
            "phi": (gen["phi"][:, i:j] + 0.001 * rng.standard_normal((n, 2))).astype(F32),
            "genPartIdx": np.tile(np.arange(i, j, dtype=I32), (n, 1)),
        }

    def fake(mass):
        return {
            "pt": (10.0 + rng.exponential(10.0, n)).astype(F32),
            "eta": rng.uniform(-2.4, 2.4, n).astype(F32),
            "phi": rng.uniform(-np.pi, np.pi, n).astype(F32),
            "genPartIdx": np.full(n, -1, I32),
            "mass": np.full(n, mass, F32),
        }

    sign = rng.choice([-1, 1], n)
    ele, ele_x = reco(0, 2), fake(0.000511)
    ele["mass"] = np.full((n, 2), 0.000511, F32)
    ele["charge"] = np.stack([sign, -sign], axis=1).astype(I32)
    ele_x["charge"] = rng.choice([-1, 1], n).astype(I32)
    ele["cutBased"] = rng.choice(5, (n, 2), p=[0.03, 0.02, 0.15, 0.3, 0.5]).astype(I32)
    ele_x["cutBased"] = rng.choice(5, n).astype(I32)
    mu, mu_x = reco(2, 4), fake(0.1057)
    mu["mass"] = np.full((n, 2), 0.1057, F32)
    mu["charge"] = np.stack([sign, -sign], axis=1).astype(I32)
    mu_x["charge"] = rng.choice([-1, 1], n).astype(I32)
    mu["looseId"] = rng.random((n, 2)) < 0.95
    mu["tightId"] = mu["looseId"] & (rng.random((n, 2)) < 0.85)
    mu_x["looseId"] = rng.random(n) < 0.7
    mu_x["tightId"] = mu_x["looseId"] & (rng.random(n) < 0.3)
    pho, pho_x = reco(4, 6), fake(0.0)
    pho["mass"] = np.zeros((n, 2), F32)
    pho["cutBased"] = rng.choice(4, (n, 2), p=[0.05, 0.1, 0.15, 0.7]).astype(I32)
    pho_x["cutBased"] = rng.choice(4, n).astype(I32)

    cols = {
        "run": np.ones(n, np.uint32),
        "luminosityBlock": np.ones(n, np.uint32),
        "event": np.arange(1, n + 1, dtype=np.uint64),
        "Pileup_nTrueInt": rng.uniform(10, 80, n).astype(F32),
        # generator weights of NLO-like magnitude and sign: only the sign is used
        "genWeight": (rng.choice([-1.0, 1.0], n, p=[0.1, 0.9]) * 2.63e4).astype(F32),
        "Electron": _jagged(ele, ele_x, rng.random(n) < 0.15),
        "Muon": _jagged(mu, mu_x, rng.random(n) < 0.15),
        "Photon": _jagged(pho, pho_x, rng.random(n) < 0.2),
        "GenPart": ak.unflatten(
            ak.zip(
                {
                    "pt": gen["pt"].reshape(-1).astype(F32),
                    "eta": gen["eta"].reshape(-1).astype(F32),
                    "phi": gen["phi"].reshape(-1).astype(F32),
                    "mass": gen["mass"].reshape(-1).astype(F32),
                    "pdgId": gen["pdgId"].reshape(-1).astype(I32),
                    "status": np.ones(6 * n, I32),
                    "statusFlags": np.zeros(6 * n, I32),
                    "genPartIdxMother": np.full(6 * n, -1, I32),
                }
            ),
            np.full(n, 6),
        ),
    }
    if not mc:
        del cols["GenPart"], cols["genWeight"]
        for name in ("Electron", "Muon", "Photon"):
            coll = cols[name]
            cols[name] = ak.zip({f: coll[f] for f in coll.fields if f != "genPartIdx"})
    types = {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in cols.items()}
    with uproot.recreate(path) as fout:
        fout.mktree("Events", types).extend(cols)
    return path


def write_handmade(path: Path, electrons, muons=None, photons=None, gen=None) -> Path:
    """A file from explicit per-event object lists (dicts), for exact selection tests."""
    n = len(electrons)
    muons = muons or [[] for _ in range(n)]
    photons = photons or [[] for _ in range(n)]
    gen = gen or [[] for _ in range(n)]
    defaults = {
        "Electron": dict(
            pt=F32, eta=F32, phi=F32, mass=F32, charge=I32, cutBased=I32, genPartIdx=I32
        ),
        "Muon": dict(
            pt=F32,
            eta=F32,
            phi=F32,
            mass=F32,
            charge=I32,
            looseId=bool,
            tightId=bool,
            genPartIdx=I32,
        ),
        "Photon": dict(pt=F32, eta=F32, phi=F32, mass=F32, cutBased=I32, genPartIdx=I32),
        "GenPart": dict(
            pt=F32,
            eta=F32,
            phi=F32,
            mass=F32,
            pdgId=I32,
            status=I32,
            statusFlags=I32,
            genPartIdxMother=I32,
        ),
    }
    fill = dict(
        mass=0.0,
        charge=0,
        cutBased=4,
        genPartIdx=-1,
        looseId=True,
        tightId=False,
        pdgId=11,
        status=1,
        statusFlags=0,
        genPartIdxMother=-1,
    )
    cols = {
        "run": np.ones(n, np.uint32),
        "luminosityBlock": np.ones(n, np.uint32),
        "event": np.arange(n, dtype=np.uint64),
        "Pileup_nTrueInt": np.full(n, 30.0, F32),
        "genWeight": np.ones(n, F32),
    }
    for name, rows in (
        ("Electron", electrons),
        ("Muon", muons),
        ("Photon", photons),
        ("GenPart", gen),
    ):
        flat = [obj for row in rows for obj in row]
        arrays = {
            f: np.array([o.get(f, fill.get(f)) for o in flat], dtype=dt)
            for f, dt in defaults[name].items()
        }
        cols[name] = ak.unflatten(ak.zip(arrays), [len(r) for r in rows])
    types = {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in cols.items()}
    with uproot.recreate(path) as fout:
        fout.mktree("Events", types).extend(cols)
    return path


def load_events(path: Path, **kwargs):
    return NanoEventsFactory.from_root(
        {str(path): "Events"},
        schemaclass=CaloNanoAODSchema,
        mode="virtual",
        metadata={"dataset": "test", "filename": str(path)},
        **kwargs,
    ).events()


def run_local(proc, path: Path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StandardOnlyWarning)
        return single_dataset(proc.postprocess(proc.process(load_events(path, **kwargs))))


@pytest.fixture(scope="session")
def channel_sample(tmp_path_factory) -> Path:
    """3000 synthetic MC events usable by all three processors (seed 11)."""
    return write_channel_sample(tmp_path_factory.mktemp("channels") / "sample.root", 3000, 11)


def e(pt, eta, phi, charge, cut=4, **kw):
    return dict(pt=pt, eta=eta, phi=phi, charge=charge, cutBased=cut, mass=0.000511, **kw)


def test_zee_selection_follows_table_3_7(tmp_path):
    events = [
        [e(40, 0.1, 0.0, 1), e(35, -0.5, 3.0, -1)],  # one OS pair: kept
        [e(40, 0.1, 0.0, 1), e(35, -0.5, 3.0, 1)],  # same sign: dropped
        [e(40, 0.1, 0.0, 1), e(35, -0.5, 3.0, -1), e(20, 1.0, 1.0, -1)],  # two OS pairs
        [e(40, 0.1, 0.0, 1), e(9.0, -0.5, 3.0, -1)],  # below E_T threshold
        [e(40, 0.1, 0.0, 1), e(35, 2.5, 3.0, -1)],  # outside |eta| < 2.47
        [e(40, 0.1, 0.0, 1), e(35, -0.5, 3.0, -1, cut=1)],  # veto id only
        [e(20, 0.1, 0.0, 1), e(35, -0.5, 3.0, -1), e(30, 1.0, 1.0, -1, cut=1)],  # 1 loose pair
    ]
    path = write_handmade(tmp_path / "zee.root", events)
    out = run_local(ZeeProcessor(calibrations=("bdt",)), path)
    cf = out["cutflow"]
    assert cf["events"] == 7
    assert cf["selected"] == 2
    assert cf["2 electrons"] == 4  # the E_T, |eta| and id failures have one good electron
    mass = out["mass"][{"calibration": "bdt"}]
    assert mass.sum(flow=True).value == 2
    # the leading electron is first: event 6 has the 35 GeV electron leading
    ev = load_events(path)
    from calocoffea.selection import select_zee

    sel = select_zee(ev, ZeeSelection())
    assert sel.mask.tolist() == [True, False, False, False, False, False, True]
    assert sel.calo_index.tolist() == [[0, 1], [1, 0]]


def test_zmumugamma_cascade_and_photon_isolation(tmp_path):
    def mu(pt, eta, phi, q, tight=False):
        return dict(pt=pt, eta=eta, phi=phi, charge=q, mass=0.1057, looseId=True, tightId=tight)

    def g(pt, eta, phi, cut=3):
        return dict(pt=pt, eta=eta, phi=phi, cutBased=cut)

    pair = [mu(40, 0.0, 0.0, 1), mu(30, 0.5, 2.5, -1)]  # m_mumu ~ 69 GeV
    muons = [
        pair,
        [*pair, mu(25, -0.3, -2.0, -1)],  # two OS pairs in window, none tight: dropped
        [mu(40, 0.0, 0.0, 1, True), mu(30, 0.5, 2.5, -1, True), mu(25, -0.3, -2.0, -1)],
        pair,  # photon too close to a muon
        pair,  # two loose photons, one tight: tight one taken
        [mu(60, 0.0, 0.0, 1), mu(60, 0.1, 3.0, -1)],  # m_mumu ~ 120: outside window
    ]
    photons = [
        [g(20, 1.5, -1.5)],
        [g(20, 1.5, -1.5)],
        [g(20, 1.5, -1.5)],
        [g(20, 0.05, 0.1)],
        [g(20, 1.5, -1.5, cut=1), g(15, -1.0, 1.2, cut=3)],
        [g(20, 1.5, -1.5)],
    ]
    path = write_handmade(tmp_path / "mmg.root", [[] for _ in muons], muons, photons)
    from calocoffea.selection import select_zmumugamma

    sel = select_zmumugamma(load_events(path), ZmumugammaSelection())
    assert sel.mask.tolist() == [True, False, True, False, True, False]
    assert sel.muon_index.tolist() == [[0, 1], [0, 1], [0, 1]]
    assert sel.calo_index.tolist() == [[0], [0], [1]]
    out = run_local(ZmumugammaProcessor(calibrations=("bdt",)), path)
    assert out["mass"].axes["etacat"].size == len(binning.ABS_ETA_EDGES) - 1
    # photon |eta| 1.5 is the crack bin, |eta| 1.0 the outer barrel
    per_cat = out["mass"][{"calibration": "bdt"}].project("etacat").values()
    assert per_cat.tolist() == [0, 1, 2, 0, 0]


def test_hgamgam_relative_et_cuts(tmp_path):
    def g(pt, eta, phi, cut=3):
        return dict(pt=pt, eta=eta, phi=phi, cutBased=cut)

    # massless pair: m = 2 pt cosh(deta/2)... build with back-to-back photons at eta 0:
    # m = 2 sqrt(pt1 pt2)
    photons = [
        [g(62.5, 0.0, 0.0), g(62.5, 0.0, np.pi)],  # m = 125, E_T/m = 0.5, 0.5
        [g(100.0, 0.0, 0.0), g(39.0625, 0.0, np.pi)],  # m = 125, sub 0.3125
        [g(125.0, 0.0, 0.0), g(28.0, 0.0, np.pi)],  # m = 118.3, sub 0.237: fails
        [g(62.5, 0.0, 0.0), g(62.5, 0.0, np.pi, cut=2)],  # medium only
        [g(30.0, 0.0, 0.0), g(30.0, 0.0, np.pi)],  # m = 60: outside the window
    ]
    path = write_handmade(tmp_path / "gg.root", [[] for _ in photons], None, photons)
    from calocoffea.selection import select_hgamgam

    sel = select_hgamgam(load_events(path), HgamgamSelection())
    assert sel.mask.tolist() == [True, True, False, False, False]
    out = run_local(HgamgamProcessor(calibrations=("bdt",)), path)
    m = out["mass"][{"calibration": "bdt"}].project("mass")
    centers = m.axes[0].centers[m.values() > 0]
    assert np.allclose(centers, 125.0, atol=0.2)


def test_masses_and_responses_per_calibration(channel_sample):
    """bdt/truth masses agree with coffea's own four-vector sums; response = E/E_true."""
    proc = ZeeProcessor(calibrations=("bdt", "truth"))
    out = run_local(proc, channel_sample)
    cf = out["cutflow"]
    assert 0 < cf["selected"] < cf["events"] == 3000
    assert cf["objects"] == 2 * cf["selected"]
    assert out["meta"]["kind"] == "mc" and out["meta"]["mode"] == "standard-only"
    assert out["meta"]["calibrations"] == ["bdt", "truth"]

    # independent reference: m² = 2 pT1 pT2 (cosh Δη − cos Δφ) of two massless objects
    from calocoffea.selection import select_zee

    ev = load_events(channel_sample)
    sel = select_zee(ev, ZeeSelection())
    ele = ev[sel.mask].Electron[ak.from_regular(sel.calo_index)]
    eta = ak.to_numpy(ele.eta).astype(np.float64)
    phi = ak.to_numpy(ele.phi).astype(np.float64)
    gen = ele.matched_gen

    def gen_col(name):  # unmatched (fake) electrons: NaN
        return ak.to_numpy(ak.fill_none(gen[name], np.nan, axis=-1)).astype(np.float64)

    e_true = np.sqrt((gen_col("pt") * np.cosh(gen_col("eta"))) ** 2 + gen_col("mass") ** 2)

    def pair_mass(pt):
        c = np.cosh(eta[:, 0] - eta[:, 1]) - np.cos(phi[:, 0] - phi[:, 1])
        return np.sqrt(2 * pt[:, 0] * pt[:, 1] * c)

    ref_bdt = pair_mass(ak.to_numpy(ele.pt).astype(np.float64))
    ref_truth = pair_mass(e_true / np.cosh(eta))
    weights = np.sign(ak.to_numpy(ev[sel.mask].genWeight))
    for name, ref in (("bdt", ref_bdt), ("truth", ref_truth)):
        expect = out["mass"][{"calibration": name}].project("mass").copy().reset()
        ok = np.isfinite(ref)
        expect.fill(mass=ref[ok], weight=weights[ok])
        got = out["mass"][{"calibration": name}].project("mass")
        assert np.array_equal(got.values(flow=True), expect.values(flow=True))
    # truth mass is the BW line shape (narrow), bdt is smeared: the truth peak is narrower
    widths = {}
    for name in ("bdt", "truth"):
        h = out["mass"][{"calibration": name}].project("mass")
        c, v = h.axes[0].centers, np.abs(h.values())
        mean = np.sum(c * v) / np.sum(v)
        widths[name] = np.sqrt(np.sum(v * (c - mean) ** 2) / np.sum(v))
    assert widths["truth"] < widths["bdt"]
    # response: the file's reco energy is the true one smeared by 3 %
    resp = out["response"][{"calibration": "bdt", "particle": "electron"}].project("response")
    c, v = resp.axes[0].centers, np.abs(resp.values())
    assert abs(np.sum(c * v) / np.sum(v) - 1.0) < 0.005
    assert out["response"][{"calibration": "cnn"}].sum(flow=True).variance == 0
    # sign weights: variance counts entries, value counts signed entries
    total = out["mass"][{"calibration": "bdt"}].sum(flow=True)
    assert total.variance == cf["selected"]
    assert total.value == weights.sum()


def test_zmumugamma_only_photon_energy_changes(channel_sample):
    out = run_local(ZmumugammaProcessor(calibrations=("bdt", "truth")), channel_sample)
    assert out["cutflow"]["selected"] > 0
    from calocoffea.kinematics import ptetaphim_p4
    from calocoffea.selection import select_zmumugamma

    ev = load_events(channel_sample)
    sel = select_zmumugamma(ev, ZmumugammaSelection())
    muons = ev[sel.mask].Muon[ak.from_regular(sel.muon_index)]
    photon = ev[sel.mask].Photon[ak.from_regular(sel.calo_index)][:, 0]
    cols = [ak.to_numpy(muons[f]).astype(np.float64) for f in ("pt", "eta", "phi", "mass")]
    mumu = ptetaphim_p4(*cols).sum(axis=1)
    gen = photon.matched_gen
    # the fake photons have no generator match: their truth mass is not filled
    matched = ~ak.to_numpy(ak.is_none(gen))
    e_true = ak.to_numpy(ak.fill_none(gen.pt * np.cosh(gen.eta), np.nan)).astype(np.float64)
    eta = ak.to_numpy(photon.eta).astype(np.float64)
    phi = ak.to_numpy(photon.phi).astype(np.float64)
    pt = e_true / np.cosh(eta)
    tot = mumu + np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), e_true], 1)
    m_ref = np.sqrt(tot[:, 3] ** 2 - (tot[:, :3] ** 2).sum(axis=1))[matched]
    h = out["mass"][{"calibration": "truth"}].project("mass").copy().reset()
    h.fill(mass=m_ref, weight=np.sign(ak.to_numpy(ev[sel.mask].genWeight))[matched])
    got = out["mass"][{"calibration": "truth"}].project("mass")
    assert np.array_equal(got.values(flow=True), h.values(flow=True))
    assert out["cutflow"]["truth unmatched"] == int((~matched).sum())


def test_data_has_no_truth_and_no_response(tmp_path):
    path = write_channel_sample(tmp_path / "data.root", 500, 12, mc=False)
    out = run_local(ZeeProcessor(), path)
    assert out["meta"]["kind"] == "data"
    assert out["meta"]["calibrations"] == ["bdt"]
    assert out["response"].sum(flow=True).variance == 0
    assert out["mass"].sum(flow=True).value == out["cutflow"]["selected"] > 0
    assert "truth unmatched" not in out["cutflow"]


def test_real_cms_nanoaod_standard_only_with_one_warning(nano_dy_path):
    """coffea's nano_dy.root (Z→ee MC): no cells, one warning over all chunks."""
    from coffea import processor

    from processors import base

    base._warned_standard_only = False
    runner = processor.Runner(
        executor=processor.IterativeExecutor(status=False),
        schema=CaloNanoAODSchema,
        chunksize=10,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = runner({"dy": {"files": {str(nano_dy_path): "Events"}}}, ZeeProcessor())
    ours = [w for w in caught if issubclass(w.category, StandardOnlyWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    assert "standard-calibration-only" in str(ours[0].message)
    # coffea's own Runner: the output is keyed by dataset, as coffea users expect
    assert set(out) == {"dy"}
    out = out["dy"]
    cf = out["cutflow"]
    assert cf["events"] == 40
    assert cf["selected"] >= 1 and cf["truth unmatched"] == 0
    assert out["meta"]["mode"] == "standard-only" and out["meta"]["kind"] == "mc"
    assert "cnn" not in out["meta"]["calibrations"]
    # every selected event fills bdt and truth once, every electron one bdt response
    assert out["mass"][{"calibration": "bdt"}].sum(flow=True).variance == cf["selected"]
    assert out["mass"][{"calibration": "truth"}].sum(flow=True).variance == cf["selected"]
    resp = out["response"][{"calibration": "bdt", "particle": "electron"}]
    assert resp.sum(flow=True).variance == cf["objects"]
    # CMS electron energies are close to the generator ones
    proj = resp.project("response")
    c, v = proj.axes[0].centers, proj.variances()
    assert abs(np.sum(c * v) / np.sum(v) - 1.0) < 0.05


@pytest.fixture(scope="session")
def sim_zee(tmp_path_factory) -> Path:
    """300 simulated Z→ee MC events (calocoffea.sim, E_acc-based standard energies)."""
    from calocoffea.sim.generate import generate_file

    path = tmp_path_factory.mktemp("simzee") / "zee.root"
    generate_file(path, "zee", kind="mc", n_events=300, seed=9001)
    return path


def test_cnn_path_with_tiny_model(sim_zee, deepcalo_tiny_model):
    """Real onnxruntime inference of a (tiny) DeepCalo model inside the processor, on
    simulated cells; the tiny model only proves the wiring, not the physics."""
    from processors import base

    base._warned_standard_only = False
    proc = ZeeProcessor(model_path=deepcalo_tiny_model)
    assert proc.calibrations == ("bdt", "bdt_shapes", "cnn", "truth")
    with warnings.catch_warnings():
        warnings.simplefilter("error", StandardOnlyWarning)
        out = single_dataset(proc.postprocess(proc.process(load_events(sim_zee))))
    cf = out["cutflow"]
    assert cf["selected"] > 50
    assert out["meta"]["mode"] == "cells"
    assert out["meta"]["provider"] == "CPUExecutionProvider"
    assert len(out["meta"]["model_sha256"]) == 64
    assert out["meta"]["model"] == str(deepcalo_tiny_model)
    n_cnn = out["mass"][{"calibration": "cnn"}].sum(flow=True).variance
    assert n_cnn == cf["selected"]
    resp_cnn = out["response"][{"calibration": "cnn", "particle": "electron"}]
    assert resp_cnn.sum(flow=True).variance == cf["objects"] - cf["truth unmatched"]
    assert 0 <= cf["fallback"] < cf["objects"]
    # cnn and bdt energies differ (the model is not the identity)
    bdt = out["response"][{"calibration": "bdt"}].project("response").values(flow=True)
    cnn = resp_cnn.project("response").values(flow=True)
    assert not np.array_equal(bdt, cnn)


def test_cnn_requested_without_model_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(FileNotFoundError, match=r"nope\.onnx"):
        ZeeProcessor(calibrations=("bdt", "cnn"), model_path=missing)
    # a model given but missing is an error also with the default calibrations (it used to
    # drop the CNN with a log message, and the run exited 0 without it)
    with pytest.raises(FileNotFoundError, match=r"nope\.onnx.*--calibrations bdt,bdt_shapes,truth"):
        ZeeProcessor(model_path=missing)
    assert ZeeProcessor(calibrations=("bdt", "truth"), model_path=missing).calibrations == (
        "bdt", "truth")
    with pytest.raises(ValueError, match="unknown calibrations"):
        ZeeProcessor(calibrations=("bdt", "gbr"))
    with pytest.raises(ValueError, match="weights"):
        ZeeProcessor(weights="raw")


def test_processors_do_not_import_zfit_or_tensorflow():
    code = (
        "import sys, processors.zee, processors.zmumugamma, processors.hgamgam, "
        "calocoffea.execution.runner, calocoffea.app.commands.run\n"
        "from processors import PROCESSORS, make_processor\n"
        "[make_processor(n) for n in PROCESSORS]\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('zfit', 'tensorflow'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("proc_cls", [ZeeProcessor, ZmumugammaProcessor, HgamgamProcessor])
def test_chunks_without_candidates(tmp_path, proc_cls):
    """No objects at all, or a single object, in every event: nothing selected, no error."""
    one = [[e(40, 0.1, 0.0, 1)], []]
    path = write_handmade(
        tmp_path / "empty.root", one, [[dict(pt=30, eta=0, phi=0, charge=1)], []],
        [[dict(pt=30, eta=0, phi=0)], []],
    )
    out = run_local(proc_cls(calibrations=("bdt", "truth")), path)
    assert out["cutflow"]["events"] == 2
    assert out["cutflow"]["selected"] == out["cutflow"]["objects"] == 0
    assert out["mass"].sum(flow=True).variance == 0


def test_corrupt_cnn_model_fails_on_the_client(tmp_path):
    pytest.importorskip("calocoffea.cnn.inference", reason="CNN inference module not built yet")
    from calocoffea.cnn.inference import ModelError

    bad = tmp_path / "deepcalo_electron.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match=r"deepcalo_electron"):
        ZeeProcessor(model_path=bad)


def test_select_zee_matches_a_plain_python_reference():
    """The one-pass Z->ee selection against a loop over events: cuts, ak.combinations pair
    order, the unique-pair rule and the pt ordering (ties included)."""
    from calocoffea.selection import ObjectCuts, ZeeSelection, select_zee

    rng = np.random.default_rng(3)
    counts = rng.integers(0, 6, 3000)
    m = int(counts.sum())
    flat = {
        "pt": rng.choice([5.0, 9.5, 12.0, 30.0, 30.0, 45.5], m).astype(np.float32),
        "eta": rng.uniform(-2.6, 2.6, m).astype(np.float32),
        "cutBased": rng.integers(0, 5, m).astype(np.int32),
        "charge": rng.choice([-1, 1], m).astype(np.int32),
    }
    events = ak.zip({"Electron": ak.unflatten(ak.zip(flat), counts)}, depth_limit=1)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for cfg in (ZeeSelection(), ZeeSelection(opposite_charge=False),
                ZeeSelection(electron=ObjectCuts(9.5, 2.47, "cutBased", 2, exclude_crack=True))):
        sel = select_zee(events, cfg)
        cuts = cfg.electron
        mask, index = [], []
        for lo, hi in itertools.pairwise(offsets):
            pt, eta = flat["pt"][lo:hi], np.abs(flat["eta"][lo:hi])
            ok = (pt > np.float32(cuts.et_min)) & (eta < np.float32(cuts.abseta_max))
            ok &= flat["cutBased"][lo:hi] >= cuts.id_min
            if cuts.exclude_crack:
                ok &= ~((eta >= np.float32(1.37)) & (eta < np.float32(1.52)))
            cand = np.flatnonzero(ok)
            pairs = [(i, j) for a, i in enumerate(cand) for j in cand[a + 1:]
                     if not cfg.opposite_charge
                     or flat["charge"][lo + i] + flat["charge"][lo + j] == 0]
            mask.append(len(pairs) == 1)
            if len(pairs) == 1:
                i, j = pairs[0]
                index.append((j, i) if pt[j] > pt[i] else (i, j))
        np.testing.assert_array_equal(sel.mask, mask)
        np.testing.assert_array_equal(sel.calo_index, np.array(index).reshape(-1, 2))
        assert sel.cutflow["unique ee pair"] == sum(mask) > 100
