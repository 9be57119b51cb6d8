"""Command-line options of the batch clusters (``calocoffea run --cluster slurm|condor``),
turned into :class:`calocoffea.execution.clusters.BatchOptions` (docs/batch.md)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from calocoffea.execution.clusters import BatchOptions


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value


def _adapt(text: str) -> tuple[int, int]:
    try:
        low, high = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX jobs, got {text!r}") from None
    return low, high


def option_value(text: str) -> Any:
    """A ``--job-option`` value: JSON when it parses (numbers, lists, objects, true/false),
    else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The batch options of ``calocoffea run`` (a group of ``parser``)."""
    defaults = BatchOptions()
    g = parser.add_argument_group(
        "batch jobs (--cluster slurm|condor; --workers N jobs; docs/batch.md)"
    )
    g.add_argument("--queue", default=None, help="Slurm partition (#SBATCH -p)")
    g.add_argument("--account", default=None, help="Slurm account / HTCondor AccountingGroup")
    g.add_argument("--walltime", default=None, metavar="HH:MM:SS",
                   help="job time limit (Slurm -t, HTCondor +MaxRuntime)")
    g.add_argument("--job-memory", default=defaults.memory, metavar="SIZE",
                   help=f"memory per job, also the worker's limit (default {defaults.memory})")
    g.add_argument("--job-cores", type=int, default=defaults.cores, metavar="N",
                   help=f"cores per job (default {defaults.cores})")
    g.add_argument("--job-processes", type=int, default=defaults.processes, metavar="N",
                   help="dask worker processes per job (default 1)")
    g.add_argument("--job-disk", default=defaults.disk, metavar="SIZE",
                   help=f"HTCondor scratch disk per job (default {defaults.disk})")
    g.add_argument("--job-extra", action="append", default=[], metavar="DIRECTIVE",
                   help="scheduler directive, repeatable: Slurm --job-extra=--qos=short (with '=' "
                   "since the value starts with '-'), HTCondor '+JobFlavour = \"espresso\"'")
    g.add_argument("--worker-prologue", action="append", default=[], metavar="LINE",
                   help="shell line run in the job before the worker, repeatable "
                   "('source /path/venv/bin/activate')")
    g.add_argument("--worker-env", action="append", type=_key_value, default=[],
                   metavar="KEY=VALUE", help="worker environment variable, repeatable "
                   "(X509_USER_PROXY=...)")
    g.add_argument("--python", default=None,
                   help="python of the workers (default: this one, on a shared filesystem)")
    g.add_argument("--container", default=None, metavar="IMAGE",
                   help="apptainer image the workers run in")
    g.add_argument("--log-directory", default=None, metavar="DIR",
                   help="where the job logs go (stdout/stderr of each worker)")
    g.add_argument("--local-directory", default=None, metavar="DIR",
                   help="worker scratch directory on the execute node")
    g.add_argument("--interface", default=None,
                   help="network interface the workers reach the scheduler on (eth0, ib0)")
    g.add_argument("--scheduler-port", type=int, default=0, metavar="PORT",
                   help="scheduler port the jobs connect to (default: any free port)")
    g.add_argument("--adapt", type=_adapt, default=None, metavar="MIN:MAX",
                   help="adaptive number of jobs instead of --workers")
    g.add_argument("--job-start-timeout", type=float, default=defaults.start_timeout,
                   metavar="S", help="fail when no worker has joined after S seconds "
                   f"(default {defaults.start_timeout:g})")
    g.add_argument("--wait-workers", type=int, default=defaults.wait_workers, metavar="N",
                   help="start the run once N dask workers have joined (default "
                   f"{defaults.wait_workers}; within --job-start-timeout)")
    g.add_argument("--job-option", action="append", type=_key_value, default=[],
                   metavar="KEY=VALUE", help="raw keyword of dask-jobqueue's SLURMCluster/"
                   "HTCondorCluster, repeatable; VALUE is JSON when it parses "
                   "(worker_extra_args='[\"--lifetime\",\"55m\"]')")
    g.add_argument("--scheduler-timeout", type=float, default=10.0, metavar="S",
                   help="with --scheduler: fail when it does not answer within S s (default 10)")


def batch_options(args: argparse.Namespace) -> BatchOptions:
    """The :class:`BatchOptions` of parsed ``args``."""
    return BatchOptions(
        queue=args.queue,
        account=args.account,
        walltime=args.walltime,
        memory=args.job_memory,
        cores=args.job_cores,
        processes=args.job_processes,
        disk=args.job_disk,
        job_extra=list(args.job_extra),
        prologue=list(args.worker_prologue),
        environment=dict(args.worker_env),
        python=args.python,
        container=args.container,
        log_directory=args.log_directory,
        local_directory=args.local_directory,
        interface=args.interface,
        scheduler_port=args.scheduler_port,
        adapt=args.adapt,
        start_timeout=args.job_start_timeout,
        wait_workers=args.wait_workers,
        extra={key: option_value(value) for key, value in args.job_option},
    )
