"""``calocoffea run``: run a processor over a coffea fileset and save histograms + metrics.

Example::

    calocoffea run --processor zee fileset.json --executor dask --workers 2 \\
        --chunksize 50000 --out out.coffea --metrics metrics.json

The output (``coffea.util.load``-able) is ``{"response", "mass", "cutflow", "meta"}``; the
metrics JSON holds events, objects, wall time, events/s, executor, workers, cluster, model and
onnxruntime execution provider. See docs/processors.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from calocoffea.app import batch_args
from calocoffea.execution import runner
from calocoffea.execution.clusters import CLUSTERS, ClusterUnavailable
from processors import PROCESSORS, make_processor

log = logging.getLogger(__name__)


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fileset", type=Path, help="coffea fileset JSON")
    parser.add_argument(
        "--processor", required=True, choices=sorted(PROCESSORS), help="channel"
    )
    parser.add_argument("--executor", choices=runner.EXECUTORS, default="futures")
    parser.add_argument("--workers", type=int, default=1, help="processes / dask workers")
    parser.add_argument("--chunksize", type=int, default=100_000, help="events per chunk")
    parser.add_argument("--maxchunks", type=int, default=None, help="at most N chunks/dataset")
    parser.add_argument("--out", type=Path, required=True, help="output .coffea file")
    parser.add_argument("--metrics", type=Path, default=None, help="metrics JSON file")
    parser.add_argument(
        "--cluster",
        choices=CLUSTERS,
        default="local",
        help="dask cluster: LocalCluster, dask-cuda LocalCUDACluster (CPU fallback when "
        "unavailable), or batch jobs: dask-jobqueue HTCondorCluster or SLURMCluster "
        "(docs/batch.md)",
    )
    parser.add_argument("--scheduler", default=None, help="existing dask scheduler tcp://...")
    parser.add_argument(
        "--condor-option",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="HTCondorCluster keyword (memory=8GB, disk=4GB, cores=1, "
        "job_script_prologue=..., log_directory=...); repeatable (same as --job-option)",
    )
    batch_args.add_arguments(parser)
    parser.add_argument("--skip-bad-files", action="store_true", help="skip unreadable files")
    parser.add_argument("--calibrations", default=None, help="comma list of bdt,cnn,truth")
    parser.add_argument("--model", type=Path, default=None, help="CNN model .onnx")
    parser.add_argument("--weights", choices=("sign", "unit"), default="sign")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--release-memory",
        action="store_true",
        help="give freed memory back to the system after each chunk (glibc default); by "
        "default workers keep it for the next chunk (calocoffea.execution.memory)",
    )


def run(args: argparse.Namespace) -> int:
    from calocoffea.cnn.inference import ModelError
    from calocoffea.fileset import FilesetError, load_fileset

    try:
        fileset = load_fileset(args.fileset, check_files=not args.skip_bad_files)
    except FilesetError as err:
        print(f"calocoffea run: {err}", file=sys.stderr)
        return 2
    calibs = tuple(c.strip() for c in args.calibrations.split(",")) if args.calibrations else None
    try:
        proc = make_processor(
            args.processor, calibrations=calibs, model_path=args.model, weights=args.weights,
        )
        condor = {}
        for key, value in args.condor_option:
            condor[key] = int(value) if value.isdigit() else value
        options = runner.RunOptions(
            executor=args.executor,
            workers=args.workers,
            chunksize=args.chunksize,
            cluster=args.cluster,
            scheduler=args.scheduler,
            skip_bad_files=args.skip_bad_files,
            progress=not args.no_progress,
            maxchunks=args.maxchunks,
            condor=condor,
            retain_memory=not args.release_memory,
            batch=batch_args.batch_options(args),
            scheduler_timeout=args.scheduler_timeout,
        )
        options.check()
    except (ValueError, FileNotFoundError, ModelError) as err:
        print(f"calocoffea run: {err}", file=sys.stderr)
        return 2
    try:
        output, metrics = runner.run(proc, fileset, options)
    except (ClusterUnavailable, runner.BadInputError) as err:
        print(f"calocoffea run: {err}", file=sys.stderr)
        return 2
    runner.save_output(output, args.out)
    if args.metrics is not None:
        runner.write_metrics(metrics, args.metrics)
    eps = metrics["events_per_s"]
    print(
        f"{metrics['processor']}: {metrics['events']} events, {metrics['selected_events']} "
        f"selected, {metrics['wall_time_s']:.1f} s ({eps:.0f} events/s) -> {args.out}"
    )
    return 0
