"""Reliability against a lost dask worker (issue 9): a worker process killed (SIGKILL) in the
middle of a run on a LocalCluster (2 worker processes, nannies) does not change the result.

The test starts its own LocalCluster and hands its address to the runner
(``RunOptions(scheduler=...)``); a thread watches the scheduler and, once some chunks are
done and others are still queued or running, kills one worker's OS process. The nanny
restarts it and the scheduler recomputes what was lost.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_processors import write_channel_sample

from calocoffea.execution import runner
from calocoffea.execution.outputs import single_dataset
from calocoffea.fileset import normalize_fileset
from processors import make_processor

pytestmark = pytest.mark.filterwarnings("ignore::processors.base.StandardOnlyWarning")

N_EVENTS = 6000
CHUNK = 60  # 100 chunks: the run lasts a few seconds on 2 workers


def _task_states(dask_scheduler=None) -> dict[str, int]:
    """Number of scheduler tasks per state (runs inside the scheduler)."""
    out: dict[str, int] = {}
    for ts in dask_scheduler.tasks.values():
        out[ts.state] = out.get(ts.state, 0) + 1
    return out


class WorkerKiller(threading.Thread):
    """Kill one worker process once ``after`` tasks are in memory and some still wait."""

    def __init__(self, address: str, victim_pid: int, after: int = 10, timeout: float = 60.0):
        super().__init__(daemon=True)
        self.address, self.victim_pid = address, victim_pid
        self.after, self.timeout = after, timeout
        self.states_at_kill: dict[str, int] | None = None
        self.killed_at: float | None = None

    def run(self) -> None:
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            t_end = time.monotonic() + self.timeout
            while time.monotonic() < t_end:
                states = client.run_on_scheduler(_task_states)
                pending = states.get("processing", 0) + states.get("waiting", 0)
                if states.get("memory", 0) >= self.after and pending > 0:
                    self.states_at_kill = states
                    os.kill(self.victim_pid, signal.SIGKILL)
                    self.killed_at = time.monotonic()
                    return
                time.sleep(0.05)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return write_channel_sample(tmp_path_factory.mktemp("workers") / "s.root", N_EVENTS, 41)


def _run(path: Path, **opts):
    fileset = normalize_fileset({"sample": [str(path)]})
    proc = make_processor("zee", calibrations=("bdt", "truth"))
    out, metrics = runner.run(proc, fileset, runner.RunOptions(progress=False, **opts))
    return single_dataset(out), metrics


@pytest.mark.slow
def test_killed_dask_worker_gives_identical_histograms(sample):
    from distributed import Client, LocalCluster

    ref, _ = _run(sample, executor="iterative", chunksize=N_EVENTS)
    assert ref["cutflow"]["selected"] > 500
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        pids = client.run(os.getpid)
        victim = pids[sorted(pids)[0]]
        killer = WorkerKiller(cluster.scheduler_address, victim)
        killer.start()
        out, metrics = _run(sample, executor="dask", scheduler=cluster.scheduler_address,
                            chunksize=CHUNK)
        t_done = time.monotonic()
        killer.join(timeout=5)
        # the kill really happened in the middle of the run
        assert killer.killed_at is not None, "the run ended before a worker could be killed"
        assert killer.killed_at < t_done
        assert killer.states_at_kill["memory"] >= 10
        with pytest.raises(ProcessLookupError):
            os.kill(victim, 0)
        client.wait_for_workers(2, timeout=30)  # the nanny restarted it
        assert victim not in client.run(os.getpid).values()
    assert metrics["cluster"] == "scheduler" and metrics["skipped_files"] == []
    assert metrics["events"] == N_EVENTS
    assert out["cutflow"] == ref["cutflow"]
    for key in ("mass", "response"):
        assert np.array_equal(out[key].view(flow=True), ref[key].view(flow=True)), key
