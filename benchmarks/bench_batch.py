"""Benchmark of calocoffea on Slurm batch jobs (dask-jobqueue ``SLURMCluster``, issue 22).

Runs on whatever Slurm cluster ``sbatch`` reaches; on a development machine that is the
one-node cluster of ``scripts/slurm-local.sh start`` (jobs on the same cores as this
process). Without a usable Slurm the figures are skipped and ``skip_reason`` says why.

Figures, all with the shipped CNN (bdt, cnn, truth calibrations) on the Z→ee benchmark
sample of bench_processor.py (10k simulated MC events, seed 4242):

- ``first_chunk``: seconds from the library call ``runner.run(..., cluster="slurm")`` on
  fresh jobs (what ``calocoffea run --cluster slurm`` does after its imports) to the first
  processed chunk (5k events), split into ``setup_s`` (scheduler start, ``sbatch
  --test-only``, submission, the wait for the first worker: ``first_worker_s``) and the
  first chunk on that cold worker (imports, numba compilation, onnxruntime session). A thread
  polls the run's scheduler every 20 ms for the first finished processor task. Best and all
  of :data:`FIRST_CHUNK_REPEATS` runs;
- ``speedup``: events/s on 1 and on 2 Slurm jobs (one single-core dask worker each) over
  100k events (10 hard links to the sample; chunks of 5k events), warm workers (one
  warm-up run on the same jobs first), best of :data:`SPEEDUP_ROUNDS` rounds alternating
  1 and 2 jobs (fresh jobs every round) because the machine is shared;
  ``cold_speedup`` is the same ratio for the whole library call on fresh jobs (cluster
  start, worker start-up and first-chunk costs included), what a user sees for a run of
  this size; ``speedup_estimate_from_cpu`` is Amdahl's estimate from CPU times (worker CPU
  is parallel, this process's CPU serial), insensitive to other load on a shared machine.
  Baseline in the same run: a ``LocalCluster`` of 2 worker processes on the same
  events (``local_2_workers_events_per_s``): ``slurm_2_jobs / local_2_workers`` is the cost
  of running through the batch system;
- ``identical``: the 2-job histograms are bit-identical to the 1-job ones.

Run: ``.venv/bin/python benchmarks/bench_batch.py [--start-slurm]``; writes
``benchmarks/results/batch.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "batch.json"
FIRST_CHUNK_REPEATS = 3
SPEEDUP_ROUNDS = 2
SPEEDUP_COPIES = 10
CHUNKSIZE = 5000


def _bench_processor():
    spec = importlib.util.spec_from_file_location("calocoffea_bench_processor_for_batch",
                                                  HERE / "bench_processor.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def slurm_unavailable_reason() -> str | None:
    """Why no Slurm job can run here (None: sbatch is there and a partition is up)."""
    if shutil.which("sbatch") is None:
        return "sbatch not found (start one with scripts/slurm-local.sh start, as root)"
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%a %t"], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"sinfo failed: {err}"
    states = done.stdout.split()
    if done.returncode != 0 or "up" not in states:
        return f"no Slurm partition is up: {(done.stderr or done.stdout).strip()!r}"
    if not any(s.startswith(("idle", "mix")) for s in states):
        return f"no idle Slurm node: {done.stdout.strip()!r}"
    return None


def _finished(prefix: str, dask_scheduler=None) -> int:
    tp = dask_scheduler.task_prefixes.get(prefix)
    return 0 if tp is None else tp.states.get("memory", 0) + tp.states.get("released", 0)


class FirstChunkWatch(threading.Thread):
    """Time (``time.perf_counter``) at which the first ``prefix`` task of the run going on in
    this process finished (found through the run's default client)."""

    def __init__(self, prefix: str, timeout: float = 300.0):
        super().__init__(daemon=True)
        self.prefix, self.timeout = prefix, timeout
        self.at: float | None = None

    def run(self) -> None:
        from distributed import Client, default_client

        t_end = time.monotonic() + self.timeout
        while time.monotonic() < t_end:
            try:
                c = default_client()
                if c.scheduler is not None and c.status == "running":
                    break
            except ValueError:
                pass
            time.sleep(0.01)
        else:
            return
        try:
            with Client(c.scheduler.address, timeout=30) as client:
                while time.monotonic() < t_end:
                    if client.run_on_scheduler(_finished, self.prefix) > 0:
                        self.at = time.perf_counter()
                        return
                    time.sleep(0.02)
        except OSError:  # the run ended before (its scheduler is gone)
            return


#: Where the job logs go (set by :func:`run`: a temporary directory).
_LOGS: dict[str, str] = {}


def _batch():
    from calocoffea.execution.clusters import BatchOptions

    return BatchOptions(log_directory=_LOGS.get("dir"))


def _run(proc, fileset, **opts):
    from calocoffea.execution import runner
    from calocoffea.execution.outputs import single_dataset

    if opts.get("cluster") == "slurm":
        opts["batch"] = _batch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, metrics = runner.run(proc, fileset, runner.RunOptions(progress=False, **opts))
        return single_dataset(out), metrics


def first_chunk(proc, fileset) -> dict:
    runs = []
    for _ in range(FIRST_CHUNK_REPEATS):
        watch = FirstChunkWatch(type(proc).__name__)
        watch.start()
        t0 = time.perf_counter()
        _, m = _run(proc, fileset, executor="dask", cluster="slurm", workers=1,
                    chunksize=CHUNKSIZE)
        t_end = time.perf_counter()
        watch.join(timeout=5)
        runs.append({"first_chunk_s": None if watch.at is None else watch.at - t0,
                     "setup_s": m["setup_time_s"], "first_worker_s": m["first_worker_s"],
                     "total_s": t_end - t0, "events": m["events"], "jobs": m["batch_jobs"]})
    timed = [r for r in runs if r["first_chunk_s"] is not None]
    best = min(timed, key=lambda r: r["first_chunk_s"]) if timed else None
    return {"chunksize": CHUNKSIZE, "best": best, "runs": runs,
            "first_chunk_s": best["first_chunk_s"] if best else None}


def _slurm_rate(proc, fileset, jobs: int, warmup) -> tuple[float, float, dict, tuple]:
    """(events/s of the warm run, events/s of the cold library call, output, (worker CPU s,
    this process's CPU s) of the warm run) on ``jobs`` fresh Slurm jobs."""
    from distributed import Client

    from calocoffea.execution.clusters import batch_cluster, check_submission

    t0 = time.perf_counter()
    _, cold = _run(proc, fileset, executor="dask", cluster="slurm", workers=jobs,
                   chunksize=CHUNKSIZE)
    cold_rate = cold["events"] / (time.perf_counter() - t0)
    batch = _batch()
    cluster = batch_cluster("slurm", batch)
    try:
        check_submission("slurm", cluster, batch)
        cluster.scale(jobs=jobs)
        with Client(cluster) as client:
            client.wait_for_workers(jobs, timeout=300)
            address = cluster.scheduler_address
            _run(proc, warmup, executor="dask", scheduler=address, chunksize=CHUNKSIZE)
            w0, c0 = sum(client.run(time.process_time).values()), time.process_time()
            out, m = _run(proc, fileset, executor="dask", scheduler=address,
                          chunksize=CHUNKSIZE)
            cpu = (sum(client.run(time.process_time).values()) - w0,
                   time.process_time() - c0)
    finally:
        cluster.close()
    return m["events_per_s"], cold_rate, out, cpu


def speedup(proc, fileset, warmup, events: int) -> dict:
    from distributed import LocalCluster

    bp = _bench_processor()
    warm: dict[int, list[float]] = {1: [], 2: []}
    cold: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    outputs = {}
    for _ in range(SPEEDUP_ROUNDS):
        for jobs in (1, 2):
            rate, cold_rate, out, cpu_s = _slurm_rate(proc, fileset, jobs, warmup)
            warm[jobs].append(rate)
            cold[jobs].append(cold_rate)
            cpu[jobs].append(cpu_s)
            outputs[jobs] = out
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as local:
        _run(proc, warmup, executor="dask", scheduler=local.scheduler_address,
             chunksize=CHUNKSIZE)
        _, m = _run(proc, fileset, executor="dask", scheduler=local.scheduler_address,
                    chunksize=CHUNKSIZE)
    best = {j: max(r) for j, r in warm.items()}
    # Amdahl's estimate from CPU times (insensitive to other jobs on the machine): worker CPU
    # is parallel work, this process (client, scheduler, merging) is serial
    work1, serial1 = min(cpu[1], key=sum)
    work2, serial2 = min(cpu[2], key=sum)
    return {
        "events": events, "chunksize": CHUNKSIZE, "events_per_s": warm,
        "speedup": best[2] / best[1],
        "cpu_s_workers_and_client": cpu,
        "speedup_estimate_from_cpu": (work1 + serial1) / (work2 / 2 + serial2),
        "cold_events_per_s": cold, "cold_speedup": max(cold[2]) / max(cold[1]),
        "local_2_workers_events_per_s": m["events_per_s"],
        "slurm_2_jobs_over_local_2_workers": best[2] / m["events_per_s"],
        "identical": bp.identical(outputs[1], outputs[2]),
        "loadavg": os.getloadavg(),
    }


def run() -> dict:
    """The figures of the module docstring (``skip_reason`` instead when Slurm is absent)."""
    from calocoffea.energies import cnn_model_path, cnn_unavailable_reason
    from processors import make_processor

    out: dict = {"machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                             "loadavg_start": os.getloadavg()}}
    reason = slurm_unavailable_reason()
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError as err:
        reason = reason or f"dask-jobqueue is not installed ({err}): calocoffea[grid]"
    model = cnn_model_path("electron", None)
    reason = reason or cnn_unavailable_reason("electron", model)
    if reason is not None:
        out["skip_reason"] = reason
        return out
    bp = _bench_processor()
    sample = bp.sample_path()
    proc = make_processor("zee", calibrations=("bdt", "cnn", "truth"))
    out.update({"sample": str(sample), "calibrations": ["bdt", "cnn", "truth"],
                "sinfo": subprocess.run(["sinfo", "-h", "-o", "%P %a %D %t %c %m"],
                                        capture_output=True, text=True,
                                        check=False).stdout.strip()})
    with tempfile.TemporaryDirectory() as tmpdir:
        _LOGS["dir"] = str(Path(tmpdir) / "logs")  # the job logs (not the working directory)
        one = bp.copies(sample, 1, Path(tmpdir))
        out["first_chunk"] = first_chunk(proc, one)
        many = bp.copies(sample, SPEEDUP_COPIES, Path(tmpdir))
        out["speedup"] = speedup(proc, many, one, SPEEDUP_COPIES * bp.SAMPLE_EVENTS)
    out["machine"]["loadavg_end"] = os.getloadavg()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--start-slurm", action="store_true",
                        help="run scripts/slurm-local.sh start first (root)")
    args = parser.parse_args()
    if args.start_slurm:
        subprocess.run([str(HERE.parent / "scripts" / "slurm-local.sh"), "start"], check=True)
    result = run()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result, indent=2, default=str))
    sys.exit(0)


if __name__ == "__main__":
    main()
