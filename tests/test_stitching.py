"""Stitching a p_T-sliced Z→ee sample to the inclusive one (:mod:`calocoffea.stitching`):
the inclusive events above the slice are vetoed and counted, the stitched sum estimates the
inclusive yield, the high-E_T bins gain effective entries, and bad combinations are refused."""

from __future__ import annotations

import numpy as np
import pytest

from calocoffea import stitching
from calocoffea.app.cli import main
from calocoffea.execution import runner
from calocoffea.fileset import normalize_fileset
from processors import make_processor

N_INCL, N_SLICED, PT_CUT = 1500, 600, 30.0


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("stitch")
    out = {"incl": d / "incl.root", "sliced": d / "sliced.root"}
    assert main(["generate", "--process", "zee", "--events", str(N_INCL), "--seed", "51",
                 "--out", str(out["incl"]), "--no-standard-calibration", "--no-progress"]) == 0
    assert main(["generate", "--process", "zee", "--events", str(N_SLICED), "--seed", "52",
                 "--boson-pt-min", str(PT_CUT), "--out", str(out["sliced"]),
                 "--no-standard-calibration", "--no-progress"]) == 0
    return out


def _run(datasets: dict, chunksize: int = 400) -> dict:
    fileset = normalize_fileset({
        name: {"files": {str(path): "Events"}, "metadata": {"kind": "mc", **meta}}
        for name, (path, meta) in datasets.items()})
    proc = make_processor("zee", calibrations=("bdt",), lumi=float(N_INCL))
    out, _ = runner.run(proc, fileset, runner.RunOptions(executor="iterative",
                                                         chunksize=chunksize, progress=False))
    return out


def _stitched_set(files, chunksize=400):
    return _run({
        "incl": (files["incl"], {"xsec": 1.0, stitching.STITCH_KEY: PT_CUT}),
        "sliced": (files["sliced"], {"xsec": stitching.sliced_xsec("zee", 1.0, PT_CUT)}),
    }, chunksize)


@pytest.fixture(scope="module")
def stitched(files) -> dict:
    return _stitched_set(files)


def _total(h):
    s = h.sum(flow=True)
    return float(s.value), float(s.variance)


def test_stitched_set_estimates_the_inclusive_yield(files, stitched):
    out = stitched
    plain = _run({"incl": (files["incl"], {"xsec": 1.0})})["incl"]
    incl, sliced = out["incl"], out["sliced"]
    key = stitching.veto_key(PT_CUT)
    # the veto removes exactly the selected events the plain run has in excess, and they
    # are counted: nothing vanishes
    n_veto = incl["cutflow"][key]
    assert n_veto > 20
    assert plain["cutflow"]["selected"] - incl["cutflow"]["selected"] == n_veto
    assert incl["meta"]["boson_pt_max"] == PT_CUT and incl["meta"]["boson_pt_min"] == 0.0
    assert sliced["meta"]["boson_pt_min"] == PT_CUT and "boson_pt_max" not in sliced["meta"]
    total = stitching.stitch(out)
    assert total["meta"]["slices"] == [[0.0, PT_CUT], [PT_CUT, None]]
    assert total["cutflow"]["selected"] == (incl["cutflow"]["selected"]
                                            + sliced["cutflow"]["selected"])
    # lumi = N_incl, xsec 1: the inclusive events weigh 1, the sliced F * N_incl / N_sliced
    h = total["mass"][{"calibration": "bdt"}]
    stitched, _ = _total(h)
    expected, _ = _total(plain["mass"][{"calibration": "bdt"}])
    # the vetoed events are replaced by the sliced sample's estimate of them: equal within
    # the statistical error of the two estimates of that part (a wrong cross-section
    # factor, a missing veto or a double count moves it by tens of standard deviations)
    _, var_sliced = _total(sliced["mass"][{"calibration": "bdt"}])
    err = np.sqrt(n_veto + var_sliced)
    assert abs(stitched - expected) < 3 * err, (stitched, expected, err)
    # the tail bins gain effective entries: the high-E_T response bins hold the sliced
    # sample's statistics
    def n_eff(output, lo):
        r = output["response"][{"calibration": "bdt", "particle": "electron"}]
        p = r.project("et")
        sel = p.axes[0].edges[:-1] >= lo
        w, w2 = p.values()[sel].sum(), p.variances()[sel].sum()
        return w * w / w2 if w2 > 0 else 0.0
    assert n_eff(total, 60.0) > 2 * n_eff(plain, 60.0)


def test_the_command_writes_the_stitched_dataset(stitched, tmp_path):
    from calocoffea.execution.outputs import load_output, save_output

    out = stitched
    src = save_output(out, tmp_path / "zee.hist.zip")
    dst = tmp_path / "zee_stitched.hist.zip"
    assert main(["stitch", str(src), "--datasets", "incl,sliced", "--name", "zee",
                 "--out", str(dst)]) == 0
    back = load_output(dst)
    assert sorted(back) == ["zee"] and back["zee"]["meta"]["dataset"] == "zee"
    expected = stitching.stitch(out)
    for key in ("mass", "pull", "response"):
        assert np.array_equal(back["zee"][key].view(flow=True),
                              expected[key].view(flow=True)), key
    # never over an input; unknown datasets and a plain inclusive pair are refused
    assert main(["stitch", str(src), "--datasets", "incl,sliced", "--name", "zee",
                 "--out", str(src)]) == 2
    assert main(["stitch", str(src), "--datasets", "incl,nope", "--name", "zee",
                 "--out", str(tmp_path / "x.hist.zip")]) == 2
    assert not (tmp_path / "x.hist.zip").exists()


def test_stitching_does_not_depend_on_the_chunk_size(files, stitched):
    a, b = _stitched_set(files, 97), stitched
    for name in ("incl", "sliced"):
        assert a[name]["cutflow"] == b[name]["cutflow"]
        for key in ("mass", "response"):
            assert np.array_equal(a[name][key].view(flow=True), b[name][key].view(flow=True))


def test_a_sliced_file_in_a_vetoed_dataset_is_refused(files):
    with pytest.raises(Exception, match=r"sliced\.root.*every event would be vetoed"):
        _run({"sliced": (files["sliced"], {"xsec": 1.0, stitching.STITCH_KEY: PT_CUT})})
    with pytest.raises(Exception, match="boson_pt_max='x' must be a positive number"):
        _run({"incl": (files["incl"], {"xsec": 1.0, stitching.STITCH_KEY: "x"})})


def _meta(lo=0.0, hi=None, **kw):
    meta = {"kind": "mc", "xsec": 1.0, "lumi": 10.0, "boson_pt_min": lo, **kw}
    if hi is not None:
        meta[stitching.STITCH_KEY] = hi
    return {"meta": meta, "cutflow": {}}


def test_slices_must_tile_the_boson_pt_range_once():
    with pytest.raises(ValueError, match="overlaps"):  # two inclusive samples: double count
        stitching.stitch({"a": _meta(), "b": _meta()})
    with pytest.raises(ValueError, match="overlaps"):  # the inclusive one not vetoed
        stitching.stitch({"a": _meta(), "b": _meta(lo=90.0)})
    with pytest.raises(ValueError, match="gap"):
        stitching.stitch({"a": _meta(hi=60.0), "b": _meta(lo=90.0)})
    with pytest.raises(ValueError, match="missing"):
        stitching.stitch({"a": _meta(hi=60.0), "b": _meta(lo=60.0, hi=120.0)})
    with pytest.raises(ValueError, match="normalised"):
        stitching.stitch({"a": _meta(hi=90.0), "b": {"meta": {"kind": "mc", "lumi": 10.0,
                                                              "boson_pt_min": 90.0}}})
    with pytest.raises(ValueError, match="different lumis"):
        stitching.stitch({"a": _meta(hi=90.0), "b": _meta(lo=90.0, lumi=5.0)})
    with pytest.raises(ValueError, match="zmumugamma"):
        stitching.sliced_xsec("zmumugamma", 1.0, 90.0)
