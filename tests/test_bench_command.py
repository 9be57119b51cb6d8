import json

from calocoffea.app import cli


def test_bench_collects_results_and_reports_missing(tmp_path):
    bench_dir = tmp_path / "benchmarks"
    bench_dir.mkdir()
    (bench_dir / "bench_images.py").write_text(
        "def run():\n    return {'clusters_per_s': 123.0, 'baseline': 456.0}\n"
    )
    out = tmp_path / "bench.json"
    rc = cli.main(
        ["bench", "--only", "images,fits", "--out", str(out), "--benchmarks-dir", str(bench_dir)]
    )
    report = json.loads(out.read_text())
    assert rc == 1  # fits is missing
    assert report["results"]["images"]["clusters_per_s"] == 123.0
    assert report["missing"] == ["fits"]
    assert report["machine"]["cpu_count"] >= 1


def test_bench_rejects_unknown_name(tmp_path):
    assert cli.main(["bench", "--only", "nonsense", "--out", str(tmp_path / "b.json")]) == 2


def test_bench_lists_targets_with_the_processor_memory(tmp_path):
    bench_dir = tmp_path / "benchmarks"
    bench_dir.mkdir()
    (bench_dir / "bench_processor.py").write_text(
        "def run():\n"
        "    return {'ratio_to_ort': 0.5, 'dask_speedup': {'speedup': 1.7},\n"
        "            'memory': {'peak_rss_gb': 2.2}}\n"
    )
    out = tmp_path / "bench.json"
    rc = cli.main(
        ["bench", "--only", "processor", "--out", str(out), "--benchmarks-dir", str(bench_dir)]
    )
    assert rc == 0
    figures = {t["figure"]: t for t in json.loads(out.read_text())["targets"]}
    assert figures["peak RSS per worker, 100k chunk (GB)"]["value"] == 2.2
    assert figures["peak RSS per worker, 100k chunk (GB)"]["met"]
    assert not figures["processor / raw onnxruntime"]["met"]
    assert figures["dask speed-up 1 -> 2 workers"]["met"]
    assert not any(t["figure"].startswith("image") for t in figures.values())
