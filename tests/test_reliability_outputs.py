"""Reliability of filesets, outputs and the command line (issue 16, classes 3, 5, 6, 9, 12):
one file under several names, outputs over inputs, atomic saves, failed reruns, code in
pickles, symlinks planted at output paths, silent downgrades, terminal noise.

Runs use the synthetic channel sample (no cells, 400 events) with ``--calibrations
bdt,truth`` unless the CNN is the point. docs/reliability.md lists every case.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_processors import write_channel_sample

from calocoffea.app.cli import main

pytestmark = [pytest.mark.filterwarnings("ignore::processors.base.StandardOnlyWarning")]

N_EVENTS = 400
RUN = ["--executor", "iterative", "--no-progress"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """400 synthetic MC events without cells (seed 61)."""
    return write_channel_sample(tmp_path_factory.mktemp("outs") / "x.root", N_EVENTS, 61)


def fileset(path: Path, content: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


def run_cli(fs: Path, out: Path, *extra: str, calibrations: str | None = "bdt,truth") -> int:
    args = ["run", "--processor", "zee", str(fs), "--out", str(out), *RUN, *extra]
    if calibrations:
        args += ["--calibrations", calibrations]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main(args)


# ------------------------------------------------------------------ class 3: filesets
def test_one_file_under_three_names_is_read_once(tmp_path, sample):
    """Class 3. ``../x.root``, ``../fs/../x.root`` and a symlink: processed three times
    before (3 × the events of the file). Now resolved to one real path, read once."""
    fsdir = tmp_path / "fs"
    fsdir.mkdir()
    (fsdir / "link.root").symlink_to(sample)
    rel = os.path.relpath(sample, fsdir)
    fs = fileset(fsdir / "fileset.json", {"zee": [rel, f"../fs/{rel}", "link.root"]})
    metrics = tmp_path / "m.json"
    assert run_cli(fs, tmp_path / "o.hist.zip", "--metrics", str(metrics)) == 0
    m = json.loads(metrics.read_text())
    assert m["events"] == N_EVENTS and m["files"] == 1 and m["dataset_files"] == 1


def test_file_in_two_datasets_is_an_error_unless_allowed(tmp_path, sample, capsys):
    """Class 3. One file in two datasets was counted twice while the metrics said files: 1.
    Now an error naming the file and both datasets; ``--allow-shared-files`` runs it once
    per dataset and says so (``dataset_files`` 2)."""
    link = tmp_path / "alias.root"
    link.symlink_to(sample)
    fs = fileset(tmp_path / "fs.json", {"a": [str(sample)], "b": [str(link)]})
    out = tmp_path / "o.hist.zip"
    assert run_cli(fs, out) == 2
    err = capsys.readouterr().err
    assert str(sample) in err and "'a'" in err and "'b'" in err and not out.exists()
    metrics = tmp_path / "m.json"
    assert run_cli(fs, out, "--allow-shared-files", "--metrics", str(metrics)) == 0
    m = json.loads(metrics.read_text())
    assert m["events"] == 2 * N_EVENTS and m["files"] == 1 and m["dataset_files"] == 2


def test_runner_resolves_filesets_given_as_dicts(tmp_path, sample):
    """The library's runner resolves every fileset, not only the command line's."""
    from calocoffea.execution import runner
    from calocoffea.fileset import FilesetError
    from processors import make_processor

    link = tmp_path / "l.root"
    link.symlink_to(sample)
    proc = make_processor("zee", calibrations=("bdt",))
    opts = runner.RunOptions(executor="iterative", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, m = runner.run(proc, {"s": {"files": {str(sample): "Events", str(link): "Events"}}},
                          opts)
        assert m["events"] == N_EVENTS
        with pytest.raises(FilesetError, match="datasets 's' and 't'"):
            runner.run(proc, {"s": [str(sample)], "t": {"files": {str(link): "Events"}}}, opts)


# ------------------------------------------------------------------ class 5: outputs
def test_output_over_an_input_or_the_metrics_is_refused(tmp_path, sample, capsys):
    """Class 5. ``--out`` equal to the input ROOT file overwrote it with a pickle; ``--out``
    equal to ``--metrics`` replaced the histograms by JSON. Both refused, nothing written."""
    before = sample.read_bytes()
    link = tmp_path / "same.root"
    link.symlink_to(sample)
    fs = fileset(tmp_path / "fs.json", {"zee": [str(sample)]})
    assert run_cli(fs, link) == 2
    assert "same file as the input" in capsys.readouterr().err
    assert sample.read_bytes() == before
    out = tmp_path / "o.json"
    assert run_cli(fs, out, "--metrics", str(tmp_path / "x" / ".." / "o.json")) == 2
    assert "same file as the output" in capsys.readouterr().err
    assert not out.exists()
    assert run_cli(fs, tmp_path / "o.hist.zip", "--metrics", str(fs)) == 2
    assert json.loads(fs.read_text()) == {"zee": [str(sample)]}


def test_fit_output_over_its_input_is_refused(tmp_path, sample, capsys):
    fs = fileset(tmp_path / "fs.json", {"zee": [str(sample)]})
    out = tmp_path / "o.coffea"
    assert run_cli(fs, out) == 0
    before = out.read_bytes()
    assert main(["fit", str(out), "--out", str(out)]) == 2
    assert "same file" in capsys.readouterr().err
    assert out.read_bytes() == before


class _Exploding:
    """Pickling it fails halfway through a save (as a kill or a full disk would)."""

    def __reduce__(self):
        raise RuntimeError("disk full")


class _Killing:
    """Pickling it kills the process (SIGKILL), halfway through a save."""

    def __reduce__(self):
        os.kill(os.getpid(), signal.SIGKILL)
        return (int, ())  # pragma: no cover


def test_failed_save_leaves_the_previous_file_and_no_partial_one(tmp_path):
    """Class 5. Saving was not atomic: a failure during the save left a truncated file at
    the final path. Now the destination keeps its previous content and no temporary file
    is left."""
    from calocoffea.execution import runner

    path = tmp_path / "out.coffea"
    path.write_bytes(b"previous result")
    with pytest.raises(RuntimeError, match="disk full"):
        runner.save_output({"cutflow": {"events": 3}, "meta": {"x": _Exploding()}}, path)
    assert path.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.coffea"]


def test_killed_save_never_leaves_a_truncated_file_at_the_final_path(tmp_path):
    code = (
        "import sys; sys.path.insert(0, sys.argv[2])\n"
        "from test_reliability_outputs import _Killing\n"
        "from calocoffea.execution import runner\n"
        "runner.save_output({'meta': {'k': _Killing()}, 'cutflow': {'e': 1}}, sys.argv[1])\n"
    )
    path = tmp_path / "out.coffea"
    res = subprocess.run([sys.executable, "-c", code, str(path), str(Path(__file__).parent)],
                         capture_output=True, timeout=120, check=False)
    assert res.returncode == -signal.SIGKILL
    assert not path.exists()
    assert [p for p in tmp_path.iterdir() if not p.name.startswith(".")] == []


def test_failed_rerun_removes_the_previous_output_and_says_failed(tmp_path, sample):
    """Class 5. An interrupted or failed rerun left the previous output and metrics looking
    complete. Now the previous output is gone and the metrics say failed, with the error."""
    fs = fileset(tmp_path / "fs.json", {"zee": [str(sample)]})
    out, metrics = tmp_path / "o.hist.zip", tmp_path / "m.json"
    assert run_cli(fs, out, "--metrics", str(metrics)) == 0
    assert out.exists() and json.loads(metrics.read_text())["status"] == "complete"
    # the same run, with a model that cannot load: fails before the run starts
    assert run_cli(fs, out, "--metrics", str(metrics), "--model",
                   str(tmp_path / "nope.onnx"), calibrations="bdt,cnn") == 2
    m = json.loads(metrics.read_text())
    assert m["status"] == "failed" and "nope.onnx" in m["error"] and not out.exists()
    # again complete, then a fileset whose file went missing: fails inside the run
    assert run_cli(fs, out, "--metrics", str(metrics)) == 0
    bad = fileset(tmp_path / "bad.json", {"zee": [str(tmp_path / "fs.json")]})
    assert run_cli(bad, out, "--metrics", str(metrics)) == 2
    m = json.loads(metrics.read_text())
    assert m["status"] == "failed" and "cannot read tree" in m["error"] and not out.exists()


def test_interrupted_run_marks_the_metrics(tmp_path, sample):
    """SIGTERM during the run: metrics "interrupted", no output (subprocess)."""
    fs = fileset(tmp_path / "fs.json", {"zee": [str(sample)] * 1})
    out, metrics = tmp_path / "o.hist.zip", tmp_path / "m.json"
    code = (
        "import os, signal, sys\n"
        "from processors import base\n"
        "orig = base.CaloProcessor.process\n"
        "def process(self, events):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return orig(self, events)\n"
        "base.CaloProcessor.process = process\n"
        "from calocoffea.app.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    args = ["run", "--processor", "zee", str(fs), "--out", str(out), "--metrics",
            str(metrics), "--calibrations", "bdt", *RUN]
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         timeout=180, check=False)
    assert res.returncode == 128 + signal.SIGTERM, res.stderr[-2000:]
    assert json.loads(metrics.read_text())["status"] == "interrupted"
    assert not out.exists()


# ------------------------------------------------------------------ class 6: code, symlinks
class _Evil:
    """Unpickling it writes ``marker`` (stands for any code an attacker embeds)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_pickle(path: Path, marker: Path) -> Path:
    from coffea.util import save

    save({"mass": _Evil(str(marker)), "meta": {"channel": "zee"}}, str(path))
    return path


def test_fit_and_plot_never_unpickle_untrusted_files(tmp_path, capsys):
    """Class 6. ``calocoffea fit evil.coffea`` and ``calocoffea plot DIR`` executed the code
    in a pickled file before any validation. Now a pickle is refused unless --trust-pickle,
    whatever its name."""
    marker = tmp_path / "pwned"
    evil = _evil_pickle(tmp_path / "evil.coffea", marker)
    assert main(["fit", str(evil), "--out", str(tmp_path / "r.json")]) == 2
    assert "--trust-pickle" in capsys.readouterr().err and not marker.exists()
    renamed = tmp_path / "evil.hist.zip"
    renamed.write_bytes(evil.read_bytes())
    assert main(["fit", str(renamed), "--out", str(tmp_path / "r.json")]) == 2
    assert not marker.exists()
    d = tmp_path / "report"
    (d / "outputs").mkdir(parents=True)
    (d / "results").mkdir()
    _evil_pickle(d / "outputs" / "zee_mc.coffea", marker)
    (d / "results" / "zee_mc.json").write_text(json.dumps({"channel": "zee", "mass": {}}))
    assert main(["plot", str(d)]) == 2
    assert "pickle" in capsys.readouterr().err and not marker.exists()
    # asked for explicitly, the pickle is loaded (and the code runs: that is what trust means)
    from calocoffea.execution.outputs import load_output

    load_output(evil, trust_pickle=True)
    assert marker.exists()


def test_outputs_are_never_written_through_planted_symlinks(tmp_path, sample):
    """Class 6. Outputs and metrics were written through symlinks planted at their paths
    (overwriting the symlinks' targets). Now the symlink itself is replaced."""
    victim_out, victim_m = tmp_path / "victim1", tmp_path / "victim2"
    victim_out.write_text("keep 1")
    victim_m.write_text("keep 2")
    out, metrics = tmp_path / "o.hist.zip", tmp_path / "m.json"
    out.symlink_to(victim_out)
    metrics.symlink_to(victim_m)
    fs = fileset(tmp_path / "fs.json", {"zee": [str(sample)]})
    assert run_cli(fs, out, "--metrics", str(metrics)) == 0
    assert victim_out.read_text() == "keep 1" and victim_m.read_text() == "keep 2"
    assert not out.is_symlink() and not metrics.is_symlink()
    assert json.loads(metrics.read_text())["status"] == "complete"


def test_generate_never_writes_through_a_planted_temporary_name(tmp_path):
    """The simulation's temporary file had a predictable name (``.<out>.tmp<pid>``): a
    symlink planted there was written through. Now the name is random and opened O_EXCL."""
    from calocoffea.sim.generate import generate_file

    victim = tmp_path / "victim"
    victim.write_text("keep")
    out = tmp_path / "g.root"
    (tmp_path / f".{out.name}.tmp{os.getpid()}").symlink_to(victim)
    generate_file(out, "zee", n_events=20, seed=3)
    assert victim.read_text() == "keep" and out.is_file() and not out.is_symlink()


def test_safe_formats_round_trip_exactly(tmp_path, sample):
    """zip and JSON formats: every bin (flow included), variance, axis and metadata exact."""
    from calocoffea.execution import outputs
    from calocoffea.execution import runner as r
    from processors import make_processor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, _ = r.run(make_processor("zee", calibrations=("bdt", "truth")),
                       {"s": [str(sample)]}, r.RunOptions(executor="iterative", progress=False))
    out = out["s"]
    out["meta"]["extra"] = {"values": [1, 2], "nan": float("nan"), "set": {"b", "a"}}
    out["mass"].metadata = {"note": "m"}
    for name in ("o.hist.zip", "o.hist.json"):
        path = outputs.save_output(out, tmp_path / name)
        back = outputs.load_output(path)
        assert set(back) == set(out)
        for key in ("mass", "response"):
            a, b = out[key], back[key]
            assert type(a) is type(b) and a.axes == b.axes
            assert [ax.label for ax in a.axes] == [ax.label for ax in b.axes]
            assert [ax.traits for ax in a.axes] == [ax.traits for ax in b.axes]
            assert np.array_equal(a.view(flow=True), b.view(flow=True))
            assert a.storage_type == b.storage_type
        assert back["mass"].metadata == {"note": "m"}
        assert back["cutflow"] == out["cutflow"]
        extra = back["meta"].pop("extra")
        assert extra["values"] == [1, 2] and np.isnan(extra["nan"]) and extra["set"] == {"a", "b"}
        out_meta = dict(out["meta"])
        out_meta.pop("extra")
        assert back["meta"] == out_meta
    with pytest.raises(TypeError, match=r"output\['meta'\]\['bad'\]: ndarray"):
        outputs.save_output({"meta": {"bad": np.zeros(3)}}, tmp_path / "x.hist.zip")
    with pytest.raises(outputs.OutputFormatError, match="not a calocoffea output"):
        (tmp_path / "other.json").write_text('{"a": 1}')
        outputs.load_output(tmp_path / "other.json")
    pickled = outputs.save_output(out, tmp_path / "p.coffea")
    with pytest.raises(outputs.UntrustedPickleError):
        outputs.load_output(pickled)
    assert pickle.dumps(outputs.load_output(pickled, trust_pickle=True)["cutflow"])


# ------------------------------------------------------------------ class 9: downgrades
def test_missing_model_or_cells_is_an_error_not_a_downgrade(tmp_path, sample, capsys):
    """Class 9. ``--model models/nope.onnx`` disabled the CNN with a warning and exited 0;
    ``--calibrations bdt,cnn`` on a file without cells also exited 0 without a CNN."""
    fs = fileset(tmp_path / "fs.json", {"zee": [str(sample)]})
    out = tmp_path / "o.hist.zip"
    assert run_cli(fs, out, "--model", str(tmp_path / "nope.onnx"), calibrations=None) == 2
    err = capsys.readouterr().err
    assert "nope.onnx" in err and len(err.strip().splitlines()) == 1
    assert run_cli(fs, out, calibrations="bdt,cnn") == 2
    err = capsys.readouterr().err
    assert "Cluster/CaloCell" in err and str(sample) in err and not out.exists()


def test_summary_line_states_mode_calibrations_and_dropped_cnn(tmp_path, sample, capsys):
    """Class 9. The summary line never stated mode or calibrations. With the default
    calibrations on a file without cells the CNN is dropped, and the line and the metrics
    say so."""
    fs = fileset(tmp_path / "fs.json", {"zee": [str(sample)]})
    metrics = tmp_path / "m.json"
    assert run_cli(fs, tmp_path / "o.hist.zip", "--metrics", str(metrics),
                   calibrations=None) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "mode standard-only" in line and "calibrations bdt,truth" in line
    assert "cnn dropped: no Cluster/CaloCell" in line
    m = json.loads(metrics.read_text())
    assert m["calibrations"] == ["bdt", "truth"] and m["mode"] == "standard-only"
    assert m["cnn_dropped"].startswith("no Cluster/CaloCell")


# ------------------------------------------------------------------ class 12: terminal
def test_dask_run_with_no_progress_is_quiet(tmp_path, sample):
    """Class 12. ``run --executor dask`` printed ~30 ``INFO distributed`` lines even with
    --no-progress. Now the output is the summary line only."""
    fs = fileset(tmp_path / "fs.json", {"zee": [str(sample)]})
    res = subprocess.run(
        [sys.executable, "-m", "calocoffea.app.cli", "run", "--processor", "zee", str(fs),
         "--out", str(tmp_path / "o.hist.zip"), "--executor", "dask", "--workers", "1",
         "--no-progress", "--calibrations", "bdt"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "distributed" not in res.stderr and "INFO" not in res.stderr, res.stderr[:3000]
    assert res.stdout.strip().startswith("zee (mc, mode standard-only, calibrations bdt)")
    assert len(res.stdout.strip().splitlines()) == 1


def test_no_progress_draws_no_bar(tmp_path, sample, capfd):
    """coffea's iterative and futures executors drew their bar whatever ``status`` said."""
    fs = fileset(tmp_path / "fs.json", {"zee": [str(sample)]})
    assert run_cli(fs, tmp_path / "o.hist.zip") == 0
    captured = capfd.readouterr()
    assert "Processing" not in captured.out + captured.err
    assert len(captured.out.strip().splitlines()) == 1


def test_importing_plots_keeps_the_matplotlib_backend():
    """Importing calocoffea.plots forced Agg, so plt.show() in Jupyter showed nothing."""
    code = ("import matplotlib; before = matplotlib.get_backend(); import calocoffea.plots; "
            "print(before, matplotlib.get_backend())")
    env = {**os.environ, "MPLBACKEND": "svg"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120, check=True)
    assert res.stdout.split() == ["svg", "svg"]


def test_fitting_imports_without_tensorflow_noise():
    """Class 12. fit, plot and the notebooks printed TensorFlow's and absl's start-up lines."""
    code = "import calocoffea.fitting.fitter, calocoffea.fitting.pipeline"
    env = {k: v for k, v in os.environ.items() if k != "CALOCOFFEA_TF_VERBOSE"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=300, check=True)
    for noise in ("absl::InitializeLog", "oneDNN", "cudart_stub", "cuda drivers"):
        assert noise not in res.stderr, res.stderr[:2000]


def test_generate_shows_progress_on_a_terminal(tmp_path):
    """generate (and fit, plot) draw a rich bar on a terminal, none with --no-progress."""
    import pty

    outputs = {}
    for flag in ([], ["--no-progress"]):
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "calocoffea.app.cli", "generate", "--process", "zee",
             "--events", "40", "--chunk-size", "10", "--no-standard-calibration", "--out",
             str(tmp_path / "g.root"), *flag],
            stdout=subprocess.DEVNULL, stderr=follower, stdin=subprocess.DEVNULL)
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=120) == 0
        os.close(leader)
        outputs[bool(flag)] = b"".join(chunks).decode(errors="replace")
        if not flag:
            assert "generating zee" in outputs[False] and "40/40" in outputs[False]
    assert "generating" not in outputs[True]
