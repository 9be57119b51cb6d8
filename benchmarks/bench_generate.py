"""Benchmark of ``calocoffea generate``: Z->ee events simulated + written per second, one core.

Runs the full chain (kinematics, detector, showers, pile-up, reconstruction, ROOT writing)
single-threaded after a small warm-up run (numba compilation), and reports both wall-clock
and process CPU time (the machine may be shared). Baseline in the same run: writing the
same already-simulated columns again (the I/O + compression floor), so
``write_fraction`` = write-only time / total time. Target: >= 200 events/s and <= 4 kB per
cluster on disk.

Run: ``.venv/bin/python benchmarks/bench_generate.py [--events N]``; writes
``benchmarks/results/generate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from calocoffea.sim import default_config, generate_file
from calocoffea.sim.pipeline import simulate_chunk
from calocoffea.sim.writer import EventsWriter


def run(events: int = 50_000, seed: int = 1, process: str = "zee") -> dict:
    """Generate ``events`` events of ``process`` into a temporary file; timing summary."""
    with tempfile.TemporaryDirectory() as tmp:
        generate_file(Path(tmp) / "warm.root", process, n_events=200, seed=seed + 1)
        path = Path(tmp) / "bench.root"
        c0, w0 = time.process_time(), time.perf_counter()
        summary = generate_file(path, process, n_events=events, seed=seed)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        # write-only baseline on one re-simulated chunk
        cols = simulate_chunk(
            np.random.default_rng(seed),
            process,
            5000,
            default_config("mc"),
            mu_profile="mc",
            energy_fn=None,
        )
        c1 = time.process_time()
        with EventsWriter(Path(tmp) / "w.root") as w:
            w.write(cols)
        write_cpu_per_event = (time.process_time() - c1) / 5000
    return {
        "benchmark": "generate",
        "process": process,
        "events": events,
        "clusters": summary["clusters"],
        "wall_s": wall,
        "cpu_s": cpu,
        "events_per_s_wall": events / wall,
        "events_per_s_cpu": events / cpu,
        "bytes": summary["bytes"],
        "bytes_per_cluster": summary["bytes"] / summary["clusters"],
        "write_fraction": write_cpu_per_event * events / cpu,
        "target_events_per_s": 200,
        "target_bytes_per_cluster": 4096,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "generate.json"))
    args = parser.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    res = run(args.events, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
