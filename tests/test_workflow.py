"""The analysis workflow of issue 21 (part 1): outputs keyed by dataset, per-dataset fits that
refuse MC and data mixed, a TOML run configuration, coffea fileset dialects, and
``calocoffea plot`` on any saved output or results JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_processors import write_channel_sample

from calocoffea.app.cli import main
from calocoffea.execution.outputs import dataset_outputs, load_output

pytestmark = pytest.mark.filterwarnings("ignore::processors.base.StandardOnlyWarning")


@pytest.fixture(scope="module")
def mc_file(tmp_path_factory) -> Path:
    return write_channel_sample(tmp_path_factory.mktemp("wf") / "zee_mc.root", 1200, 71)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    return write_channel_sample(tmp_path_factory.mktemp("wf") / "zee_data.root", 1000, 72,
                                mc=False)


def write_json(path: Path, content: dict) -> Path:
    path.write_text(json.dumps(content))
    return path


def run_cli(fileset: Path, out: Path, *extra: str) -> int:
    return main(["run", "--processor", "zee", str(fileset), "--out", str(out),
                 "--executor", "iterative", "--chunksize", "500", "--calibrations", "bdt,truth",
                 "--no-progress", *extra])


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory, mc_file, data_file) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("two")
    fs = write_json(d / "fs.json", {
        "zee_mc": {"files": [str(mc_file)], "metadata": {"kind": "mc", "xsec_pb": 1950.0}},
        "zee_data": {"files": [str(data_file)], "metadata": {"kind": "data"}},
    })
    out = d / "out.hist.zip"
    assert run_cli(fs, out, "--metrics", str(d / "m.json")) == 0
    return out, d / "m.json"


def test_outputs_are_keyed_by_dataset_with_kind_and_metadata(two_datasets):
    out_path, metrics_path = two_datasets
    out = load_output(out_path)
    assert set(out) == {"zee_mc", "zee_data"}
    mc, data = out["zee_mc"], out["zee_data"]
    assert mc["meta"]["kind"] == "mc" and data["meta"]["kind"] == "data"
    assert mc["meta"]["dataset"] == "zee_mc"
    assert mc["meta"]["metadata"] == {"kind": "mc", "xsec_pb": 1950.0}
    assert mc["cutflow"]["events"] == 1200 and data["cutflow"]["events"] == 1000
    # nothing merged: the data histogram has no truth entries, the MC one has
    assert "truth" in mc["mass"].axes["calibration"]
    assert data["response"].sum(flow=True).value == 0
    m = json.loads(metrics_path.read_text())
    assert m["events"] == 2200 and m["kind"] == ["data", "mc"]
    assert {k: v["events"] for k, v in m["datasets"].items()} == {"zee_mc": 1200,
                                                                   "zee_data": 1000}
    assert m["datasets"]["zee_data"]["kind"] == "data"


@pytest.mark.slow
def test_fit_fits_each_dataset_and_refuses_a_mixture(two_datasets, mc_file, data_file,
                                                     tmp_path, capsys):
    out_path, _ = two_datasets
    # min_entries is compared with the effective entries (Σw)²/Σw²: the ±1 genWeight signs of
    # this CMS NanoAOD MC make its 613 (sum of weights) worth 515 unweighted events
    fit_args = ["--min-entries", "500", "--no-mu-fits", "--no-eta-shift", "--no-progress"]
    # two datasets into one JSON file: refused, naming them
    assert main(["fit", str(out_path), "--out", str(tmp_path / "r.json"), *fit_args]) == 2
    err = capsys.readouterr().err
    assert "zee_data" in err and "zee_mc" in err and "--dataset" in err
    res_dir = tmp_path / "results"
    assert main(["fit", str(out_path), "--out", str(res_dir), *fit_args]) == 0
    mc = json.loads((res_dir / "zee_mc.json").read_text())
    data = json.loads((res_dir / "zee_data.json").read_text())
    assert (mc["dataset"], mc["kind"]) == ("zee_mc", "mc")
    assert (data["dataset"], data["kind"]) == ("zee_data", "data")
    assert mc["cutflow"]["events"] == 1200 and data["cutflow"]["events"] == 1000
    assert mc["mass"]["inclusive"]["bdt"]["accepted"]
    assert "truth" not in data["mass"]["inclusive"]
    # calocoffea plot on that directory of results JSONs: each with its histograms
    assert main(["plot", str(res_dir), "--out", str(tmp_path / "figs"), "--format", "png",
                 "--no-progress"]) == 0
    names = {p.name for p in (tmp_path / "figs").glob("*.png")}
    assert {"mass_zee_mc.png", "mass_zee_data.png", "response_zee_mc.png"} <= names
    # one dataset picked: a single JSON file
    assert main(["fit", str(out_path), "--dataset", "zee_data", "--out",
                 str(tmp_path / "d.json"), *fit_args]) == 0
    assert json.loads((tmp_path / "d.json").read_text())["dataset"] == "zee_data"
    # MC and data files in one dataset: the run keeps them together (its kind says so), the
    # fit refuses them with exit status 2
    fs = write_json(tmp_path / "mixed.json", {"zee": [str(mc_file), str(data_file)]})
    mixed = tmp_path / "mixed.hist.zip"
    assert run_cli(fs, mixed) == 0
    capsys.readouterr()
    assert load_output(mixed)["zee"]["meta"]["kind"] == ["data", "mc"]
    assert main(["fit", str(mixed), "--out", str(tmp_path / "x.json"), *fit_args]) == 2
    err = capsys.readouterr().err
    assert "'zee'" in err and "MC and data" in err and "separate datasets" in err
    assert not (tmp_path / "x.json").exists()


def test_declared_kind_must_match_the_files(tmp_path, data_file, capsys):
    fs = write_json(tmp_path / "fs.json",
                    {"zee_mc": {"files": [str(data_file)], "metadata": {"kind": "mc"}}})
    assert run_cli(fs, tmp_path / "o.hist.zip") == 2
    err = capsys.readouterr().err
    assert "'zee_mc'" in err and "kind 'mc'" in err and "'data'" in err


def test_single_dataset_outputs_of_older_files_still_read(tmp_path):
    """An output saved before outputs were keyed by dataset is one dataset."""
    flat = {"mass": np.zeros(1), "cutflow": {}, "meta": {"channel": "zee", "datasets": ["a"]}}
    assert list(dataset_outputs(flat)) == ["a"]
    with pytest.raises(ValueError, match="entry 'x' is not a dataset's output"):
        dataset_outputs({"x": {"y": 1}})


# ---------------------------------------------------------------------------- run configuration
def _hist_arrays(out: dict) -> dict:
    return {(ds, key): out[ds][key].view(flow=True) for ds in out for key in ("mass", "response")}


def assert_bit_identical(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    ha, hb = _hist_arrays(a), _hist_arrays(b)
    for key in ha:
        assert a[key[0]][key[1]].axes == b[key[0]][key[1]].axes
        assert ha[key].tobytes() == hb[key].tobytes(), key
    for ds in a:
        assert a[ds]["cutflow"] == b[ds]["cutflow"] and a[ds]["meta"] == b[ds]["meta"]


def test_toml_config_reproduces_the_flag_run_bit_for_bit(tmp_path, mc_file, data_file, capsys):
    fs = write_json(tmp_path / "fs.json", {
        "zee_mc": {"files": [str(mc_file)], "metadata": {"kind": "mc"}},
        "zee_data": {"files": [str(data_file)], "metadata": {"kind": "data"}}})
    flags_out = tmp_path / "flags.hist.zip"
    assert run_cli(fs, flags_out) == 0
    # the dumped defaults, edited as a user would: same options as the flags above
    assert main(["config", "dump", "--out", str(tmp_path / "run.toml")]) == 0
    text = (tmp_path / "run.toml").read_text()
    text = (text.replace('fileset = "fileset.json"', 'fileset = "fs.json"')
                .replace('out = "out.hist.zip"', 'out = "config.hist.zip"')
                .replace("# calibrations =", 'calibrations = ["bdt", "truth"]  #')
                .replace('executor = "futures"', 'executor = "iterative"')
                .replace("chunksize = 100000", "chunksize = 500")
                .replace("progress = true", "progress = false"))
    cfg = tmp_path / "run.toml"
    cfg.write_text(text)
    assert main(["config", "check", str(cfg)]) == 0
    assert main(["run", "--config", str(cfg)]) == 0
    a, b = load_output(flags_out), load_output(tmp_path / "config.hist.zip")
    assert_bit_identical(a, b)
    # flags override the file: another chunk size (same histograms), another output
    assert main(["run", "--config", str(cfg), "--chunksize", "300", "--out",
                 str(tmp_path / "c300.hist.zip"), "--metrics", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["chunksize"] == 300
    assert_bit_identical(a, load_output(tmp_path / "c300.hist.zip"))
    # the [selection] table reaches the processor: a harder E_T cut selects fewer events
    hard = text.replace("et_min = 9.5", "et_min = 40.0").replace(
        'out = "config.hist.zip"', 'out = "hard.hist.zip"')
    (tmp_path / "hard.toml").write_text(hard)
    assert main(["run", "--config", str(tmp_path / "hard.toml")]) == 0
    sel = load_output(tmp_path / "hard.hist.zip")["zee_mc"]["cutflow"]["selected"]
    assert 0 < sel < a["zee_mc"]["cutflow"]["selected"]


@pytest.mark.parametrize(("edit", "message"), [
    (("executor = \"futures\"", "executor = \"threads\""),
     "executor.executor: 'threads' is not allowed; choose from ['iterative', 'futures', 'dask']"),
    (("workers = 1", "workers = \"two\""), "executor.workers: expected an integer, got 'two'"),
    (("chunksize = 100000", "chunksize = 100000\nchunk_size = 5"), "unknown key(s) ['chunk_size']"),
    (("weights = \"sign\"", "weights = \"xsec\""), "run.weights: 'xsec' is not allowed"),
    (("id_min = 2", "id_min = 2.5"), "selection.electron.id_min: expected an integer, got 2.5"),
    (("opposite_charge = true", "opposite_charges = true"),
     "selection: unknown key(s) ['opposite_charges']"),
    (("memory = \"4GB\"", "memory = \"lots\""), "job memory 'lots'"),
    (("mu_edges = [10.0,", "mu_edges = [0.0,"), "binning.mu_edges"),
    (("# calibrations =", "calibrations = [\"bdtx\"] #"), "run.calibrations: ['bdtx']"),
])
def test_config_errors_name_key_and_allowed_values(tmp_path, capsys, edit, message):
    assert main(["config", "dump", "--out", str(tmp_path / "c.toml")]) == 0
    text = (tmp_path / "c.toml").read_text()
    assert edit[0] in text
    (tmp_path / "c.toml").write_text(text.replace(edit[0], edit[1], 1))
    capsys.readouterr()
    assert main(["config", "check", str(tmp_path / "c.toml")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert main(["run", "--config", str(tmp_path / "c.toml")]) == 2
    assert message in capsys.readouterr().err


def test_dumped_defaults_are_the_defaults():
    import tomllib

    from calocoffea.config import build_dataclass, default_config, parse_config
    from calocoffea.execution.runner import RunOptions
    from processors import PROCESSORS

    for name, cls in PROCESSORS.items():
        cfg = parse_config(tomllib.loads(default_config(name, cls.selection_class())))
        assert cfg.options == RunOptions() and cfg.processor == name
        assert build_dataclass(cls.selection_class, cfg.selection, "selection") == \
            cls.selection_class()


# ---------------------------------------------------------------------------- filesets
def test_dataset_tools_preprocessed_fileset_runs_like_the_plain_one(tmp_path, mc_file, capsys):
    """coffea ``dataset_tools.preprocess`` output (``object_path``, ``steps``, ``num_entries``,
    ``uuid``, dataset ``form``) gives the histograms of the plain form; steps that do not
    cover the whole file are refused (before the run when num_entries says so, else when the
    file is opened)."""
    plain = write_json(tmp_path / "plain.json", {"zee_mc": [str(mc_file)]})
    entry = {"object_path": "Events", "steps": [[0, 500], [500, 1000], [1000, 1200]],
             "num_entries": 1200, "uuid": "0a1b2c3d"}
    pre = write_json(tmp_path / "pre.json", {"zee_mc": {
        "files": {str(mc_file): entry}, "form": None, "metadata": {"kind": "mc"}}})
    assert run_cli(plain, tmp_path / "a.hist.zip") == 0
    assert run_cli(pre, tmp_path / "b.hist.zip") == 0
    a, b = load_output(tmp_path / "a.hist.zip"), load_output(tmp_path / "b.hist.zip")
    for key in ("mass", "response"):
        assert (a["zee_mc"][key].view(flow=True).tobytes()
                == b["zee_mc"][key].view(flow=True).tobytes())
    capsys.readouterr()
    partial = {**entry, "steps": [[0, 500], [700, 1200]]}
    bad = write_json(tmp_path / "bad.json", {"zee_mc": {"files": {str(mc_file): partial}}})
    assert run_cli(bad, tmp_path / "c.hist.zip") == 2
    err = capsys.readouterr().err
    assert "do not tile the file" in err and "[700, 1200]" in err and str(mc_file) in err
    short = {"object_path": "Events", "steps": [[0, 1000]]}
    bad = write_json(tmp_path / "short.json", {"zee_mc": {"files": {str(mc_file): short}}})
    assert run_cli(bad, tmp_path / "c.hist.zip") == 2
    assert "has 1200 entries but the fileset" in capsys.readouterr().err
    bad = write_json(tmp_path / "tree.json", {"zee_mc": {"files": {str(mc_file): {"steps": []}}}})
    assert run_cli(bad, tmp_path / "c.hist.zip") == 2
    assert "'object_path' (the tree name) must be a string" in capsys.readouterr().err


def test_globs_are_expanded_relative_to_the_fileset(tmp_path, mc_file, data_file):
    from calocoffea.fileset import FilesetError, load_fileset

    data = tmp_path / "data"
    data.mkdir()
    for k in range(3):
        (data / f"part{k}.root").write_bytes(mc_file.read_bytes())
    (data / "other.txt").write_text("not ROOT")
    fs = load_fileset(write_json(tmp_path / "fs.json", {
        "mc": ["data/part*.root"], "data": {"files": {str(data_file.parent / "zee_d*.root"):
                                                      "Events"}}}))
    assert [Path(p).name for p in fs["mc"]["files"]] == ["part0.root", "part1.root",
                                                         "part2.root"]
    assert list(fs["data"]["files"]) == [str(data_file.resolve())]
    with pytest.raises(FilesetError, match=r"pattern data/nothing\*\.root matches no file"):
        load_fileset(write_json(tmp_path / "none.json", {"mc": ["data/nothing*.root"]}))


def test_root_urls_need_the_xrootd_extra_one_line(tmp_path, capsys, monkeypatch):
    import importlib.util

    from calocoffea.fileset import normalize_fileset

    fs = write_json(tmp_path / "fs.json",
                    {"zee": ["root://eos.example.org//store/zee.root"]})
    if importlib.util.find_spec("fsspec_xrootd") is None:
        assert run_cli(fs, tmp_path / "o.hist.zip") == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert err.strip() == (
            f"calocoffea run: {fs}: root://eos.example.org//store/zee.root: root:// files "
            "need fsspec-xrootd, which is not installed: pip install 'calocoffea[xrootd]'")
    # with the extra installed the URL is accepted as it is (not checked locally)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object()
                        if name == "fsspec_xrootd" else real_find_spec(name, *a))
    norm = normalize_fileset({"zee": ["root://eos.example.org//store/zee.root"]})
    assert norm["zee"]["files"] == {"root://eos.example.org//store/zee.root": "Events"}
    assert "xrootd" in (Path(__file__).parents[1] / "pyproject.toml").read_text()


# ---------------------------------------------------------------------------- plot
def test_plot_a_saved_output_with_label_lumi_format_rebin(two_datasets, tmp_path, capsys):
    import matplotlib

    out_path, _ = two_datasets
    figs = tmp_path / "figs"
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text in the SVG
        assert main(["plot", str(out_path), "--out", str(figs), "--format", "svg",
                     "--label", "Internal", "--lumi", "1.5", "--rebin", "3",
                     "--no-progress"]) == 0
    assert "figures (svg)" in capsys.readouterr().out
    names = {p.name for p in figs.iterdir()}
    assert {"mass_zee_mc.svg", "mass_zee_data.svg", "response_zee_mc.svg"} <= names
    assert not any(n.endswith((".png", ".pdf")) for n in names)
    svg = (figs / "mass_zee_data.svg").read_text()
    assert "Internal" in svg and "1.5 fb" in svg and "Simulation" not in svg
    # --rebin 3: the 300 mass bins of the histogram drawn as 100
    from calocoffea.app.report import _mass_figure

    data = load_output(out_path)["zee_data"]
    fig = _mass_figure("zee_data", data, None, simulation=False, rebin=3)
    assert len(fig.axes[0].lines[0].get_xdata()) == 100
    # one dataset only; bad options fail in one line
    assert main(["plot", str(out_path), "--dataset", "zee_data", "--out", str(tmp_path / "one"),
                 "--no-progress"]) == 0
    assert {p.name for p in (tmp_path / "one").glob("*.png")} == {"mass_zee_data.png"}
    for bad, message in ((["--format", "gif"], "format gif not allowed"),
                         (["--rebin", "0"], "expected an integer >= 1"),
                         (["--lumi", "-1"], "luminosity > 0")):
        with pytest.raises(SystemExit):
            main(["plot", str(out_path), *bad])
        assert message in capsys.readouterr().err
    assert main(["plot", str(out_path), "--dataset", "nope", "--no-progress"]) == 2
    assert "no dataset ['nope']" in capsys.readouterr().err
    junk = write_json(tmp_path / "junk.json", {"a": 1})
    assert main(["plot", str(junk), "--no-progress"]) == 2
    assert "neither a calocoffea output nor fit results" in capsys.readouterr().err


@pytest.mark.slow
def test_plot_a_results_json(two_datasets, tmp_path, capsys):
    out_path, _ = two_datasets
    res = tmp_path / "res.json"
    assert main(["fit", str(out_path), "--dataset", "zee_mc", "--out", str(res),
                 "--min-entries", "600", "--no-mu-fits", "--no-progress"]) == 0
    assert main(["plot", str(res), "--out", str(tmp_path / "p"), "--format", "png",
                 "--no-progress"]) == 0
    names = {p.name for p in (tmp_path / "p").glob("*.png")}
    # the histograms come from the results' input; the fit figures from the results
    assert {"mass_zee_mc.png", "response_zee_mc.png", "alpha_zee_mc.png",
            "eta_resolution_zee_mc.png"} <= names
    # without the histograms: the fit figures only, and a warning naming the missing file
    moved = json.loads(res.read_text())
    moved["input"] = str(tmp_path / "gone.hist.zip")
    write_json(tmp_path / "moved.json", moved)
    assert main(["plot", str(tmp_path / "moved.json"), "--out", str(tmp_path / "q"),
                 "--no-progress"]) == 0
    names = {p.name for p in (tmp_path / "q").glob("*.png")}
    assert "alpha_zee_mc.png" in names and "mass_zee_mc.png" not in names
