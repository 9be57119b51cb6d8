"""calocoffea on a real Slurm cluster (issue 22): dask-jobqueue SLURMCluster jobs on the
one-node cluster of scripts/slurm-local.sh (started here when it is not running; skipped
only where it is not running and this process is not root, so cannot start it).

The jobs run this test's own interpreter (the virtual environment, on the shared
filesystem of localhost). All tests share one xdist group: the node has as many job slots
as the machine has cores.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from calocoffea.app.cli import main
from calocoffea.execution import runner
from calocoffea.execution.clusters import BatchOptions, ClusterUnavailable
from calocoffea.execution.outputs import single_dataset
from calocoffea.fileset import normalize_fileset, write_fileset
from processors import make_processor

pytest.importorskip("dask_jobqueue")

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm-local.sh"
N_EVENTS = 1600

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.xdist_group("slurm"),
    pytest.mark.filterwarnings("ignore::processors.base.StandardOnlyWarning"),
]


def _status() -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), "status"], capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.fixture(scope="session")
def slurm() -> Iterator[str]:
    """A usable one-node Slurm cluster; yields `sinfo`'s summary line. A cluster started here
    is stopped again at the end of the session (one started before, e.g. by .ci/run, is
    left running)."""
    status = _status()
    started = False
    if status.returncode != 0:
        if os.geteuid() != 0:
            have = all(shutil.which(c) for c in ("sbatch", "slurmctld", "slurmd", "munged"))
            pytest.skip(
                "no Slurm cluster is running and this process is not root, so "
                "scripts/slurm-local.sh cannot start one"
                + ("" if have else " nor install slurm-wlm/munge")
            )
        start = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True,
                               timeout=600, check=False)
        if start.returncode != 0:
            pytest.fail(f"scripts/slurm-local.sh start failed:\n{start.stdout}{start.stderr}")
        started = True
        status = _status()
        assert status.returncode == 0, status.stderr
    yield status.stderr.strip()
    if started:
        subprocess.run([str(SCRIPT), "stop"], capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def zee(tmp_path_factory) -> tuple[dict, dict]:
    """1600 simulated Z→ee MC events with cells, and the reference output of the iterative
    executor with the shipped CNN (one chunk)."""
    from calocoffea.sim.generate import generate_file

    path = tmp_path_factory.mktemp("slurm") / "zee.root"
    generate_file(path, "zee", kind="mc", n_events=N_EVENTS, seed=2222)
    fileset = normalize_fileset({"zee_mc": [str(path)]})
    ref, metrics = runner.run(make_processor("zee"), fileset,
                              runner.RunOptions(executor="iterative", chunksize=N_EVENTS,
                                                progress=False))
    ref = single_dataset(ref)
    assert "cnn" in metrics["calibrations"] and metrics["events"] == N_EVENTS
    assert ref["cutflow"]["selected"] > 500
    return fileset, ref


def assert_identical(ref: dict, out: dict) -> None:
    assert out.keys() == ref.keys()
    hists = [k for k in ref if hasattr(ref[k], "view")]
    assert {"mass", "response"} <= set(hists)
    for key in hists:
        assert out[key].axes == ref[key].axes, key
        va, vb = ref[key].view(flow=True), out[key].view(flow=True)
        assert np.array_equal(va["value"], vb["value"]), key
        assert np.array_equal(va["variance"], vb["variance"]), key
    assert out["cutflow"] == ref["cutflow"]
    assert out["meta"] == ref["meta"]


def job_state(job_id: str) -> str:
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True,
                         text=True, check=False).stdout
    for field in out.split():
        if field.startswith("JobState="):
            return field.split("=", 1)[1]
    return "unknown (forgotten by slurmctld)"


def our_jobs(settle_s: float = 10.0) -> list[str]:
    """Worker jobs still pending or running; a job the run has just cancelled may take a
    moment to leave those states on a loaded machine, so wait up to ``settle_s`` for it."""
    t_end = time.monotonic() + settle_s
    while True:
        out = subprocess.run(["squeue", "-h", "-n", "calocoffea-worker", "-t", "PD,CF,R,S",
                              "-o", "%i"], capture_output=True, text=True, check=True).stdout
        if not out.split() or time.monotonic() > t_end:
            return out.split()
        time.sleep(0.5)


def test_zee_cnn_on_two_slurm_jobs_is_bit_identical(slurm, zee, tmp_path):
    fileset, ref = zee
    logs = tmp_path / "logs"
    # wait for both workers: on a loaded machine the first one can do all 8 chunks before
    # the second job's python has started, and that job would then never have run
    options = runner.RunOptions(executor="dask", cluster="slurm", workers=2, chunksize=200,
                                progress=False,
                                batch=BatchOptions(log_directory=str(logs), wait_workers=2))
    out, metrics = runner.run(make_processor("zee"), fileset, options)
    out = single_dataset(out)
    assert metrics["cluster"] == "slurm" and metrics["events"] == N_EVENTS
    assert metrics["dask_workers"] == 2
    assert "cnn" in metrics["calibrations"]
    assert_identical(ref, out)
    jobs = metrics["batch_jobs"]
    assert len(jobs) == 2 and metrics["replaced_jobs"] == 0
    assert 0 < metrics["first_worker_s"] < 120
    # both jobs ran a worker of this interpreter that joined the run's scheduler; their logs
    # are where the options said
    for job in jobs:
        log = (logs / f"calocoffea-worker-{job}.err").read_text()
        assert "Registered to:" in log, log
    assert not set(jobs) & set(our_jobs())  # no job outlives the run


def test_adaptive_jobs_stay_within_bounds_and_are_bit_identical(slurm, zee, tmp_path):
    fileset, ref = zee
    options = runner.RunOptions(executor="dask", cluster="slurm", chunksize=50, progress=False,
                                batch=BatchOptions(adapt=(1, 2), log_directory=str(tmp_path)))
    out, metrics = runner.run(make_processor("zee"), fileset, options)
    out = single_dataset(out)
    assert 1 <= len(metrics["batch_jobs"]) <= 2 and metrics["replaced_jobs"] == 0
    assert metrics["options"]["batch"]["adapt"] == (1, 2)
    assert_identical(ref, out)
    assert not set(metrics["batch_jobs"]) & set(our_jobs())


def _task_counts(dask_scheduler=None) -> dict[str, int]:
    """Tasks per state, summed over task prefixes (runs inside the scheduler, which runs in
    this process; the workers could not import this module: they run os.getenv)."""
    out: dict[str, int] = {}
    for prefix in dask_scheduler.task_prefixes.values():
        for state, n in prefix.states.items():
            out[state] = out.get(state, 0) + n
    return out


class JobCanceller(threading.Thread):
    """Finds the scheduler of the run going on in this process (its default client), waits
    until ``after`` chunks are done and many still queued, then ``scancel``s the Slurm job of
    one worker and watches for a worker of a new job to join."""

    def __init__(self, after: int = 3, timeout: float = 180.0):
        super().__init__(daemon=True)
        self.after, self.timeout = after, timeout
        self.counts_at_cancel: dict[str, int] | None = None
        self.cancelled: str | None = None
        self.cancelled_at: float | None = None
        self.replacement: str | None = None
        self.replacement_at: float | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as err:
            self.error = err

    def _run(self) -> None:
        from distributed import Client, default_client

        t_end = time.monotonic() + self.timeout
        while time.monotonic() < t_end:
            try:
                run_client = default_client()
                if run_client.scheduler is not None and run_client.status == "running":
                    break
            except ValueError:  # no client yet
                pass
            time.sleep(0.05)
        with Client(run_client.scheduler.address, timeout=30) as client:
            while self.cancelled is None and time.monotonic() < t_end:
                counts = client.run_on_scheduler(_task_counts)
                done = counts.get("memory", 0) + counts.get("released", 0)
                pending = counts.get("queued", 0) + counts.get("processing", 0)
                if done >= self.after and pending >= 60:
                    jobs = client.run(os.getenv, "SLURM_JOB_ID")
                    if len(jobs) == 2:
                        self.counts_at_cancel = counts
                        self.original = set(jobs.values())
                        self.cancelled = sorted(jobs.values())[0]
                        subprocess.run(["scancel", self.cancelled], check=True)
                        self.cancelled_at = time.monotonic()
                time.sleep(0.05)
            while self.replacement is None and time.monotonic() < t_end:
                time.sleep(0.2)
                jobs = set(client.run(os.getenv, "SLURM_JOB_ID").values())
                if jobs - self.original:
                    self.replacement = sorted(jobs - self.original)[0]
                    self.replacement_at = time.monotonic()


@pytest.mark.slow
def test_cancelled_job_mid_run_gives_identical_histograms(slurm, zee, tmp_path):
    """``scancel`` of one of 2 jobs after the first chunks: the scheduler reruns its tasks on
    the other worker, calocoffea submits a replacement job that joins the run, and the
    histograms are bit-identical to the iterative reference."""
    import dask

    fileset, ref = zee
    canceller = JobCanceller()
    canceller.start()
    # 320 chunks of 5 events: the run must outlast the replacement job's start (its python
    # and worker); with 160 chunks the remaining worker once finished first on the loaded
    # 2-core CI machine (CI of 2026-12-03)
    options = runner.RunOptions(executor="dask", cluster="slurm", workers=2, chunksize=5,
                                progress=False,
                                batch=BatchOptions(log_directory=str(tmp_path)))
    # dask-jobqueue forgets a lost job after this delay (default 15 s); the replacement
    # follows within a second
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "2s"}):
        out, metrics = runner.run(make_processor("zee"), fileset, options)
        out = single_dataset(out)
    t_done = time.monotonic()
    canceller.join(timeout=10)
    assert canceller.error is None, repr(canceller.error)
    # the cancel happened mid-run: chunks were done, many more were waiting
    assert canceller.cancelled is not None, "the run ended before a job could be cancelled"
    assert canceller.cancelled_at < t_done
    counts = canceller.counts_at_cancel
    assert counts["memory"] + counts["released"] >= 3
    assert counts["queued"] + counts["processing"] >= 60
    assert job_state(canceller.cancelled).startswith(("CANCELLED", "unknown"))
    # a replacement job was submitted, and its worker joined before the run ended
    assert metrics["replaced_jobs"] >= 1
    assert canceller.cancelled in metrics["batch_jobs"] and len(metrics["batch_jobs"]) >= 3
    assert canceller.replacement in metrics["batch_jobs"]
    assert canceller.replacement_at < t_done
    assert metrics["events"] == N_EVENTS and metrics["skipped_files"] == []
    assert_identical(ref, out)
    assert not set(metrics["batch_jobs"]) & set(our_jobs())


def test_bad_partition_fails_at_once_in_one_line(slurm, zee, tmp_path, capsys):
    fileset, _ = zee
    path = write_fileset(tmp_path / "fs.json", {"zee": list(fileset["zee_mc"]["files"])})
    # a job name of its own: another run's workers may be in the queue meanwhile (seen in
    # CI: a concurrent run's jobs made a plain "queue is empty" check fail)
    name = f"calocoffea-badpartition-{os.getpid()}"
    t0 = time.monotonic()
    rc = main(["run", "--processor", "zee", str(path), "--executor", "dask", "--cluster",
               "slurm", "--queue", "nosuch", "--job-option", f"job_name={name}",
               "--out", str(tmp_path / "o.coffea"), "--no-progress"])
    elapsed = time.monotonic() - t0
    assert rc == 2 and elapsed < 30
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("calocoffea run: --cluster slurm: the job would not be accepted "
                           "(sbatch --test-only): sbatch: error: invalid partition specified: "
                           "nosuch"), last
    assert not (tmp_path / "o.coffea").exists()
    # no job of this run in any state: it never reached a real sbatch
    listed = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i"], capture_output=True,
                            text=True, check=True).stdout
    assert listed.split() == []


@pytest.mark.parametrize("case", [
    # accepted, but would start in an hour: the start timeout (6 s) ends the wait
    ("--begin=now+3600", r"no dask worker joined within 6 s; jobs \d+ PENDING \(BeginTime\)",
     30),
    # held: a pending reason that never resolves by itself, detected at once
    ("--hold", r"job\(s\) cannot start: \d+ PENDING \(JobHeldUser\)", 20),
], ids=["begin-in-an-hour", "held"])
def test_job_that_cannot_start_fails_within_bounded_time(slurm, zee, case, tmp_path):
    directive, expected, limit_s = case
    fileset, _ = zee
    options = runner.RunOptions(executor="dask", cluster="slurm", workers=1, progress=False,
                                batch=BatchOptions(job_extra=[directive], start_timeout=6.0,
                                                   log_directory=str(tmp_path)))
    t0 = time.monotonic()
    with pytest.raises(ClusterUnavailable, match=expected) as info:
        runner.run(make_processor("zee"), fileset, options)
    assert time.monotonic() - t0 < limit_s
    assert "\n" not in str(info.value)
    # the run's pending job(s), named in the error, were cancelled (jobs of other runs on
    # the same Slurm, e.g. a concurrent CI run, are not this test's business)
    named = re.findall(r"(\d+) PENDING", str(info.value))
    assert named
    assert not set(named) & set(our_jobs(settle_s=30.0))
