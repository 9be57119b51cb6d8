"""int8 quantisation of the CNN: the resolution guard, the int8 model and its card, and the
choice of precision by the processors (issue #23)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from calocoffea.binning import ABS_ETA_EDGES
from calocoffea.cnn import quantize as q
from calocoffea.cnn.inference import ModelError, load_model
from calocoffea.resources import models_dir

pytest.importorskip("onnxruntime.quantization")


def _objects(n: int = 20_000, seed: int = 3):
    rng = np.random.default_rng(seed)
    eta = rng.uniform(-2.4, 2.4, n)
    e_true = rng.uniform(20, 100, n)
    e_float = e_true * (1 + 0.02 * rng.standard_normal(n))
    return e_float, e_true, eta


def test_guard_passes_for_identical_energies_and_lists_every_bin():
    e_float, e_true, eta = _objects()
    g = q.guard(e_float, e_float.copy(), e_true, eta)
    assert g["passed"]
    assert len(g["bins"]) == len(ABS_ETA_EDGES) - 1
    assert all(b["relative"] == 0.0 for b in g["bins"])


def test_guard_fails_when_one_bin_loses_resolution():
    e_float, e_true, eta = _objects()
    rng = np.random.default_rng(4)
    e_int8 = e_float.copy()
    barrel = np.abs(eta) < ABS_ETA_EDGES[1]
    # 1 % extra noise on top of 2 %: eIQR grows by ~12 % in that bin only
    e_int8[barrel] *= 1 + 0.01 * rng.standard_normal(barrel.sum())
    g = q.guard(e_float, e_int8, e_true, eta)
    assert not g["passed"]
    assert g["bins"][0]["relative"] > q.GUARD_RELATIVE
    assert all(abs(b["relative"]) <= q.GUARD_RELATIVE for b in g["bins"][1:])
    # a change just inside the limit passes
    small = e_float.copy()
    small[barrel] = e_true[barrel] + (e_float[barrel] - e_true[barrel]) * 1.003
    assert q.guard(e_float, small, e_true, eta)["passed"]


def test_guard_fails_without_enough_objects():
    e_float, e_true, eta = _objects(n=30)
    g = q.guard(e_float, e_float, e_true, eta)
    assert not g["passed"] and all(b["relative"] is None for b in g["bins"])
    with pytest.raises(ValueError, match="different lengths"):
        q.guard(e_float, e_float[:-1], e_true, eta)


def test_select_nodes_skips_the_input_conv_and_the_track_conv():
    path = models_dir() / "deepcalo_electron.onnx"
    if not path.is_file():
        pytest.skip(f"no {path}")
    nodes = q.select_nodes(path, q.QuantisationConfig())
    assert nodes and all("Conv" in n and "track" not in n for n in nodes)
    everything = q.select_nodes(path, q.QuantisationConfig(skip_input_conv=False))
    assert len(everything) == len(nodes) + 1


@pytest.fixture(scope="module")
def int8_models(tmp_path_factory) -> Path:
    """A models directory with the float electron CNN and its int8 model (calibrated and
    guarded on small synthetic samples)."""
    src = models_dir() / "deepcalo_electron.onnx"
    if not src.is_file():
        pytest.skip(f"no {src}")
    from calocoffea.cnn.training.dataset import synthetic_sample

    d = tmp_path_factory.mktemp("int8_models")
    for f in models_dir().iterdir():
        shutil.copy(f, d / f.name)
    train = synthetic_sample(q.CALIBRATION_BATCH * 2, seed=11)
    test = synthetic_sample(3000, seed=12)
    path, _card = q.build_int8(d / "deepcalo_electron.onnx", train, test, d)
    assert path == d / "deepcalo_electron.int8.onnx"
    return d


def test_build_int8_writes_a_loadable_model_and_a_card_with_the_guard(int8_models):
    path = int8_models / "deepcalo_electron.int8.onnx"
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["precision"] == "int8"
    assert card["quantisation"]["quantised_nodes"]
    assert card["guard"]["n_test"] == 3000 and len(card["guard"]["bins"]) == 5
    assert card["quantisation"]["float_sha256"] != card["sha256"]
    model = load_model(path)  # sha256, graph and probe checks of the float models
    assert model.card["precision"] == "int8"
    ops = {n.op_type for n in __import__("onnx").load(str(path)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops


def test_int8_sessions_pool_in_float_and_give_the_same_numbers(int8_models, tmp_path):
    """The int8 session options (quantize.session_kwargs) keep the MaxPool in front of a
    quantised convolution in float32 (no QuantizeLinear moved above it), and the outputs are
    those of the default session: max commutes with the quantisation."""
    import onnx
    import onnxruntime as ort

    from calocoffea.cnn.training.dataset import synthetic_sample

    path = int8_models / "deepcalo_electron.int8.onnx"
    assert q.session_kwargs(path) == {"disabled_optimizers": list(q.INT8_DISABLED_OPTIMIZERS)}
    assert q.session_kwargs(int8_models / "deepcalo_electron.onnx") == {}
    producers, outputs = {}, {}
    s = synthetic_sample(256, seed=5)
    feed = {"images": s.images.astype(np.float32), "scalars": s.scalars.astype(np.float32),
            "tracks": s.tracks.astype(np.float32)}
    for label, kwargs in (("default", {}), ("calocoffea", q.session_kwargs(path))):
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        opts.optimized_model_filepath = str(tmp_path / f"{label}.onnx")
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"],
                                    **kwargs)
        outputs[label] = sess.run(["ratio"], feed)[0]
        graph = onnx.load(str(tmp_path / f"{label}.onnx")).graph
        made_by = {o: n.op_type for n in graph.node for o in n.output}
        producers[label] = {made_by.get(n.input[0]) for n in graph.node
                            if n.op_type == "MaxPool"}
    assert "QuantizeLinear" in producers["default"]  # what the option is there to avoid
    assert producers["calocoffea"] and "QuantizeLinear" not in producers["calocoffea"]
    np.testing.assert_allclose(outputs["calocoffea"], outputs["default"], rtol=1e-6)


def _set_guard(models: Path, passed: bool) -> None:
    card_file = models / "deepcalo_electron.int8.json"
    card = json.loads(card_file.read_text())
    card["guard"]["passed"] = passed
    card["guard"]["max_abs_relative"] = 0.001 if passed else 0.02
    card_file.write_text(json.dumps(card))


def test_resolve_precision(int8_models, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(int8_models, d)
    fp = d / "deepcalo_electron.onnx"
    _set_guard(d, True)
    assert q.resolve_precision(fp) == (d / "deepcalo_electron.int8.onnx", "int8")
    assert q.resolve_precision(fp, "fp32") == (fp, "fp32")
    assert q.resolve_precision(fp, "int8")[1] == "int8"
    # failed guard: default falls back to fp32 (logged), explicit int8 is an error
    _set_guard(d, False)
    assert q.resolve_precision(fp) == (fp, "fp32")
    with pytest.raises(q.PrecisionError, match="failed its resolution guard"):
        q.resolve_precision(fp, "int8")
    # int8 model made from another float model
    _set_guard(d, True)
    fp.write_bytes(fp.read_bytes() + b"\0")
    with pytest.raises(q.PrecisionError, match="another float model"):
        q.resolve_precision(fp, "int8")
    assert q.resolve_precision(fp)[1] == "fp32"
    # missing int8 model
    (d / "deepcalo_electron.int8.onnx").unlink()
    with pytest.raises(q.PrecisionError, match="no int8 model"):
        q.resolve_precision(fp, "int8")
    assert q.resolve_precision(fp) == (fp, "fp32")
    with pytest.raises(q.PrecisionError, match="unknown precision"):
        q.resolve_precision(fp, "fp16")
    assert issubclass(q.PrecisionError, ModelError)


def test_processor_precision(int8_models, tmp_path, monkeypatch, deepcalo_sim_files):
    from calocoffea.execution import runner
    from processors import make_processor

    d = tmp_path / "m"
    shutil.copytree(int8_models, d)
    _set_guard(d, True)
    monkeypatch.setenv("CALOCOFFEA_MODELS", str(d))
    proc = make_processor("zee")
    assert proc.precision == "int8"
    assert Path(proc.model_path).name == "deepcalo_electron.int8.onnx"
    assert make_processor("zee", precision="fp32").precision == "fp32"
    out, _ = runner.run(proc, {"s": {"files": {str(deepcalo_sim_files["zee"]): "Events"}}},
                        runner.RunOptions(executor="iterative", progress=False))
    assert out["s"]["meta"]["precision"] == "int8"
    _set_guard(d, False)
    assert make_processor("zee").precision == "fp32"
    with pytest.raises(q.PrecisionError, match="--precision int8 requested"):
        make_processor("zee", precision="int8")
    assert make_processor("zee", calibrations=("bdt", "truth"), precision="int8").precision \
        is None


def test_run_command_refuses_a_missing_int8_model(tmp_path, monkeypatch, deepcalo_sim_files,
                                                  capsys):
    from calocoffea.app import cli
    from calocoffea.fileset import write_fileset

    d = tmp_path / "m"
    d.mkdir()
    for f in models_dir().iterdir():
        if ".int8." not in f.name:
            shutil.copy(f, d / f.name)
    monkeypatch.setenv("CALOCOFFEA_MODELS", str(d))
    fs = tmp_path / "fs.json"
    write_fileset(fs, {"s": [str(deepcalo_sim_files["zee"])]})
    rc = cli.main(["run", "--processor", "zee", str(fs), "--executor", "iterative",
                   "--precision", "int8", "--out", str(tmp_path / "o.hist.zip")])
    assert rc == 2
    assert "no int8 model" in capsys.readouterr().err


def _bench_module(name: str):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"bench_{name}.py"
    spec = importlib.util.spec_from_file_location(f"test_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_inference_reports_precision_and_the_paired_int8_ratio(int8_models):
    res = _bench_module("inference").run(models_dir=int8_models, n=256, seconds=0.3,
                                         paired_objects=256, paired_rounds=2)
    by_name = {m["model"]: m for m in res["models"]}
    assert by_name["deepcalo_electron.onnx"]["precision"] == "fp32"
    q8 = by_name["deepcalo_electron.int8.onnx"]
    assert q8["precision"] == "int8"
    pair = q8["int8_vs_fp32"]
    assert pair["float_model"] == "deepcalo_electron.onnx"
    assert set(pair["by_batch"]) == {str(b) for b in (64, 256, 1024)}
    assert pair["ratio"] > 0 and pair["target"] == 2.0


def test_bench_processor_floor_and_stage_breakdown(deepcalo_sim_files):
    from calocoffea.execution import runner
    from processors import make_processor

    bench = _bench_module("processor")
    fileset = {"s": {"files": {str(deepcalo_sim_files["zee"]): "Events"}}}
    opts = runner.RunOptions(executor="iterative", progress=False)
    proc = make_processor("zee", precision="fp32")
    ref, _ = runner.run(proc, fileset, opts)
    ref = ref["s"]
    floor = bench.FloorProcessor(bench.read_branches(proc))
    out, metrics = runner.run(floor, fileset, opts)
    out = out["s"]
    assert metrics["events"] == 150
    assert out["cutflow"]["values_read"] > 150
    # the same mass histogram binning, one entry per selected pair
    assert out["mass"].axes["mass"].edges.tolist() == ref["mass"].axes["mass"].edges.tolist()
    assert out["mass"].sum(flow=True).value == out["cutflow"]["selected"]
    assert 0 < out["cutflow"]["selected"] <= ref["cutflow"]["selected"] + 5
    model = Path(proc.model_path) if proc.model_path else models_dir() / "deepcalo_electron.onnx"
    b = bench._breakdown(proc, fileset, 1000, model)
    assert set(bench.STAGES) <= set(b)
    assert all(b[k] >= 0 for k in bench.STAGES[:-1])
    assert b["onnxruntime"] > 0 and b["images"] > 0 and b["reading"] > 0
    # the calibration BDTs are evaluated from the cluster columns: a stage of their own
    assert b["bdt"] > 0
    assert sum(b[k] for k in bench.STAGES) == pytest.approx(b["end_to_end"])
    # the processor's methods are restored after the timed run
    assert type(proc).process is not None
    again, _ = runner.run(proc, fileset, opts)
    assert again["s"]["cutflow"] == ref["cutflow"]


def test_bench_command_lists_the_floor_ratio(tmp_path):
    from calocoffea.app import cli

    bench_dir = tmp_path / "benchmarks"
    bench_dir.mkdir()
    (bench_dir / "bench_processor.py").write_text(
        "def run():\n    return {'ratio_to_ort': 0.9, 'ratio_to_floor': 0.5}\n")
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "--only", "processor", "--out", str(out),
                     "--benchmarks-dir", str(bench_dir)]) == 0
    report = json.loads(out.read_text())
    assert report["results"]["processor"]["ratio_to_floor"] == 0.5
    figures = {t["figure"]: t for t in report["targets"]}
    assert figures["processor / raw onnxruntime"]["target"] == 0.85
    assert figures["processor / raw onnxruntime"]["met"]


def test_scaling_plot_from_a_bench_report(tmp_path):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "plot_scaling.py"
    spec = importlib.util.spec_from_file_location("test_plot_scaling", path)
    plot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plot)
    summary = {"workers": {"1": 5000.0, "2": 9000.0}, "workers_events": 100_000,
               "chunksize_events_per_cpu_s": {"10000": 13000.0, "100000": 15000.0},
               "peak_rss_gb_per_worker": 2.4, "precision": "int8"}
    report = tmp_path / "bench.json"
    report.write_text(json.dumps({"results": {"processor": {"scaling_summary": summary}}}))
    assert plot.load_summary(report) == summary
    out = plot.draw(summary, tmp_path / "scaling.png")
    assert out.stat().st_size > 1000
    (tmp_path / "p.json").write_text(json.dumps({"ratio_to_ort": 0.7}))
    with pytest.raises(KeyError, match="no scaling_summary"):
        plot.load_summary(tmp_path / "p.json")


def test_quantize_command_input_errors(tmp_path, capsys):
    from calocoffea.app import cli
    from calocoffea.resources import shipped_models_dir

    missing = tmp_path / "missing.root"
    base = ["quantize", "--particle", "electron", "--train", str(missing), "--test",
            str(missing)]
    assert cli.main([*base, "--out", str(tmp_path / "o")]) == 2
    assert "missing.root not found" in capsys.readouterr().err
    assert cli.main([*base, "--model", str(tmp_path / "none.onnx"),
                     "--out", str(tmp_path / "o")]) == 2
    assert "none.onnx not found" in capsys.readouterr().err
    photon = models_dir() / "deepcalo_photon.onnx"
    if photon.is_file():
        assert cli.main([*base, "--model", str(photon), "--out", str(tmp_path / "o")]) == 2
        assert "is a photon model" in capsys.readouterr().err
    f = tmp_path / "f.root"
    f.write_bytes(b"")
    ok_files = ["--train", str(f), "--test", str(f)]
    assert cli.main(["quantize", "--particle", "electron", *ok_files,
                     "--out", str(shipped_models_dir())]) == 2
    assert "shipped models folder" in capsys.readouterr().err
