import json

from calocoffea import cli


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
