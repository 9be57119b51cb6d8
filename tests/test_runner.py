"""Runner: executors give identical histograms, fileset handling, CLI, cluster fallbacks."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from coffea.util import load
from test_processors import write_channel_sample

from calocoffea.app.cli import main
from calocoffea.execution import runner
from calocoffea.execution.clusters import ClusterUnavailable
from calocoffea.execution.outputs import single_dataset
from calocoffea.fileset import FilesetError, load_fileset, normalize_fileset, write_fileset
from processors import make_processor
from processors.base import StandardOnlyWarning

pytestmark = pytest.mark.filterwarnings("ignore::processors.base.StandardOnlyWarning")


@pytest.fixture(scope="module")
def sample_6k(tmp_path_factory) -> Path:
    """6k synthetic MC events: 6 chunks of 1k or a single chunk of 10k. (The benchmark
    checks the full 1k/10k × 3 executors matrix with the CNN on simulated files.)"""
    return write_channel_sample(tmp_path_factory.mktemp("det") / "sample6k.root", 6000, 21)


@pytest.fixture(scope="module")
def sample_small(tmp_path_factory) -> Path:
    return write_channel_sample(tmp_path_factory.mktemp("small") / "small.root", 1500, 22)


def _run(path: Path, **opts):
    fileset = normalize_fileset({"sample": [str(path)]})
    options = runner.RunOptions(progress=False, **opts)
    out, metrics = runner.run(make_processor("zee", calibrations=("bdt", "truth")), fileset,
                              options)
    return single_dataset(out), metrics


def assert_identical(a: dict, b: dict) -> None:
    for key in ("mass", "response"):
        assert a[key].axes == b[key].axes
        va, vb = a[key].view(flow=True), b[key].view(flow=True)
        assert np.array_equal(va["value"], vb["value"]), key
        assert np.array_equal(va["variance"], vb["variance"]), key
    assert a["cutflow"] == b["cutflow"]
    assert a["meta"] == b["meta"]


@pytest.mark.slow
def test_identical_histograms_across_executors_and_chunk_sizes(sample_6k):
    ref, m_ref = _run(sample_6k, executor="iterative", chunksize=1000)
    assert ref["cutflow"]["events"] == 6000 and ref["cutflow"]["selected"] > 500
    # the histograms are not trivially empty and hold both weight signs
    bdt = ref["mass"][{"calibration": "bdt"}].sum(flow=True)
    assert 0 < bdt.value < bdt.variance
    runs = {
        "iterative 10k": _run(sample_6k, executor="iterative", chunksize=10_000),
        "futures 2 workers 1k": _run(sample_6k, executor="futures", workers=2, chunksize=1000),
        "dask LocalCluster 2 workers 1k": _run(
            sample_6k, executor="dask", workers=2, chunksize=1000
        ),
    }
    for name, (out, metrics) in runs.items():
        assert metrics["events"] == 6000, name
        assert_identical(ref, out)
    assert runs["dask LocalCluster 2 workers 1k"][1]["cluster"] == "local"
    assert runs["dask LocalCluster 2 workers 1k"][1]["dask_workers"] == 2
    assert m_ref["workers"] == 1


def test_cuda_cluster_falls_back_to_cpu(sample_small):
    if importlib.util.find_spec("dask_cuda") is not None:
        pytest.skip("dask-cuda is installed: no fallback to test here")
    ref, _ = _run(sample_small, executor="iterative", chunksize=500)
    out, metrics = _run(sample_small, executor="dask", cluster="cuda", chunksize=500)
    assert metrics["cluster"] == "local"
    assert "dask-cuda" in metrics["cuda_fallback"]
    assert_identical(ref, out)


def test_condor_without_dask_jobqueue_or_htcondor_is_a_clear_error(sample_small, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no condor_submit: nothing can be submitted
    with pytest.raises(ClusterUnavailable, match=r"dask-jobqueue|condor_submit not found"):
        _run(sample_small, executor="dask", cluster="condor")


def test_options_are_checked():
    with pytest.raises(ValueError, match="executor"):
        runner.RunOptions(executor="spark").check()
    with pytest.raises(ValueError, match="only apply to --executor dask"):
        runner.RunOptions(executor="futures", cluster="cuda").check()
    with pytest.raises(ValueError, match="workers"):
        runner.RunOptions(workers=0).check()
    with pytest.raises(ValueError, match="unknown processor"):
        make_processor("ttbar")


@pytest.mark.filterwarnings("ignore:Performed attempt")
def test_skip_bad_files_reports_them(sample_small, tmp_path):
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(sample_small.read_bytes()[:5000])
    fileset = normalize_fileset({"s": [str(sample_small), str(truncated)]})
    proc = make_processor("zee", calibrations=("bdt",))
    with pytest.raises(Exception, match=r"truncated\.root"):
        runner.run(proc, fileset, runner.RunOptions(executor="iterative", progress=False))
    out, metrics = runner.run(
        proc, fileset, runner.RunOptions(executor="iterative", progress=False, skip_bad_files=True)
    )
    out = single_dataset(out)
    assert metrics["skipped_files"] == [str(truncated)]
    assert metrics["events"] == out["cutflow"]["events"] == 1500


def test_fileset_validation_and_relative_paths(tmp_path, sample_small):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.root").write_bytes(sample_small.read_bytes())
    path = write_fileset(
        tmp_path / "fs.json", {"a": {"files": ["data/a.root"], "metadata": {"era": "toy"}}}
    )
    fs = load_fileset(path)
    assert fs == {"a": {"files": {str(data / "a.root"): "Events"}, "metadata": {"era": "toy"}}}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"a": ["data/missing.root"]}))
    with pytest.raises(FilesetError, match=r"missing\.root"):
        load_fileset(bad)
    assert load_fileset(bad, check_files=False)["a"]["files"]
    remote = normalize_fileset({"r": ["root://eos.example//store/x.root"]})
    assert "root://eos.example//store/x.root" in remote["r"]["files"]
    for broken, msg in (
        ({}, "non-empty"),
        ({"a": "x.root"}, "expected a list"),
        ({"a": {"files": []}}, "non-empty"),
        ({"a": {"files": ["x.root"], "tree": "Events"}}, "unknown keys"),
        ({"a": {"files": ["x.root"], "metadata": {"dataset": "b"}}}, "reserved"),
    ):
        with pytest.raises(FilesetError, match=msg):
            normalize_fileset(broken, check_files=False)
    notjson = tmp_path / "x.json"
    notjson.write_text("{")
    with pytest.raises(FilesetError, match="not valid JSON"):
        load_fileset(notjson)


def test_cli_run_writes_output_and_metrics(tmp_path, sample_small, capsys):
    fs = write_fileset(tmp_path / "fs.json", {"zee_mc": [str(sample_small)]})
    out_path, metrics_path = tmp_path / "out.coffea", tmp_path / "m.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StandardOnlyWarning)
        rc = main(
            [
                "run",
                "--processor",
                "zee",
                str(fs),
                "--executor",
                "iterative",
                "--chunksize",
                "700",
                "--out",
                str(out_path),
                "--metrics",
                str(metrics_path),
                "--no-progress",
            ]
        )
    assert rc == 0
    assert "events/s" in capsys.readouterr().out
    out = load(str(out_path))
    assert set(out) == {"zee_mc"}
    out = out["zee_mc"]
    assert set(out) == {"response", "mass", "pull", "pull_et_reco", "sigma_m", "pileup",
                        "sum_genweight", "cutflow", "meta"}
    assert out["meta"]["channel"] == "zee" and out["meta"]["kind"] == "mc"
    assert out["meta"]["dataset"] == "zee_mc"
    m = json.loads(metrics_path.read_text())
    assert m["events"] == out["cutflow"]["events"] == 1500
    assert m["objects"] == 2 * out["cutflow"]["selected"] > 0
    assert m["executor"] == "iterative" and m["workers"] == 1
    assert m["events_per_s"] > 0 and m["wall_time_s"] > 0
    assert m["files"] == 1 and m["skipped_files"] == []
    assert "provider" in m and "model" in m
    # explicit cnn without a model: exit status 2 and a message naming the missing file
    rc = main(
        [
            "run",
            "--processor",
            "zee",
            str(fs),
            "--out",
            str(out_path),
            "--calibrations",
            "bdt,cnn",
            "--model",
            str(tmp_path / "none.onnx"),
        ]
    )
    assert rc == 2
    assert "none.onnx" in capsys.readouterr().err
    rc = main(["run", "--processor", "zee", str(tmp_path / "nofs.json"), "--out", "x"])
    assert rc == 2


def test_metadata_from_check_files_gives_coffeas_own_chunks(sample_small, sample_6k):
    from coffea import processor

    fileset = normalize_fileset(
        {"a": {"files": [str(sample_small), str(sample_6k)], "metadata": {"kind": "mc"}}}
    )
    uuids: dict = {}
    checked, _, entries = runner.check_files(fileset, uuids=uuids)
    assert entries == {str(sample_small): 1500, str(sample_6k): 6000}
    assert all(len(u) == 16 for u in uuids.values())
    cache = runner._metadata_cache(checked, entries, uuids)

    def chunks(metadata_cache):
        run = processor.Runner(executor=processor.IterativeExecutor(), chunksize=1000,
                               metadata_cache=metadata_cache)
        return [(c.dataset, c.filename, c.treename, c.entrystart, c.entrystop, c.fileuuid,
                 c.usermeta) for c in run.preprocess(dict(checked))]

    ours, coffeas = chunks(cache), chunks({})  # {}: coffea opens every file itself
    assert ours == coffeas
    assert len(ours) == 2 + 6 and ours[0][6] == {"kind": "mc"}


def test_coffea_does_not_reopen_checked_files(sample_small, tmp_path):
    import shutil

    from coffea import processor

    copy = tmp_path / "copy.root"
    shutil.copy(sample_small, copy)
    fileset = normalize_fileset({"a": [str(copy)]})
    uuids: dict = {}
    checked, _, entries = runner.check_files(fileset, uuids=uuids)
    cache = runner._metadata_cache(checked, entries, uuids)
    copy.unlink()  # planning the chunks must now come from the cache alone
    run = processor.Runner(executor=processor.IterativeExecutor(), chunksize=1000,
                           metadata_cache=cache)
    assert [(c.entrystart, c.entrystop) for c in run.preprocess(dict(checked))] == [
        (0, 750), (750, 1500)]
    fresh = processor.Runner(executor=processor.IterativeExecutor(), chunksize=1000,
                             metadata_cache={})
    with pytest.raises(Exception, match=r"copy\.root"):
        list(fresh.preprocess(dict(checked)))


def test_uproot_options_memmap_local_files_only():
    """Chunks of local files are read through uproot's MemmapSource; a fileset with a remote
    file keeps uproot's default handler (memory maps need a local path)."""
    import uproot

    local = {"a": {"files": {"/data/a.root": "Events", "b.root": "Events"}}}
    remote = {"a": {"files": {"/data/a.root": "Events", "root://eos.cern.ch//b.root": "Events"}}}
    opts = runner.uproot_options(local)
    assert opts["handler"] is uproot.source.file.MemmapSource
    assert opts["array_cache"] is None
    assert "handler" not in runner.uproot_options(remote)
    assert runner.uproot_options(remote)["array_cache"] is None
