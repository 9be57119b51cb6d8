"""Event weights and corrections in the processors (issue 21): pile-up reweighting from a
correctionlib file made by ``calocoffea pileup``, xsec × lumi normalisation from the fileset
metadata, and ``--corrections`` (scale on data, deterministic smearing on MC); all
independent of the chunk size."""

from __future__ import annotations

import numpy as np
import pytest

from calocoffea import weights
from calocoffea.app.cli import main
from calocoffea.corrections import ScaleSmearing, write_corrections
from calocoffea.execution import runner
from calocoffea.execution.outputs import save_output
from calocoffea.fileset import normalize_fileset
from processors import make_processor

N_EVENTS = 400


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("weights")
    out = {}
    for kind, seed in (("mc", 41), ("data", 42)):
        out[kind] = d / f"{kind}.root"
        assert main(["generate", "--process", "zee", "--events", str(N_EVENTS), "--seed",
                     str(seed), "--kind", kind, "--out", str(out[kind]),
                     "--no-standard-calibration", "--no-progress"]) == 0
    out["dir"] = d
    return out


def _run(path, kind, chunksize=150, metadata=None, **kwargs):
    fileset = normalize_fileset({f"zee_{kind}": {"files": {str(path): "Events"},
                                                 "metadata": {"kind": kind,
                                                              **(metadata or {})}}})
    proc = make_processor("zee", calibrations=("bdt",), **kwargs)
    out, _ = runner.run(proc, fileset, runner.RunOptions(executor="iterative",
                                                         chunksize=chunksize, progress=False))
    (only,) = out.values()  # keyed by dataset
    return only


@pytest.fixture(scope="module")
def pileup_file(files):
    d = files["dir"]
    for kind in ("data", "mc"):
        save_output(_run(files[kind], kind), d / f"{kind}.hist.zip")
    path = d / "pu.json"
    assert main(["pileup", "--data", str(d / "data.hist.zip"), "--mc", str(d / "mc.hist.zip"),
                 "--out", str(path)]) == 0
    return path


def test_pileup_reweighted_mc_matches_the_data_profile(files, pileup_file):
    data = _run(files["data"], "data")
    mc = _run(files["mc"], "mc", pileup=pileup_file)
    pd = weights.profile(data["pileup"], "raw").values()
    pm = weights.profile(mc["pileup"], "weighted").values()
    raw = weights.profile(mc["pileup"], "raw").values()
    both = (pd > 0) & (raw > 0)
    assert both.sum() >= 10
    # per unit bin, within 1 % (the weights are rounded to 2^-16)
    ratio = (pm[both] / pm.sum()) / (pd[both] / pd.sum())
    np.testing.assert_allclose(ratio, 1.0, rtol=0.01)
    assert np.all(pm[raw > 0][pd[raw > 0] == 0] == 0)  # no data there: weight 0
    # the mass histogram now has weights that are not ±1, and the meta says so
    view = mc["mass"].view(flow=True)
    assert not np.array_equal(view["value"], view["variance"])
    assert mc["meta"]["pileup"] == str(pileup_file.resolve())
    # data are never reweighted
    data_pu = _run(files["data"], "data", pileup=pileup_file)
    assert np.array_equal(data_pu["mass"].view(flow=True), data["mass"].view(flow=True))


def test_weighted_histograms_do_not_depend_on_the_chunk_size(files, pileup_file):
    a = _run(files["mc"], "mc", chunksize=97, pileup=pileup_file)
    b = _run(files["mc"], "mc", chunksize=400, pileup=pileup_file)
    for key in ("mass", "response", "pileup"):
        assert np.array_equal(a[key].view(flow=True), b[key].view(flow=True)), key


def test_xsec_lumi_normalisation(files):
    ref = _run(files["mc"], "mc")
    out = _run(files["mc"], "mc", metadata={"xsec": 2.0}, lumi=10.0)
    # genWeight is 1 in the simulation: Σ genWeight = N
    assert out["meta"]["sum_genweight"] == pytest.approx(N_EVENTS)
    assert out["meta"]["norm_factor"] == pytest.approx(20.0 / N_EVENTS)
    f = out["meta"]["norm_factor"]
    np.testing.assert_allclose(out["mass"].values(flow=True), f * ref["mass"].values(flow=True))
    np.testing.assert_allclose(out["mass"].variances(flow=True),
                               f * f * ref["mass"].variances(flow=True))
    # Σ genWeight given by the fileset wins; data are not normalised
    given = _run(files["mc"], "mc", metadata={"xsec": 2.0, "sum_genweight": 1000.0}, lumi=10.0)
    assert given["meta"]["norm_factor"] == pytest.approx(0.02)
    data = _run(files["data"], "data", metadata={"xsec": 2.0}, lumi=10.0)
    assert data["meta"]["norm_factor"] == 1.0
    with pytest.raises(ValueError, match="lumi"):
        make_processor("zee", calibrations=("bdt",), lumi=-1.0)


def test_corrections_scale_data_and_smear_mc(files, tmp_path):
    n = 5
    ss = ScaleSmearing("bdt", np.full(n, 1.02), np.full(n, 0.001), np.full(n, 0.03),
                       np.full(n, 0.001), np.ones(n, bool))
    path = write_corrections(tmp_path / "egm.json", {"bdt": ss})
    centres = None
    for kind in ("data", "mc"):
        ref = _run(files[kind], kind)
        cor = _run(files[kind], kind, corrections=path)
        h0, h1 = ref["mass"]["bdt", sum, sum, :], cor["mass"]["bdt", sum, sum, :]
        centres = h0.axes[0].centers
        m0 = np.average(centres, weights=h0.values())
        m1 = np.average(centres, weights=h1.values())
        s0 = np.sqrt(np.average((centres - m0) ** 2, weights=h0.values()))
        s1 = np.sqrt(np.average((centres - m1) ** 2, weights=h1.values()))
        if kind == "data":  # every object × 1.02: the mass × 1.02
            assert m1 / m0 == pytest.approx(1.02, abs=0.004)
            assert cor["meta"]["corrections_applied"] == "scale (nominal): bdt"
        else:  # smeared: wider, same mean; the same for any chunking
            assert s1 > s0 and m1 == pytest.approx(m0, abs=1.0)
            other = _run(files[kind], kind, chunksize=61, corrections=path)
            assert np.array_equal(other["mass"].view(flow=True), cor["mass"].view(flow=True))
            assert cor["meta"]["corrections_applied"] == "smearing (nominal): bdt"
    with pytest.raises(KeyError, match="EGMScale_"):
        make_processor("zee", calibrations=("truth",), corrections=path)
