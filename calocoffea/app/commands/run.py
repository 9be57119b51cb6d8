"""``calocoffea run``: run a processor over a coffea fileset and save histograms + metrics.

Example::

    calocoffea run --processor zee fileset.json --executor dask --workers 2 \\
        --chunksize 50000 --out out.hist.zip --metrics metrics.json

The output ``{"response", "mass", "cutflow", "meta"}`` is written atomically in the format its
name asks for (:mod:`calocoffea.execution.outputs`): ``.hist.zip`` (default; uhi
serialisation, no code inside), ``.hist.json``, or ``.coffea`` (pickle: reading it back needs
``--trust-pickle``). Read it with ``calocoffea.execution.outputs.load_output``. The metrics
JSON holds the status (running / complete / failed), events, objects, fallbacks, wall time,
events/s, executor, workers, cluster, model and onnxruntime execution provider. An output
path equal to an input or to the metrics file is refused. Exit status 2 with one line on
stderr for bad inputs, models or options. See docs/processors.md and docs/reliability.md.
"""

from __future__ import annotations

import argparse
import logging
import signal
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
    parser.add_argument("--out", type=Path, required=True,
                        help="output file: .hist.zip (safe, default format), .hist.json, or "
                        ".coffea (pickle)")
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
    parser.add_argument(
        "--allow-shared-files",
        action="store_true",
        help="allow one file in several datasets (its events then count once per dataset)",
    )
    parser.add_argument("--calibrations", default=None, help="comma list of bdt,cnn,truth")
    parser.add_argument("--model", type=Path, default=None, help="CNN model .onnx")
    parser.add_argument(
        "--precision", choices=["int8", "fp32"], default=None,
        help="CNN precision (default int8 where a shipped int8 model passed its resolution "
        "guard, else fp32; int8 without one is an error)",
    )
    parser.add_argument("--weights", choices=("sign", "unit"), default="sign")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--release-memory",
        action="store_true",
        help="give freed memory back to the system after each chunk (glibc default); by "
        "default workers keep it for the next chunk (calocoffea.execution.memory)",
    )


def _terminate(signum, frame):  # SIGTERM -> SystemExit: cleanup and the metrics status run
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace) -> int:
    from calocoffea.cnn.inference import ModelError
    from calocoffea.execution.outputs import OutputPathError
    from calocoffea.fileset import FilesetError, load_fileset

    def fail(err: BaseException) -> int:
        print(f"calocoffea run: {err}", file=sys.stderr)
        return 2

    def fail_early(err: BaseException) -> int:
        # the run never started: a previous result must not look like this run's
        _mark_failed(args, err)
        return fail(err)

    try:
        fileset = load_fileset(args.fileset, check_files=not args.skip_bad_files,
                               allow_shared_files=args.allow_shared_files)
    except FilesetError as err:
        return fail_early(err)
    calibs = tuple(c.strip() for c in args.calibrations.split(",")) if args.calibrations else None
    try:
        proc = make_processor(
            args.processor, calibrations=calibs, model_path=args.model, weights=args.weights,
            precision=args.precision,
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
            allow_shared_files=args.allow_shared_files,
        )
        options.check()
    except (ValueError, FileNotFoundError, ModelError) as err:
        return fail_early(err)
    inputs = [args.fileset] + ([args.model] if args.model is not None else [])
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        _, metrics = runner.run_to_files(proc, fileset, options, args.out, args.metrics,
                                              inputs=inputs)
    except (ClusterUnavailable, runner.BadInputError, OutputPathError, FilesetError) as err:
        return fail(err)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(summary_line(metrics, args.out))
    return 0


def _mark_failed(args: argparse.Namespace, err: BaseException) -> None:
    """After a failure before the run (fileset, model, options): the metrics say "failed" and
    a previous calocoffea output at ``--out`` is removed, unless either path is the fileset
    or the model (never an input: the fileset's files are unknown here, so only a file that
    is recognisably a calocoffea output is removed)."""
    from calocoffea.execution import outputs

    inputs = {outputs.real(p) for p in (args.fileset, args.model) if p is not None}
    if (args.metrics is not None and outputs.real(args.metrics) not in inputs
            and outputs.real(args.metrics) != outputs.real(args.out)):
        outputs.write_metrics({"status": "failed", "output": str(args.out),
                               "error": f"{type(err).__name__}: {err}"}, args.metrics)
    out = args.out
    if outputs.real(out) not in inputs and out.is_file() and outputs.is_calocoffea_output(out):
        outputs.remove_output(out)


def summary_line(metrics: dict, out: Path) -> str:
    """The one-line result of ``calocoffea run``: channel, kind, mode, calibrations, counts,
    speed and the output path."""
    calibs = metrics.get("calibrations") or []
    calibs = ",".join(calibs) if isinstance(calibs, list) else str(calibs)
    mode = metrics.get("mode")
    mode = ",".join(mode) if isinstance(mode, list) else mode
    eps = metrics.get("events_per_s") or 0.0
    parts = [
        f"{metrics['processor']} ({metrics.get('kind')}, mode {mode}, calibrations {calibs}):",
        f"{metrics['events']} events, {metrics['selected_events']} selected,",
    ]
    if "cnn" in calibs.split(","):
        parts.append(f"{metrics['fallback_objects']} of {metrics['objects']} objects on the "
                     "standard calibration (CNN fallback),")
    dropped = metrics.get("cnn_dropped")
    if dropped:
        parts.append(f"cnn dropped: {dropped},")
    rejected = sum((metrics.get("rejected_objects") or {}).values())
    if rejected:
        parts.append(f"{rejected} objects rejected (non-finite kinematics),")
    parts.append(f"{metrics['wall_time_s']:.1f} s ({eps:.0f} events/s) -> {out}")
    return " ".join(parts)
