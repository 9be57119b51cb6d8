"""Raw onnxruntime CPU throughput of the shipped DeepCalo models (clusters/s per core).

One intra-op thread, pre-built inputs (the model's real input shapes; values from
``synthetic_sample``, which do not change the cost of a dense CNN), batches of
``batch_size`` (default: the processors' CPU batch, 64). The achieved GFLOP/s (from the
card's FLOPs per object) is compared with a single-threaded numpy float32 matmul measured in
the same run, the practical CPU peak.

Each model's ``precision`` comes from its card (``fp32`` unless the card says ``int8``). An
int8 model (``deepcalo_<particle>.int8.onnx``, ``calocoffea quantize``) is also timed against
its float model pair by pair (``int8_vs_fp32``: the two sessions in turn, A B A B …, on the
same batches, at each batch size of :data:`PAIRED_BATCHES`; the median of the per-pair
ratios is the figure, so it holds while the shared machine's speed drifts); target ≥ 2.

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


#: Batch sizes of the paired int8 / fp32 comparison.
PAIRED_BATCHES = (64, 256, 1024)
#: Pairs (A B) per batch size in the paired comparison.
PAIRED_ROUNDS = 7


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    from calocoffea.cnn.quantize import session_kwargs

    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"],
                                **session_kwargs(path))


def _batches(particle: str, n: int, batch_size: int) -> list[dict[str, np.ndarray]]:
    from calocoffea.cnn.training.dataset import synthetic_sample

    s = synthetic_sample(n, particle, seed=0)
    feed = {"images": s.images.astype(np.float32), "scalars": s.scalars, "tracks": s.tracks}
    return [{k: v[i : i + batch_size] for k, v in feed.items()}
            for i in range(0, n, batch_size)]


def _cpu_rate(sess, batches) -> float:
    """Objects per CPU second of one pass over ``batches``."""
    c0 = time.process_time()
    for b in batches:
        sess.run(None, b)
    return sum(len(b["images"]) for b in batches) / max(time.process_time() - c0, 1e-9)


def paired(float_path: Path, int8_path: Path, particle: str, n: int = 2048,
           rounds: int = PAIRED_ROUNDS) -> dict:
    """int8 / fp32 objects per CPU second, the two models in turn on the same batches."""
    fp, q8 = _session(float_path), _session(int8_path)
    out = {}
    for bs in PAIRED_BATCHES:
        batches = _batches(particle, n, bs)
        _cpu_rate(fp, batches[:2]), _cpu_rate(q8, batches[:2])  # warm-up
        a, b = [], []
        for _ in range(rounds):
            a.append(_cpu_rate(fp, batches))
            b.append(_cpu_rate(q8, batches))
        ratios = [y / x for x, y in zip(a, b, strict=True)]
        out[str(bs)] = {"fp32_objects_per_cpu_s": float(np.median(a)),
                        "int8_objects_per_cpu_s": float(np.median(b)),
                        "ratio_median": float(np.median(ratios)),
                        "ratio_min": float(min(ratios)), "ratio_max": float(max(ratios))}
    best = max(out, key=lambda k: out[k]["ratio_median"])
    return {"float_model": float_path.name, "rounds": rounds, "objects": n,
            "by_batch": out, "best_batch": int(best),
            "ratio": out[best]["ratio_median"], "target": 2.0,
            "meets_target": bool(out[best]["ratio_median"] >= 2.0),
            "method": "process CPU time, A B A B on the same batches, median of the ratios"}


def _throughput(path: Path, n: int, batch_size: int, seconds: float) -> dict:
    from calocoffea.cnn.inference import load_card

    card = load_card(path)
    sess = _session(path)
    batches = _batches(card["particle"], n, batch_size)
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
        "precision": card.get("precision", "fp32"),
        "guard_passed": (card.get("guard") or {}).get("passed"),
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
        seconds: float = 3.0, *, paired_objects: int = 2048,
        paired_rounds: int = PAIRED_ROUNDS) -> dict:
    """Throughput of every ``deepcalo_*.onnx`` in ``models_dir`` and the matmul baseline
    (``batch_size``: default the processors' CPU batch,
    ``calocoffea.cnn.inference.DEFAULT_CPU_BATCH_SIZE``)."""
    import onnxruntime as ort

    from calocoffea.cnn.inference import DEFAULT_CPU_BATCH_SIZE, load_card

    batch_size = DEFAULT_CPU_BATCH_SIZE if batch_size is None else int(batch_size)

    from calocoffea.resources import models_dir as default_dir

    mdir = Path(models_dir) if models_dir is not None else default_dir()
    paths = sorted(mdir.glob("deepcalo_*.onnx"))
    matmul = _matmul_gflops()
    results = [_throughput(p, n, batch_size, seconds) for p in paths]
    for r, p in zip(results, paths, strict=True):
        r["fraction_of_matmul_peak"] = r["achieved_gflops"] / matmul
        if r["precision"] == "int8":
            float_path = p.with_name(p.name.replace(".int8.onnx", ".onnx"))
            if float_path.is_file():
                r["int8_vs_fp32"] = paired(float_path, p, load_card(p)["particle"],
                                           n=paired_objects, rounds=paired_rounds)
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
