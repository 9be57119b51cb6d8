"""Batch clusters without a batch system (issue 22): the job descriptions dask-jobqueue
generates, the option checks, and the one-line failures when HTCondor is missing or a dask
scheduler is unreachable. The runs on a real Slurm cluster are in test_batch_slurm.py."""

from __future__ import annotations

import socket
import sys
import time

import pytest
from test_processors import write_channel_sample

from calocoffea.app.batch_args import batch_options
from calocoffea.app.cli import build_parser, main
from calocoffea.execution import runner
from calocoffea.execution.clusters import (
    BatchOptions,
    ClusterUnavailable,
    job_script,
    jobqueue_kwargs,
    walltime_seconds,
)
from calocoffea.fileset import normalize_fileset, write_fileset
from processors import make_processor

pytest.importorskip("dask_jobqueue")

pytestmark = pytest.mark.filterwarnings("ignore::processors.base.StandardOnlyWarning")


@pytest.fixture(scope="module")
def fileset_json(tmp_path_factory):
    d = tmp_path_factory.mktemp("batch")
    sample = write_channel_sample(d / "s.root", 300, 5)
    return write_fileset(d / "fs.json", {"s": [str(sample)]})


def _lines(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if line.strip()]


def test_condor_job_description():
    """The HTCondor submit file of --cluster condor: requirements, requested memory, disk
    and cores, environment, wall time, log files, and the worker started by this
    interpreter (the python calocoffea is installed in)."""
    batch = BatchOptions(
        memory="6GB", disk="3GB", cores=2, processes=2, walltime="01:30:00",
        environment={"X509_USER_PROXY": "/afs/cern.ch/user/u/user/x509up", "OMP_NUM_THREADS": "1"},
        job_extra=['requirements = (OpSysAndVer =?= "AlmaLinux9")', '+JobFlavour = "longlunch"'],
        prologue=["source /cvmfs/sft.cern.ch/lcg/views/setup.sh"],
        log_directory="/tmp/calocoffea-logs",
    )
    lines = _lines(job_script("condor", batch))
    assert lines[0] == "#!/usr/bin/env condor_submit"
    assert 'requirements = (OpSysAndVer =?= "AlmaLinux9")' in lines
    assert '+JobFlavour = "longlunch"' in lines
    assert "RequestMemory = floor(MY.DaskWorkerMemory / 1048576)" in lines
    assert "MY.DaskWorkerMemory = 6000000000" in lines
    assert "RequestDisk = floor(MY.DaskWorkerDisk / 1024)" in lines
    assert "MY.DaskWorkerDisk = 3000000000" in lines
    assert "MY.DaskWorkerCores = 2" in lines
    assert "+MaxRuntime = 5400" in lines
    assert ('Environment = "X509_USER_PROXY=/afs/cern.ch/user/u/user/x509up OMP_NUM_THREADS=1"'
            in lines)
    assert "Output = $(LogDirectory)/worker-$F(MY.JobId).out" in lines
    assert "LogDirectory = /tmp/calocoffea-logs" in lines
    (arguments,) = [line for line in lines if line.startswith("Arguments = ")]
    # the prologue runs first, then the worker from this interpreter, 2 processes of 1 thread
    assert arguments.startswith("Arguments = \"-c 'source /cvmfs/sft.cern.ch/lcg/views/setup.sh; "
                                f"{sys.executable} -m distributed.cli.dask_worker tcp://")
    assert "--nthreads 1" in arguments and "--nworkers 2" in arguments
    assert "--memory-limit 2.79GiB" in arguments  # 6 GB shared by the 2 processes
    assert "Executable = /bin/sh" in lines and lines[-1] == "Queue"


def test_slurm_job_description():
    batch = BatchOptions(queue="short", account="calo", walltime="00:45:00", memory="6GB",
                         job_extra=["--qos=normal"], environment={"A": "x y"},
                         prologue=["module load python"], python="/shared/venv/bin/python",
                         log_directory="/shared/logs")
    lines = _lines(job_script("slurm", batch))
    for directive in ("-J calocoffea-worker", "-p short", "-A calo", "-t 00:45:00",
                      "--mem=6G", "--cpus-per-task=1", "--qos=normal",
                      "-o /shared/logs/calocoffea-worker-%J.out"):
        assert f"#SBATCH {directive}" in lines, directive
    # environment, then prologue, then the worker with the requested python
    i_env = lines.index("export A='x y'")
    assert lines[i_env + 1] == "module load python"
    assert lines[i_env + 2].startswith("/shared/venv/bin/python -m distributed.cli.dask_worker")


def test_container_runs_the_worker_inside_the_image():
    kw = jobqueue_kwargs("slurm", BatchOptions(container="/cvmfs/unpacked/calocoffea:1.0"))
    assert kw["python"] == "apptainer exec /cvmfs/unpacked/calocoffea:1.0 python3"
    assert jobqueue_kwargs("slurm", BatchOptions())["python"] == sys.executable
    # raw keywords come last and win
    kw = jobqueue_kwargs("condor", BatchOptions(extra={"memory": "8GB", "death_timeout": 120}))
    assert kw["memory"] == "8GB" and kw["death_timeout"] == 120


@pytest.mark.parametrize(("text", "seconds"), [
    ("30", 1800), ("10:00", 600), ("01:30:00", 5400), ("2-00:00:10", 172810),
])
def test_walltime(text, seconds):
    assert walltime_seconds(text) == seconds


def test_batch_options_are_checked():
    for bad, match in (
        (BatchOptions(adapt=(0, 4)), "adapt"),
        (BatchOptions(adapt=(3, 2)), "adapt"),
        (BatchOptions(cores=3, processes=2), "multiple"),
        (BatchOptions(memory="lots"), "memory"),
        (BatchOptions(walltime="1h"), "walltime"),
        (BatchOptions(environment={"A-B": "1"}), "environment"),
        (BatchOptions(wait_workers=0), "wait_workers"),
    ):
        with pytest.raises(ValueError, match=match):
            bad.check()
    with pytest.raises(ValueError, match="HTCondor has no queue"):
        jobqueue_kwargs("condor", BatchOptions(queue="short"))
    with pytest.raises(ValueError, match="adapt"):
        runner.RunOptions(executor="dask", cluster="slurm",
                          batch=BatchOptions(adapt=(0, 1))).check()
    # more workers waited for than the jobs have: refused before anything is submitted
    for workers, batch in ((2, BatchOptions(wait_workers=3)),
                           (1, BatchOptions(adapt=(1, 2), processes=1, wait_workers=3))):
        with pytest.raises(ValueError, match="wait_workers 3 is more than the 2 dask workers"):
            runner.RunOptions(executor="dask", cluster="slurm", workers=workers,
                              batch=batch).check()
    runner.RunOptions(executor="dask", cluster="slurm", workers=2,
                      batch=BatchOptions(cores=2, processes=2, wait_workers=4)).check()


def test_command_line_fills_batch_options(tmp_path):
    args = build_parser().parse_args([
        "run", "--processor", "zee", "fs.json", "--out", "o.coffea", "--executor", "dask",
        "--cluster", "slurm", "--queue", "short", "--walltime", "02:00:00",
        "--job-memory", "8GB", "--job-cores", "2", "--job-processes", "2",
        "--job-extra=--qos=long",  # a value starting with '-' needs the '=' form
        "--worker-prologue", "source venv/bin/activate",
        "--worker-env", "X509_USER_PROXY=/tmp/x509up_u0",
        "--python", "/venv/bin/python", "--log-directory", "logs", "--adapt", "1:10",
        "--job-start-timeout", "120", "--wait-workers", "3", "--job-option", "death_timeout=90",
        "--job-option", 'worker_extra_args=["--lifetime", "55m"]',
    ])
    from calocoffea.app.commands.run import fill_defaults

    assert {"queue", "job_memory", "cluster"} <= fill_defaults(args)  # flags not given: defaults
    batch = batch_options(args)
    assert batch == BatchOptions(
        queue="short", walltime="02:00:00", memory="8GB", cores=2, processes=2,
        job_extra=["--qos=long"], prologue=["source venv/bin/activate"],
        environment={"X509_USER_PROXY": "/tmp/x509up_u0"}, python="/venv/bin/python",
        log_directory="logs", adapt=(1, 10), start_timeout=120.0, wait_workers=3,
        extra={"death_timeout": 90, "worker_extra_args": ["--lifetime", "55m"]},
    )
    batch.check()
    assert args.cluster == "slurm" and args.scheduler_timeout == 10.0


def test_condor_without_condor_submit_fails_in_one_line(fileset_json, tmp_path, monkeypatch,
                                                        capsys):
    """No HTCondor client on PATH: exit 2 within seconds, one line saying what to do."""
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no condor_submit
    t0 = time.monotonic()
    rc = main(["run", "--processor", "zee", str(fileset_json), "--executor", "dask",
               "--cluster", "condor", "--out", str(tmp_path / "o.coffea"), "--no-progress"])
    elapsed = time.monotonic() - t0
    assert rc == 2
    assert elapsed < 15
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "calocoffea run: --cluster condor: condor_submit not found on PATH; run on an HTCondor "
        "submit node (e.g. lxplus.cern.ch) or install the HTCondor client tools "
        "(https://htcondor.org/downloads/)"
    )
    assert not (tmp_path / "o.coffea").exists()


def test_unreachable_scheduler_fails_within_the_timeout(fileset_json):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fileset = normalize_fileset({"s": [str(fileset_json.parent / "s.root")]})
    options = runner.RunOptions(executor="dask", scheduler=f"tcp://127.0.0.1:{port}",
                                scheduler_timeout=2.0, progress=False)
    t0 = time.monotonic()
    with pytest.raises(ClusterUnavailable) as info:
        runner.run(make_processor("zee", calibrations=("bdt",)), fileset, options)
    elapsed = time.monotonic() - t0
    assert 2.0 <= elapsed < 8.0
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot reach the dask scheduler tcp://127.0.0.1:{port} within 2 s")
