"""Raw onnxruntime CPU throughput of the shipped DeepCalo models (clusters/s per core).

One intra-op thread, pre-built inputs (the model's real input shapes; values from
``synthetic_sample``, which do not change the cost of a dense CNN), batches of
``batch_size`` (default: the processors' CPU batch, 64). The achieved GFLOP/s (from the
card's FLOPs per object) is compared with a single-threaded numpy float32 matmul measured in
the same run, the practical CPU peak.

    python benchmarks/bench_inference.py   # writes benchmarks/results/inference.json
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np


def _matmul_gflops(n: int = 512, seconds: float = 1.5) -> float:
    """Single-threaded numpy float32 (n×n)·(n×n) matmul GFLOP/s."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    best = 0.0
    with threadpool_limits(limits=1):
        a @ b
        for _ in range(3):
            k, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds / 3:
                a @ b
                k += 1
            best = max(best, 2.0 * n**3 * k / (time.perf_counter() - t0) / 1e9)
    return best


def _throughput(path: Path, n: int, batch_size: int, seconds: float) -> dict:
    import onnxruntime as ort

    from calocoffea.cnn.inference import load_card
    from calocoffea.cnn.training.dataset import synthetic_sample

    card = load_card(path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    s = synthetic_sample(n, card["particle"], seed=0)
    feed = {"images": s.images.astype(np.float32), "scalars": s.scalars, "tracks": s.tracks}
    batches = [{k: v[i : i + batch_size] for k, v in feed.items()}
               for i in range(0, n, batch_size)]
    sess.run(None, batches[0])
    best = 0.0
    for _ in range(3):
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            for b in batches:
                sess.run(None, b)
                done += len(b["images"])
        best = max(best, done / (time.perf_counter() - t0))
    flops = float(card.get("flops_per_object", float("nan")))
    return {
        "model": path.name,
        "config": card.get("config", {}).get("name"),
        "clusters_per_s_per_core": best,
        "flops_per_cluster": flops,
        "achieved_gflops": best * flops / 1e9,
        "batch_size": batch_size,
        "intra_op_threads": 1,
        "target_clusters_per_s": 4000,
        "meets_target": bool(best >= 4000),
    }


def run(models_dir: str | Path | None = None, n: int = 8192, batch_size: int | None = None,
        seconds: float = 3.0) -> dict:
    """Throughput of every ``deepcalo_*.onnx`` in ``models_dir`` and the matmul baseline
    (``batch_size``: default the processors' CPU batch,
    ``calocoffea.cnn.inference.DEFAULT_CPU_BATCH_SIZE``)."""
    import onnxruntime as ort

    from calocoffea.cnn.inference import DEFAULT_CPU_BATCH_SIZE

    batch_size = DEFAULT_CPU_BATCH_SIZE if batch_size is None else int(batch_size)

    from calocoffea.resources import models_dir as default_dir

    mdir = Path(models_dir) if models_dir is not None else default_dir()
    paths = sorted(mdir.glob("deepcalo_*.onnx"))
    matmul = _matmul_gflops()
    results = [_throughput(p, n, batch_size, seconds) for p in paths]
    for r in results:
        r["fraction_of_matmul_peak"] = r["achieved_gflops"] / matmul
    return {
        "benchmark": "inference",
        "onnxruntime": ort.__version__,
        "numpy_matmul_float32_gflops_1thread": matmul,
        "models": results,
        "note": "raw onnxruntime session.run on pre-built inputs; feature building excluded",
        # the machine may be shared: the load average tells how contended the numbers are
        "load_average_1min": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
    }


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "results" / "inference.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    res = run()
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
