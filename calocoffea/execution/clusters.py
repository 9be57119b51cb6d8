"""dask clusters for :func:`calocoffea.execution.runner.run` (``--executor dask``).

- ``local`` (default): ``LocalCluster(n_workers=workers, threads_per_worker=1)``;
- ``cuda``: ``dask_cuda.LocalCUDACluster`` (one worker per visible GPU, or ``workers``);
  onnxruntime then picks the CUDA execution provider (needs ``calocoffea[gpu]``). Without
  dask-cuda or a GPU the run falls back to a CPU ``LocalCluster`` with one warning, and the
  metrics record why (``cuda_fallback``);
- ``slurm`` / ``condor``: batch jobs, one dask worker each, from dask-jobqueue's
  ``SLURMCluster`` / ``HTCondorCluster`` (needs ``calocoffea[grid]``), with the site options
  of :class:`BatchOptions` (``RunOptions.batch``): ``workers`` jobs, or adaptive between
  ``BatchOptions.adapt`` = (minimum, maximum) jobs. See docs/batch.md;

or an existing scheduler with ``RunOptions.scheduler = "tcp://host:8786"`` (an unreachable
one fails after ``RunOptions.scheduler_timeout`` seconds). Every worker of these clusters
gets :class:`calocoffea.execution.memory.RetainMemoryPlugin` unless the run asks to release
memory.

Batch clusters fail early and in one line (:class:`ClusterUnavailable`), never by hanging:
dask-jobqueue only logs a failed submission and waits for a worker forever, so before any
job is submitted :func:`check_submission` looks for the submit command and asks the batch
system whether the job would be accepted (``sbatch --test-only``: partition, account, time
and memory limits; HTCondor: ``condor_q`` reaches the schedd), and the run then waits at
most ``BatchOptions.start_timeout`` seconds for the first worker, failing at once on Slurm
pending reasons that never resolve (:data:`SLURM_PERMANENT_REASONS`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from calocoffea.execution.runner import RunOptions

log = logging.getLogger(__name__)

CLUSTERS: tuple[str, ...] = ("local", "cuda", "condor", "slurm")
#: The clusters made of batch jobs (dask-jobqueue), configured by :class:`BatchOptions`.
BATCH_CLUSTERS: tuple[str, ...] = ("slurm", "condor")
#: Keyword arguments of ``dask_jobqueue.HTCondorCluster`` used unless overridden: one
#: single-core job per worker, with memory and disk for a chunk of 100k events (the
#: :class:`BatchOptions` defaults).
CONDOR_DEFAULTS: dict[str, Any] = {"cores": 1, "processes": 1, "memory": "4GB", "disk": "4GB"}
#: Command that submits a job of each batch cluster (looked up on ``PATH`` first).
SUBMIT_COMMANDS: dict[str, str] = {"slurm": "sbatch", "condor": "condor_submit"}
#: Slurm pending reasons after which a job will not start without an administrator:
#: waiting for the first worker stops at once on them.
SLURM_PERMANENT_REASONS: tuple[str, ...] = (
    "PartitionDown", "PartitionInactive", "PartitionNodeLimit", "PartitionTimeLimit",
    "ReqNodeNotAvail", "InvalidAccount", "InvalidQOS", "AccountNotAllowed", "QOSNotAllowed",
    "BadConstraints", "JobHeldAdmin", "JobHeldUser", "DependencyNeverSatisfied",
)


class ClusterUnavailable(RuntimeError):
    """The requested dask cluster cannot be started or reached here (one-line message)."""


@dataclass
class BatchOptions:
    """Site options of the batch jobs of ``--cluster slurm|condor`` (docs/batch.md).

    Each job runs ``processes`` dask workers of ``cores // processes`` threads; the
    defaults (one single-core worker per job, 4 GB, 4 GB of disk) fit a chunk of 100k Z→ee
    events with the CNN (peak 2 GB, benchmarks/README.md).
    """

    #: Slurm partition (``#SBATCH -p``); not used by HTCondor (use ``job_extra``, e.g.
    #: ``+JobFlavour = "espresso"``).
    queue: str | None = None
    #: Slurm account (``#SBATCH -A``); HTCondor: ``+AccountingGroup``.
    account: str | None = None
    #: Wall-time limit ``[D-]HH:MM:SS`` (or ``MM:SS``, ``MM``): ``#SBATCH -t``; HTCondor:
    #: ``+MaxRuntime`` in seconds (CERN's lxplus reads it).
    walltime: str | None = None
    #: Memory per job (``"4GB"``): ``#SBATCH --mem``, HTCondor ``RequestMemory``; it is also
    #: the dask worker's memory limit.
    memory: str = "4GB"
    cores: int = 1
    processes: int = 1
    #: Scratch disk per job (HTCondor ``RequestDisk``; Slurm does not ask for disk).
    disk: str = "4GB"
    #: More scheduler directives, one per item: Slurm ``"--qos=short"`` (each becomes a
    #: ``#SBATCH`` line), HTCondor ``"KEY = VALUE"`` submit-file lines.
    job_extra: list[str] = field(default_factory=list)
    #: Shell lines run in the job before the worker starts (``source venv/bin/activate``,
    #: ``module load ...``).
    prologue: list[str] = field(default_factory=list)
    #: Environment variables of the workers (``X509_USER_PROXY`` for ``root://`` files).
    environment: dict[str, str] = field(default_factory=dict)
    #: Python that starts the worker (default: this interpreter, i.e. the same environment
    #: on a shared filesystem; ``python3`` inside a ``container``).
    python: str | None = None
    #: Apptainer/Singularity image the workers run in (``apptainer exec IMAGE python``).
    container: str | None = None
    #: Directory of the job logs (stdout/stderr of every worker); None: the batch system's
    #: default (Slurm: the submit directory).
    log_directory: str | None = None
    #: Worker scratch directory on the execute node (dask spills and locks).
    local_directory: str | None = None
    #: Network interface of the scheduler and workers (``eth0``, ``ib0``), when the default
    #: address of the submit host is not the one the worker nodes can reach.
    interface: str | None = None
    #: Port of the scheduler the jobs connect back to (0: any free port).
    scheduler_port: int = 0
    #: Adaptive scaling between (minimum, maximum) jobs instead of ``workers`` fixed jobs.
    adapt: tuple[int, int] | None = None
    #: Seconds to wait for the first worker before failing (jobs queued behind others
    #: count against it).
    start_timeout: float = 600.0
    #: Dask workers that must have joined before the run starts (1: start with the first;
    #: more, e.g. every worker, so that each job takes part even when a few chunks would be
    #: done before a slow job starts; the wait counts against ``start_timeout``).
    wait_workers: int = 1
    #: Seconds the submission check may take (``sbatch --test-only``, ``condor_q``).
    submit_timeout: float = 30.0
    #: Raw keyword arguments of the dask-jobqueue cluster, applied last (``--job-option``).
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Raise ValueError for inconsistent options."""
        from dask.utils import parse_bytes

        if self.cores < 1 or self.processes < 1 or self.cores % self.processes:
            raise ValueError(
                f"job cores ({self.cores}) must be a positive multiple of processes "
                f"({self.processes})"
            )
        for name in ("memory", "disk"):
            try:
                parse_bytes(getattr(self, name))
            except (ValueError, TypeError) as err:
                raise ValueError(f"job {name} {getattr(self, name)!r}: {err}") from err
        if self.walltime is not None:
            walltime_seconds(self.walltime)
        if self.adapt is not None:
            low, high = self.adapt
            if low < 1 or high < low:
                raise ValueError(
                    f"adapt MIN:MAX needs 1 <= MIN <= MAX (at least one job, so that the run "
                    f"can check that jobs start), got {low}:{high}"
                )
        if self.wait_workers < 1:
            raise ValueError(f"wait_workers must be >= 1, got {self.wait_workers}")
        if self.start_timeout <= 0 or self.submit_timeout <= 0:
            raise ValueError("start_timeout and submit_timeout must be > 0 seconds")
        for key in self.environment:
            if not key.isidentifier():
                raise ValueError(f"worker environment variable name {key!r}")


def walltime_seconds(text: str) -> int:
    """Seconds of a Slurm-style time ``[D-]HH:MM:SS``, ``HH:MM:SS``, ``MM:SS`` or ``MM``."""
    try:
        days, _, rest = text.rpartition("-")
        parts = [int(p) for p in rest.split(":")]
        if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts):
            raise ValueError
        if len(parts) == 1:
            seconds = parts[0] * 60
        else:
            seconds = sum(p * 60**i for i, p in enumerate(reversed(parts)))
        return seconds + int(days or 0) * 86400
    except ValueError:
        raise ValueError(
            f"walltime {text!r}: expected [D-]HH:MM:SS, HH:MM:SS, MM:SS or MM"
        ) from None


def _condor_directives(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"HTCondor job_extra line {line!r}: expected 'KEY = VALUE'")
        out[key.strip()] = value.strip()
    return out


def jobqueue_kwargs(kind: str, batch: BatchOptions) -> dict[str, Any]:
    """Keyword arguments of dask-jobqueue's ``SLURMCluster`` (``kind="slurm"``) or
    ``HTCondorCluster`` (``"condor"``) for ``batch`` (pure: nothing is started)."""
    if kind not in BATCH_CLUSTERS:
        raise ValueError(f"batch cluster must be one of {BATCH_CLUSTERS}, got {kind!r}")
    python = batch.python
    if batch.container:
        python = f"apptainer exec {shlex.quote(batch.container)} {python or 'python3'}"
    kw: dict[str, Any] = {
        "cores": batch.cores,
        "processes": batch.processes,
        "memory": batch.memory,
        "python": python or sys.executable,
        "job_name": "calocoffea-worker",
        # no fixed dashboard port (8787 is often taken on shared submit hosts)
        "scheduler_options": {"dashboard_address": ":0", "port": batch.scheduler_port},
    }
    prologue = list(batch.prologue)
    for name in ("log_directory", "local_directory", "interface"):
        if getattr(batch, name) is not None:
            kw[name] = getattr(batch, name)
    if kind == "slurm":
        prologue = [f"export {k}={shlex.quote(v)}" for k, v in batch.environment.items()]
        prologue += list(batch.prologue)
        for name in ("queue", "account", "walltime"):
            if getattr(batch, name) is not None:
                kw[name] = getattr(batch, name)
        kw["job_extra_directives"] = list(batch.job_extra)
    else:
        from dask_jobqueue.htcondor import quote_environment

        if batch.queue is not None:
            raise ValueError(
                "HTCondor has no queue/partition: use job_extra (e.g. '+JobFlavour = "
                "\"espresso\"' at CERN)"
            )
        kw["disk"] = batch.disk
        directives: dict[str, str] = {}
        if batch.environment:
            directives["Environment"] = f'"{quote_environment(batch.environment)}"'
        if batch.walltime is not None:
            directives["+MaxRuntime"] = str(walltime_seconds(batch.walltime))
        if batch.account is not None:
            directives["+AccountingGroup"] = f'"{batch.account}"'
        directives.update(_condor_directives(batch.job_extra))
        kw["job_extra_directives"] = directives
    if prologue:
        kw["job_script_prologue"] = prologue
    kw.update(batch.extra)
    return kw


def job_script(kind: str, batch: BatchOptions) -> str:
    """The job description dask-jobqueue submits for ``batch`` (the Slurm batch script or the
    HTCondor submit file), as :meth:`JobQueueCluster.job_script` makes it. Starts a local
    scheduler for the address, submits nothing."""
    cluster = batch_cluster(kind, batch)
    try:
        return cluster.job_script()
    finally:
        cluster.close()


def batch_cluster(kind: str, batch: BatchOptions):
    """A dask-jobqueue cluster for ``kind`` (``slurm``/``condor``) with no job yet."""
    try:
        import dask_jobqueue
    except ImportError as err:
        raise ClusterUnavailable(
            f"--cluster {kind} needs dask-jobqueue ({err}); install calocoffea[grid]"
        ) from err
    cls = dask_jobqueue.SLURMCluster if kind == "slurm" else dask_jobqueue.HTCondorCluster
    kwargs = jobqueue_kwargs(kind, batch)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ClusterUnavailable(f"--cluster {kind}: bad job options: {err}") from err


def _one_line(text: str, limit: int = 400) -> str:
    line = "; ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _command(args: list[str], timeout: float, what: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise ClusterUnavailable(
            f"{what}: {' '.join(args[:2])} did not answer within {timeout:g} s"
        ) from None


def check_submission(kind: str, cluster: Any, batch: BatchOptions) -> None:
    """Raise :class:`ClusterUnavailable` (one line) unless jobs of ``cluster`` can be
    submitted here: the submit command is on ``PATH``, and the batch system accepts the job
    (Slurm: ``sbatch --test-only`` of the real job script, which checks partition, account
    and limits and submits nothing; HTCondor: ``condor_q`` reaches the schedd)."""
    submit = SUBMIT_COMMANDS[kind]
    if shutil.which(submit) is None:
        where = ("install the Slurm client (Debian: apt-get install slurm-client) or run on a "
                 "login node of the cluster" if kind == "slurm" else
                 "run on an HTCondor submit node (e.g. lxplus.cern.ch) or install the HTCondor "
                 "client tools (https://htcondor.org/downloads/)")
        raise ClusterUnavailable(f"--cluster {kind}: {submit} not found on PATH; {where}")
    if kind == "slurm":
        with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="calocoffea-job-") as f:
            f.write(cluster.job_script())
            f.flush()
            done = _command(["sbatch", "--test-only", f.name], batch.submit_timeout,
                            "--cluster slurm")
        if done.returncode != 0:
            raise ClusterUnavailable(
                f"--cluster slurm: the job would not be accepted (sbatch --test-only): "
                f"{_one_line(done.stderr or done.stdout)}"
            )
        log.info("slurm accepts the job: %s", _one_line(done.stderr or done.stdout))
    else:
        done = _command(["condor_q", "-totals"], batch.submit_timeout, "--cluster condor")
        if done.returncode != 0:
            raise ClusterUnavailable(
                f"--cluster condor: the HTCondor schedd is unreachable (condor_q): "
                f"{_one_line(done.stderr or done.stdout)}"
            )


def job_ids(cluster: Any) -> list[str]:
    """Batch job ids of the jobs of ``cluster`` that were submitted."""
    return [str(job.job_id) for job in list(cluster.workers.values())
            if getattr(job, "job_id", None)]


def _job_states(kind: str, ids: list[str], timeout: float = 10.0) -> dict[str, str]:
    """{job id: "STATE (reason)"} from the batch system ({} when it cannot say)."""
    if not ids:
        return {}
    if kind == "slurm":
        args = ["squeue", "-h", "-j", ",".join(ids), "-o", "%i %T %r"]
    else:
        args = ["condor_q", *ids, "-af", "ClusterId", "ProcId", "JobStatus", "HoldReason"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    states = {}
    for line in done.stdout.splitlines():
        parts = line.split(None, 2)
        if kind == "slurm" and len(parts) == 3:
            states[parts[0]] = f"{parts[1]} ({parts[2]})"
        elif kind == "condor" and len(parts) >= 3:
            states[f"{parts[0]}.{parts[1]}"] = " ".join(parts[2:])
    return states


def wait_for_workers(client: Any, cluster: Any, kind: str, batch: BatchOptions) -> float:
    """Wait until ``batch.wait_workers`` workers of ``cluster`` (default one) have joined;
    returns the seconds waited. Raises :class:`ClusterUnavailable` after
    ``batch.start_timeout`` s, or as soon as a Slurm job pends for a reason in
    :data:`SLURM_PERMANENT_REASONS`, naming the jobs and their states."""
    t0 = time.monotonic()
    next_poll = t0 + 2.0
    joined = 0
    while time.monotonic() - t0 < batch.start_timeout:
        joined = len(client.scheduler_info().get("workers", {}))
        if joined >= batch.wait_workers:
            return time.monotonic() - t0
        if kind == "slurm" and time.monotonic() >= next_poll:
            next_poll = time.monotonic() + 5.0
            states = _job_states(kind, job_ids(cluster))
            bad = {i: s for i, s in states.items()
                   if any(r in s for r in SLURM_PERMANENT_REASONS)}
            if bad:
                raise ClusterUnavailable(
                    "--cluster slurm: job(s) cannot start: "
                    + ", ".join(f"{i} {s}" for i, s in sorted(bad.items()))
                )
        time.sleep(0.2)
    ids = job_ids(cluster)
    states = _job_states(kind, ids)
    if not ids:
        detail = "no job was submitted (see the log above for the submission error)"
    else:
        detail = "jobs " + ", ".join(f"{i} {states.get(i, 'not queued any more')}"
                                     for i in ids)
    what = ("no dask worker joined" if batch.wait_workers == 1 else
            f"{joined} of the {batch.wait_workers} dask workers waited for joined")
    raise ClusterUnavailable(
        f"--cluster {kind}: {what} within {batch.start_timeout:g} s; {detail}"
    )


class JobKeeper:
    """Replaces lost batch jobs while a run lasts (a thread; ``with JobKeeper(...)``).

    dask-jobqueue forgets a job whose worker left (cancelled, pre-empted, past its wall time)
    ``distributed.deploy.lost-worker-timeout`` after the loss (dask's default 15 s) but does
    not submit a new one, neither with a fixed number of jobs nor adaptively: a run whose
    jobs all die waits forever. Every ``interval`` seconds the keeper asks the cluster to
    reconcile its jobs with its plan, which submits one job per forgotten one; the
    scheduler meanwhile reschedules the lost tasks on the remaining workers.
    """

    def __init__(self, cluster: Any, interval: float = 1.0):
        import threading

        self.cluster, self.interval = cluster, interval
        self.replaced = 0
        #: ids of every job the cluster has had while watched
        self.jobs: set[str] = set(job_ids(cluster))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="calocoffea-job-keeper",
                                        daemon=True)

    def _watch(self) -> None:
        cluster = self.cluster
        asked: dict[str, float] = {}  # job name -> when its replacement was asked for
        started: set[str] = set(cluster.workers)  # names of jobs that were submitted
        while not self._stop.wait(self.interval):
            try:  # the cluster's event loop changes these dicts: copy them
                self.jobs.update(job_ids(cluster))
                workers, planned = set(cluster.workers), set(cluster.worker_spec)
            except RuntimeError:  # changed size during iteration: next tick
                continue
            now = time.monotonic()
            # lost: planned, once started, now forgotten (jobs that adaptive scaling has
            # planned but not submitted yet are not lost)
            started.update(workers)
            missing = (planned & started) - workers
            asked = {name: t for name, t in asked.items() if name in missing}
            new = {name for name in missing if now - asked.get(name, -1e9) > 60.0}
            if new:
                log.warning("%d batch job(s) lost; submitting replacement(s)", len(new))
                self.replaced += len(new)
                asked.update(dict.fromkeys(new, now))
                # scale to the current plan: no job added or removed, the cluster then
                # starts one job per planned job it no longer has (in its event loop)
                cluster.loop.add_callback(cluster.scale, jobs=len(planned))

    def __enter__(self) -> JobKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _close_batch_cluster(cluster: Any, kind: str) -> None:
    """Close ``cluster``; jobs it did not cancel itself (it asserts on jobs that never
    started, and a job submitted while it closes is not in its list) are cancelled here, so
    that no job of the run outlives it."""
    ids = set(job_ids(cluster))
    try:
        cluster.close(timeout=30)
    except Exception as err:  # dask-jobqueue asserts on jobs that never started
        log.debug("closing the %s cluster: %r", kind, err)
    with contextlib.suppress(Exception):
        ids |= set(job_ids(cluster))
    ids_sorted = sorted(ids)
    left = [i for i in ids_sorted if i in _job_states(kind, ids_sorted)] if ids else []
    if left:
        log.debug("cancelling %s job(s) %s left after closing the cluster", kind, left)
        cancel = "scancel" if kind == "slurm" else "condor_rm"
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run([cancel, *left], capture_output=True, timeout=30, check=False)


def _cuda_cluster(workers: int | None):
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError as err:
        raise ClusterUnavailable(
            f"dask-cuda is not installed ({err}); install calocoffea[gpu]"
        ) from err
    try:
        return LocalCUDACluster(n_workers=workers, threads_per_worker=1)
    except Exception as err:  # no GPU, no driver, no NVML: all end up here
        raise ClusterUnavailable(f"LocalCUDACluster failed: {err}") from err


def _local_cluster(workers: int):
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True,
        # a random port: a fixed one (8787, even with the dashboard off) collides with any
        # other cluster on the machine and distributed warns on stderr
        dashboard_address=":0",
    )


def _setup_workers(client: Any, options: RunOptions) -> None:
    """What every worker of the run gets when it starts (now or later, e.g. batch jobs):
    the allocator setting of :mod:`calocoffea.execution.memory` unless released."""
    if options.retain_memory:
        from calocoffea.execution.memory import RetainMemoryPlugin

        client.register_plugin(RetainMemoryPlugin())


def _scheduler_client(options: RunOptions):
    from distributed import Client

    try:
        return Client(options.scheduler, timeout=options.scheduler_timeout)
    except (OSError, TimeoutError) as err:
        raise ClusterUnavailable(
            f"cannot reach the dask scheduler {options.scheduler} within "
            f"{options.scheduler_timeout:g} s ({type(err).__name__}); is it running, and is "
            "its port open from here (firewall, ssh tunnel)?"
        ) from err


@contextlib.contextmanager
def _batch_client(options: RunOptions, info: dict[str, Any]) -> Iterator[Any]:
    from distributed import Client

    kind = options.cluster
    batch = options.batch
    if options.condor:  # RunOptions.condor (--condor-option): older spelling of extra
        batch = dataclasses.replace(batch, extra={**options.condor, **batch.extra})
    batch.check()
    cluster = batch_cluster(kind, batch)
    info["cluster"] = kind
    try:
        check_submission(kind, cluster, batch)
        if batch.adapt is not None:
            cluster.adapt(minimum_jobs=batch.adapt[0], maximum_jobs=batch.adapt[1])
        else:
            cluster.scale(jobs=options.workers)
        with Client(cluster) as client:
            info["dashboard"] = client.dashboard_link
            log.info("%s cluster: scheduler %s, dashboard %s", kind,
                     cluster.scheduler_address, client.dashboard_link)
            _setup_workers(client, options)
            info["first_worker_s"] = wait_for_workers(client, cluster, kind, batch)
            info["dask_workers"] = len(client.scheduler_info().get("workers", {}))
            keeper = JobKeeper(cluster)
            try:
                with keeper:
                    yield client
            finally:
                keeper.jobs.update(job_ids(cluster))
                info["batch_jobs"] = sorted(keeper.jobs, key=lambda i: (len(i), i))
                info["replaced_jobs"] = keeper.replaced
    finally:
        _close_batch_cluster(cluster, kind)


@contextlib.contextmanager
def dask_client(options: RunOptions, info: dict[str, Any]) -> Iterator[Any]:
    """A ``distributed.Client`` for ``options`` (closed with its cluster on exit); fills
    ``info`` with the cluster actually used (batch clusters: ``batch_jobs``, the job ids,
    and ``first_worker_s``, the wait after submission for the first worker, or for
    ``batch.wait_workers`` of them)."""
    from distributed import Client

    if options.scheduler:
        info["cluster"] = "scheduler"
        info["scheduler"] = options.scheduler
        with _scheduler_client(options) as client:
            _setup_workers(client, options)
            yield client
        return
    if options.cluster in BATCH_CLUSTERS:
        with _batch_client(options, info) as client:
            yield client
        return
    cluster = None
    if options.cluster == "cuda":
        try:
            cluster = _cuda_cluster(None if options.workers <= 1 else options.workers)
            info["cluster"] = "cuda"
        except ClusterUnavailable as err:
            log.warning("--cluster cuda unavailable, falling back to a CPU LocalCluster: %s", err)
            info["cuda_fallback"] = str(err)
    if cluster is None:
        cluster = _local_cluster(options.workers)
        info["cluster"] = "local"
    try:
        with Client(cluster) as client:
            client.wait_for_workers(1)
            info["dask_workers"] = len(client.scheduler_info().get("workers", {}))
            _setup_workers(client, options)
            yield client
    finally:
        cluster.close()
