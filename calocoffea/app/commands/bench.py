"""``calocoffea bench``: run the project's benchmarks in one process and write one JSON.

Each benchmark is a file ``benchmarks/bench_<name>.py`` with a ``run() -> dict`` function that
measures its figures together with their same-run baselines. They are loaded by path, so the
benchmarks folder needs no installation.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

from calocoffea import __version__

log = logging.getLogger(__name__)

#: Benchmarks in the order they run (cheap ones first; ``batch`` records why it was skipped
#: where no Slurm cluster is usable).
BENCHMARKS: tuple[str, ...] = ("images", "inference", "generate", "fits", "processor", "batch")


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"calocoffea_bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def machine_info() -> dict:
    """Where the numbers were measured."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "calocoffea": __version__,
    }


#: Headline figures with their targets (issues #4, #6, #10, #23): (name, benchmark, path to the
#: value in its result, target, "min" when the value must reach the target, "max" when it
#: must not exceed it).
TARGETS: tuple[tuple[str, str, tuple[str, ...], float, str], ...] = (
    ("image clusters/s per core", "images", ("images_clusters_per_s",), 100_000, "min"),
    ("image rate / numpy baseline", "images", ("ratio_to_baseline",), 0.25, "min"),
    ("processor / raw onnxruntime", "processor", ("ratio_to_ort",), 0.85, "min"),
    ("dask speed-up 1 -> 2 workers", "processor", ("dask_speedup", "speedup"), 1.6, "min"),
    ("peak RSS per worker, 100k chunk (GB)", "processor", ("memory", "peak_rss_gb"), 3.0,
     "max"),
)


def targets(results: dict) -> list[dict]:
    """The :data:`TARGETS` figures found in ``results`` (benchmark name -> result dict), each
    as {figure, value, target, met}; figures a benchmark did not produce are left out."""
    out = []
    for name, bench, path, target, sense in TARGETS:
        value = results.get(bench)
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, int | float):
            continue
        met = value >= target if sense == "min" else value <= target
        out.append({"figure": name, "value": value, "target": target, "met": bool(met)})
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("bench.json"), help="output JSON")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--benchmarks-dir", type=Path, default=Path("benchmarks"), help="bench_*.py here"
    )


def run(args: argparse.Namespace) -> int:
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(BENCHMARKS))
    if unknown:
        print(f"calocoffea bench: unknown benchmark(s) {unknown}", file=sys.stderr)
        return 2
    report: dict = {"machine": machine_info(), "results": {}, "missing": []}
    t0 = time.perf_counter()
    for name in wanted:
        path = args.benchmarks_dir / f"bench_{name}.py"
        if not path.exists():
            log.warning("benchmark %s not found at %s", name, path)
            report["missing"].append(name)
            continue
        log.info("running benchmark %s", name)
        start = time.perf_counter()
        result = _load(path).run()
        report["results"][name] = {**result, "bench_seconds": time.perf_counter() - start}
    report["total_seconds"] = time.perf_counter() - t0
    report["targets"] = targets(report["results"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True))
    print(f"wrote {args.out}")
    return 0 if not report["missing"] else 1
