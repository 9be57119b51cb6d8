"""``calocoffea run``: run a processor over a coffea fileset and save histograms + metrics.

Example::

    calocoffea run --processor zee fileset.json --executor dask --workers 2 \\
        --chunksize 50000 --out out.hist.zip --metrics metrics.json

The output, keyed by dataset (``{dataset: {"response", "mass", "pileup", "sum_genweight",
"cutflow", "meta"}}``, each ``meta`` with the dataset's ``kind`` and fileset ``metadata``),
is written atomically in the format its name asks for (:mod:`calocoffea.execution.outputs`):
``.hist.zip`` (default; uhi serialisation, no code inside), ``.hist.json``, or ``.coffea``
(pickle: reading it back needs ``--trust-pickle``). Read it with
``calocoffea.execution.outputs.load_output``. The metrics JSON holds the status (running /
complete / failed), events, objects, fallbacks, wall time, events/s, executor, workers,
cluster, model and onnxruntime execution provider. An output path equal to an input or to
the metrics file is refused. Exit status 2 with one line on stderr for bad inputs, models or
options. See docs/processors.md and docs/reliability.md.
"""

from __future__ import annotations

import argparse
import dataclasses
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


#: Flag destination -> its default; filled by add_arguments, whose flags default to
#: SUPPRESS so that run() knows which were given (they override the --config file).
_FLAG_DEFAULTS: dict[str, object] = {}
#: RunOptions field -> the flag destination that sets it (inverted for the two "no"
#: flags; ``condor`` from --condor-option).
RUN_OPTION_FLAGS: dict[str, str] = {
    "executor": "executor", "workers": "workers", "chunksize": "chunksize",
    "maxchunks": "maxchunks", "cluster": "cluster", "scheduler": "scheduler",
    "skip_bad_files": "skip_bad_files", "allow_shared_files": "allow_shared_files",
    "progress": "no_progress", "retain_memory": "release_memory", "condor": "condor_option",
    "scheduler_timeout": "scheduler_timeout",
}
#: BatchOptions field -> flag destination (calocoffea.app.batch_args).
BATCH_OPTION_FLAGS: dict[str, str] = {
    "queue": "queue", "account": "account", "walltime": "walltime", "memory": "job_memory",
    "cores": "job_cores", "processes": "job_processes", "disk": "job_disk",
    "job_extra": "job_extra", "prologue": "worker_prologue", "environment": "worker_env",
    "python": "python", "container": "container", "log_directory": "log_directory",
    "local_directory": "local_directory", "interface": "interface",
    "scheduler_port": "scheduler_port", "adapt": "adapt", "start_timeout": "job_start_timeout",
    "wait_workers": "wait_workers", "extra": "job_option",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fileset", type=Path, nargs="?", default=None,
                        help="coffea fileset JSON (or run.fileset / [fileset] of --config)")
    parser.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help="TOML run configuration (calocoffea config dump writes the "
                        "defaults); the flags given override it")
    parser.add_argument(
        "--processor", default=None, choices=sorted(PROCESSORS),
        help="channel (required unless run.processor is in --config)"
    )
    parser.add_argument("--executor", choices=runner.EXECUTORS, default="futures")
    parser.add_argument("--workers", type=int, default=1, help="processes / dask workers")
    parser.add_argument("--chunksize", type=int, default=100_000, help="events per chunk")
    parser.add_argument("--maxchunks", type=int, default=None, help="at most N chunks/dataset")
    parser.add_argument("--out", type=Path, default=None,
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
    parser.add_argument("--sigma-models", default=None, metavar="DIR|none",
                        help="directory of the per-object sigma_E models (calocoffea train "
                        "sigma; default: the BDT models' directory), or 'none' for the "
                        "resolution table and the CNN's own sigma")
    parser.add_argument("--weights", choices=("sign", "unit"), default="sign")
    parser.add_argument("--pileup", type=Path, default=None, metavar="FILE",
                        help="correctionlib pile-up file (calocoffea pileup): weight MC "
                        "events to the data <mu> profile")
    parser.add_argument("--lumi", type=float, default=None, metavar="PB",
                        help="integrated luminosity (pb^-1): MC datasets with 'xsec' (pb) "
                        "in their fileset metadata are scaled by xsec x lumi / sum genWeight")
    parser.add_argument("--corrections", type=Path, default=None, metavar="FILE",
                        help="correctionlib scale/smearing file (calocoffea corrections): "
                        "scale data, smear MC (deterministic) before the masses")
    parser.add_argument("--correction-syst", choices=("nominal", "up", "down"),
                        default="nominal", help="variation of --corrections")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--release-memory",
        action="store_true",
        help="give freed memory back to the system after each chunk (glibc default); by "
        "default workers keep it for the next chunk (calocoffea.execution.memory)",
    )
    _FLAG_DEFAULTS.clear()
    # argparse has no public list of a parser's actions
    for action in parser._actions:
        if action.dest in ("help", "config", "fileset"):  # fileset: given when not None
            continue
        _FLAG_DEFAULTS[action.dest] = action.default
        action.default = argparse.SUPPRESS


def _terminate(signum, frame):  # SIGTERM -> SystemExit: cleanup and the metrics status run
    raise SystemExit(128 + signum)


def fill_defaults(args: argparse.Namespace) -> set[str]:
    """Give the flags that were not on the command line their defaults; returns the
    destinations of those that were (they override the --config file)."""
    given = {dest for dest in _FLAG_DEFAULTS if hasattr(args, dest)}
    if getattr(args, "fileset", None) is not None:
        given.add("fileset")
    for dest, default in _FLAG_DEFAULTS.items():
        if dest not in given:
            setattr(args, dest, default)
    return given


def _flag_options(args: argparse.Namespace) -> runner.RunOptions:
    """RunOptions of the flags (defaults where not given)."""
    condor = {}
    for key, value in args.condor_option:
        condor[key] = int(value) if value.isdigit() else value
    return runner.RunOptions(
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


def merge_options(config_options: runner.RunOptions, flags: runner.RunOptions,
                  given: set[str]) -> runner.RunOptions:
    """The options of the configuration file with every field whose flag was ``given``
    (flag destinations) taken from ``flags``."""
    batch = dataclasses.replace(config_options.batch, **{
        f: getattr(flags.batch, f) for f, dest in BATCH_OPTION_FLAGS.items() if dest in given})
    return dataclasses.replace(config_options, batch=batch, **{
        f: getattr(flags, f) for f, dest in RUN_OPTION_FLAGS.items() if dest in given})


class _Settings:
    """What to run: the flags given, over the --config file, over the defaults."""

    def __init__(self, args: argparse.Namespace) -> None:
        from calocoffea.config import ConfigError, build_dataclass, load_config

        given = fill_defaults(args)
        cfg = load_config(args.config) if args.config is not None else None
        where = f"{args.config}: " if cfg is not None else ""
        self.processor = args.processor if "processor" in given else (
            cfg.processor if cfg else None)
        if self.processor is None:
            raise ConfigError("no processor: pass --processor or set run.processor in --config")
        self.out = args.out if "out" in given else (cfg.path("out") if cfg else None)
        if self.out is None:
            raise ConfigError("no output: pass --out or set run.out in --config")
        self.metrics = args.metrics if "metrics" in given else (
            cfg.path("metrics") if cfg else None)
        self.model = args.model if "model" in given else (cfg.path("model") if cfg else None)
        self.bdt_models = cfg.path("bdt_models") if cfg else None
        self.weights = args.weights if "weights" in given else (cfg.weights if cfg else "sign")
        from processors.base import WEIGHT_MODES

        if self.weights not in WEIGHT_MODES:
            raise ConfigError(f"{where}run.weights: {self.weights!r} is not allowed; choose "
                              f"from {list(WEIGHT_MODES)}")
        if "calibrations" in given:
            self.calibrations = (tuple(c.strip() for c in args.calibrations.split(","))
                                 if args.calibrations else None)
        else:
            self.calibrations = tuple(cfg.calibrations) if cfg and cfg.calibrations else None
        self.selection = None
        if cfg is not None and cfg.selection:
            cls = PROCESSORS[self.processor].selection_class
            try:
                self.selection = build_dataclass(cls, cfg.selection, "selection")
            except ConfigError as err:
                raise ConfigError(f"{where}{err} ({cls.__name__} of {self.processor})") from err
        flags = _flag_options(args)
        self.options = merge_options(cfg.options, flags, given) if cfg else flags
        #: the fileset: a JSON path, or the [fileset] table of the configuration
        self.fileset_path = args.fileset if "fileset" in given else (
            cfg.path("fileset") if cfg else None)
        self.inline_fileset = (cfg.fileset if cfg and isinstance(cfg.fileset, dict)
                               and "fileset" not in given else None)
        if self.fileset_path is None and self.inline_fileset is None:
            raise ConfigError("no fileset: pass FILESET or set run.fileset / [fileset] in "
                              "--config")
        self.base_dir = cfg.base_dir if cfg else Path()
        # what _mark_failed and the output checks read
        args.fileset, args.out, args.metrics, args.model = (
            self.fileset_path, self.out, self.metrics, self.model)

    def load_fileset(self) -> dict:
        from calocoffea.fileset import (
            FilesetError,
            check_remote_support,
            fileset_files,
            load_fileset,
            normalize_fileset,
        )

        check = not self.options.skip_bad_files
        shared = self.options.allow_shared_files
        if self.inline_fileset is not None:
            try:
                fileset = normalize_fileset(self.inline_fileset, base_dir=self.base_dir,
                                            check_files=check, allow_shared_files=shared)
                check_remote_support(fileset_files(fileset))
                return fileset
            except FilesetError as err:
                raise FilesetError(f"[fileset] of the configuration: {err}") from err
        return load_fileset(self.fileset_path, check_files=check, allow_shared_files=shared)


def run(args: argparse.Namespace) -> int:
    from calocoffea.cnn.inference import ModelError
    from calocoffea.config import ConfigError
    from calocoffea.execution.outputs import OutputPathError
    from calocoffea.fileset import FilesetError

    def fail(err: BaseException) -> int:
        print(f"calocoffea run: {err}", file=sys.stderr)
        return 2

    def fail_early(err: BaseException) -> int:
        # the run never started: a previous result must not look like this run's
        _mark_failed(args, err)
        return fail(err)

    try:
        settings = _Settings(args)
    except ConfigError as err:  # nothing is known to be this run's output yet
        return fail(err)
    try:
        fileset = settings.load_fileset()
    except FilesetError as err:
        return fail_early(err)
    try:
        proc = make_processor(
            settings.processor, selection=settings.selection,
            calibrations=settings.calibrations, model_path=settings.model,
            weights=settings.weights, bdt_models=settings.bdt_models,
            precision=args.precision, sigma_models=args.sigma_models,
            pileup=args.pileup, lumi=args.lumi, corrections=args.corrections,
            correction_syst=args.correction_syst,
        )
        options = settings.options
        options.check()
    except (ValueError, FileNotFoundError, KeyError, ModelError) as err:
        return fail_early(err)
    inputs = [p for p in (args.fileset, args.config, args.model, args.pileup,
                          args.corrections) if p is not None]
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

    inputs = {outputs.real(p) for p in (args.fileset, args.config, args.model)
              if p is not None}
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
    kind = metrics.get("kind")
    kind = ",".join(kind) if isinstance(kind, list) else kind
    eps = metrics.get("events_per_s") or 0.0
    parts = [
        f"{metrics['processor']} ({kind}, mode {mode}, calibrations {calibs}):",
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
    datasets = metrics.get("datasets") or {}
    if len(datasets) > 1:
        parts[-1] += "; datasets " + ", ".join(
            f"{name} ({d.get('kind')}, {d['events']} events, {d['selected_events']} selected)"
            for name, d in datasets.items())
    return " ".join(parts)
