"""Run a calocoffea processor over a fileset with coffea's ``processor.Runner``.

Executors (``RunOptions.executor``):

- ``iterative``: one process, chunk after chunk (debugging, reference results);
- ``futures``: a local process pool of ``workers`` processes (loky);
- ``dask``: a ``distributed`` client, on a cluster chosen by ``RunOptions.cluster``
  (:mod:`calocoffea.execution.clusters`: local, cuda, or batch jobs on slurm or condor
  configured by ``RunOptions.batch``, docs/batch.md) or an existing scheduler.

Unless ``RunOptions.retain_memory`` is False, the processes that run chunks keep freed memory
for the next chunk (:mod:`calocoffea.execution.memory`), set up where each executor starts
them.

Before processing, :func:`check_files` opens every local file once: an unreadable file is an
error naming it (or, with ``skip_bad_files``, skipped and listed in ``metrics["skipped_files"]``
with ``metrics["skipped_reasons"]``), a branch the processor needs
(``processor.required_branches()``) missing from a file is always an error naming both.
Events of chunks lost inside readable files (``skip_bad_files``) are counted per file in
``metrics["incomplete_files"]``. The entries and UUID read there seed coffea's
``metadata_cache``, so coffea plans its chunks without opening the local files again.

Histograms are merged by coffea's ``accumulate``. The processors fill with exactly
representable weights, so the output is bit-identical whatever the executor, the number of
workers or the chunk size. :func:`run` returns the output, keyed by dataset
(``{dataset: {"response", "mass", "cutflow", "meta"}}``, each ``meta`` with the dataset's
``kind`` and its fileset ``metadata``), and a metrics dict (events, objects, wall time,
events/s, executor, workers, model and execution provider; per dataset in
``metrics["datasets"]``). A dataset whose fileset metadata says ``kind: mc`` (or ``data``)
but whose files are not is refused (:class:`DatasetKindError`).

Every fileset is first resolved to real paths (:func:`calocoffea.fileset.resolve_fileset`):
a file reached through several names is read once, a file in two datasets is an error unless
``RunOptions.allow_shared_files``. A chunk whose columns are inconsistent
(:class:`calocoffea.validation.InputDataError`) or a model whose outputs are not what its
card says (:class:`calocoffea.cnn.inference.ModelError`) stops the run with a
:class:`BadInputError` carrying that message (file, branch, entry, value).

:func:`run_to_files` is :func:`run` plus the output files (:mod:`calocoffea.execution.outputs`):
outputs that would overwrite an input or each other are refused, a previous output is removed
first, the metrics say ``"status": "running"`` while the run goes on and ``"complete"`` or
``"failed"`` (with the error) at the end; the output is written atomically.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from calocoffea.execution.clusters import BATCH_CLUSTERS, CLUSTERS, BatchOptions, dask_client

log = logging.getLogger(__name__)

EXECUTORS: tuple[str, ...] = ("iterative", "futures", "dask")
#: Options of the ``uproot.open`` call coffea makes per chunk. No array cache: NanoEvents
#: keeps what a chunk reads; uproot's default 100 MB per-file cache held the chunk's arrays
#: beyond the chunk, inside the reference cycle of the file's TTree models, so they were
#: freed only by the next full garbage collection.
UPROOT_OPTIONS: dict[str, Any] = {"array_cache": None}


@dataclass
class RunOptions:
    """How to run (see the module docstring); ``chunksize`` is in events."""

    executor: str = "futures"
    workers: int = 1
    chunksize: int = 100_000
    cluster: str = "local"
    scheduler: str | None = None
    skip_bad_files: bool = False
    progress: bool = True
    maxchunks: int | None = None
    #: Extra ``HTCondorCluster`` keywords (older spelling of ``batch.extra`` for condor).
    condor: dict[str, Any] = field(default_factory=dict)
    #: Site options of the batch jobs of ``cluster="slurm"|"condor"``.
    batch: BatchOptions = field(default_factory=BatchOptions)
    #: Seconds to wait for an existing ``scheduler`` before failing.
    scheduler_timeout: float = 10.0
    #: Workers keep freed memory for the next chunk (:mod:`calocoffea.execution.memory`).
    retain_memory: bool = True
    #: A file may be in several datasets (its events are then counted once per dataset).
    allow_shared_files: bool = False

    def check(self) -> None:
        """Raise ValueError for inconsistent options."""
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {EXECUTORS}, got {self.executor!r}")
        if self.cluster not in CLUSTERS:
            raise ValueError(f"cluster must be one of {CLUSTERS}, got {self.cluster!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.chunksize < 1:
            raise ValueError(f"chunksize must be >= 1, got {self.chunksize}")
        if self.executor != "dask" and (self.scheduler or self.cluster != "local"):
            raise ValueError("--cluster/--scheduler only apply to --executor dask")
        if self.scheduler_timeout <= 0:
            raise ValueError(f"scheduler_timeout must be > 0 s, got {self.scheduler_timeout}")
        if self.cluster in BATCH_CLUSTERS:
            self.batch.check()
            batch = self.batch
            jobs = batch.adapt[1] if batch.adapt is not None else self.workers
            if batch.wait_workers > jobs * batch.processes:
                raise ValueError(
                    f"wait_workers {batch.wait_workers} is more than the "
                    f"{jobs * batch.processes} dask workers of {jobs} job(s) of "
                    f"{batch.processes} process(es)"
                )


def uproot_options(fileset: Mapping[str, Any]) -> dict[str, Any]:
    """The ``uproot.open`` options coffea gets for the chunks of ``fileset``:
    :data:`UPROOT_OPTIONS`, plus uproot's ``MemmapSource`` when every file is local. Mapped
    files are read straight from the page cache; the default fsspec source copies every
    basket through read() calls and a thread (0.1-0.2 s of CPU per 100k Z→ee events, 2-3 %
    of the processor, session-3 measurement)."""
    import uproot

    from calocoffea.fileset import fileset_files, is_remote

    options = dict(UPROOT_OPTIONS)
    if not any(is_remote(path) for path in fileset_files(fileset)):
        options["handler"] = uproot.source.file.MemmapSource
    return options


class BadInputError(RuntimeError):
    """An input file is not readable ROOT, lacks its tree or a required branch, has a branch
    of the wrong type or inconsistent contents, or the model does not fit the card."""


def _input_error(err: BaseException) -> BaseException | None:
    """The :class:`~calocoffea.validation.InputDataError` or
    :class:`~calocoffea.cnn.inference.ModelError` behind an exception coffea raised for a
    chunk (``Failed processing file: ...``), or None. Through a dask scheduler the chain is
    lost, so the exception's message is searched as well."""
    from calocoffea.validation import InputDataError

    seen = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, InputDataError) or type(e).__name__ == "ModelError":
            return e
        e = e.__cause__ or e.__context__
    text = str(err)
    if "InputDataError(" in text or "ModelError(" in text:
        return err
    return None


def check_files(
    fileset: Mapping[str, Any],
    required: Sequence[Sequence[str]] = (),
    skip_bad_files: bool = False,
    uuids: dict[str, bytes] | None = None,
    conditional: Any = None,
) -> tuple[dict[str, Any], dict[str, str], dict[str, int]]:
    """Open every local file of a normalised ``fileset`` once (metadata only) before a run.

    ``required`` lists branches, each as a tuple of alternatives. An unreadable file (not
    ROOT, truncated, no tree) raises :class:`BadInputError` naming it, or with
    ``skip_bad_files`` is left out; a missing branch always raises (naming branch and file):
    it means a wrong input, not a damaged one. Remote files are left to coffea.
    Returns (fileset of the readable files, {skipped path: reason}, {path: entries}); a dict
    passed as ``uuids`` receives each readable file's ROOT UUID (for coffea's metadata cache).
    ``conditional(keys)`` (e.g. ``processor.missing_branches``) returns further missing
    branches that depend on what the file has (the cell branches of the CNN). Branch types
    are checked against :data:`calocoffea.validation.BRANCH_KINDS`.
    """
    import uproot

    from calocoffea.fileset import is_remote
    from calocoffea.validation import BRANCH_KINDS, branch_dtype, check_branch_types

    kept: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    entries: dict[str, int] = {}
    for dataset, entry in fileset.items():
        files: dict[str, str] = {}
        for path, tree in entry["files"].items():
            if is_remote(path):
                files[path] = tree
                continue
            try:
                with uproot.open(path) as f:
                    size = os.path.getsize(path)
                    if size < f.file.fEND:  # the header says where the file ends
                        raise OSError(f"truncated: {size} of {f.file.fEND} bytes")
                    ttree = f[tree]
                    n = int(ttree.num_entries)
                    keys = set(ttree.keys())
                    uuid = f.file.fUUID
                    types = {k: branch_dtype(ttree[k]) for k in keys if k in BRANCH_KINDS}
            except Exception as err:  # uproot raises OSError, ValueError, KeyError, ...
                reason = f"{path}: cannot read tree {tree!r}: {type(err).__name__}: {err}"
                if not skip_bad_files:
                    raise BadInputError(reason) from err
                skipped[path] = reason
                continue
            want = (entry.get("entries") or {}).get(path)
            if want is not None and want != n:
                raise BadInputError(
                    f"{path}: tree {tree!r} has {n} entries but the fileset (its steps / "
                    f"num_entries) covers {want}; calocoffea processes whole files")
            missing = [" or ".join(alt) for alt in required if not any(b in keys for b in alt)]
            if conditional is not None:
                missing += [m for m in conditional(keys) if m not in missing]
            if missing:
                raise BadInputError(
                    f"{path}: required branch(es) {', '.join(missing)} missing from tree {tree!r}"
                )
            wrong = check_branch_types(types)
            if wrong:
                raise BadInputError(f"{path}: tree {tree!r}: {'; '.join(wrong)}")
            entries[path] = n
            if uuids is not None:
                uuids[path] = uuid
            files[path] = tree
        if files:
            kept[dataset] = {**entry, "files": files}
    if not kept:
        raise BadInputError(f"no readable input file; skipped: {sorted(skipped)}")
    return kept, skipped, entries


class _UnreadableDataMeta(type):
    def __instancecheck__(cls, exc: object) -> bool:
        import zlib

        from uproot.deserialization import DeserializationError

        if isinstance(exc, OSError | DeserializationError | zlib.error):
            return True
        # uproot's decompression errors are ValueErrors that name the file; a ValueError
        # from the processor itself must still stop the run
        return isinstance(exc, ValueError) and "\nin file " in str(exc)


class UnreadableData(Exception, metaclass=_UnreadableDataMeta):
    """Matches (``isinstance``) the errors of damaged file contents: I/O errors, uproot
    deserialisation and decompression errors. Given to coffea as ``skipbadfiles``."""


def _skippable() -> tuple[type[BaseException], ...]:
    # coffea's default (OSError) misses damaged baskets
    return (UnreadableData,)


def _metadata_cache(
    fileset: Mapping[str, Any], entries: Mapping[str, int], uuids: Mapping[str, bytes]
) -> dict:
    """coffea's per-file metadata (entries, UUID, dataset metadata) from :func:`check_files`,
    so coffea does not open every file a second time to plan its chunks (remote files,
    which check_files leaves alone, are still fetched by coffea)."""
    from coffea.processor.executor import FileMeta

    cache: dict = {}
    for dataset, entry in fileset.items():
        user = dict(entry.get("metadata") or {})
        for path, tree in entry["files"].items():
            if path in entries and path in uuids:
                meta = {**user, "numentries": entries[path], "uuid": uuids[path]}
                cache[FileMeta(dataset, path, tree, meta)] = meta
    return cache


@contextlib.contextmanager
def _coffea_console(progress: bool):
    """coffea's rich console muted unless ``progress``: its iterative and futures executors
    draw their bars whatever ``status`` says (the flag reaches rich as an unused task field)."""
    from coffea.util import coffea_console

    saved = coffea_console.quiet
    coffea_console.quiet = saved or not progress
    try:
        yield
    finally:
        coffea_console.quiet = saved


def _executor(options: RunOptions, client: Any = None):
    """coffea's executor for ``options``; the worker processes it starts keep freed memory
    unless ``options.retain_memory`` is False (the dask workers get it from
    :func:`calocoffea.execution.clusters.dask_client`)."""
    from coffea import processor

    from calocoffea.execution import memory

    if options.executor == "iterative":
        if options.retain_memory:
            memory.retain_freed_memory()  # the chunks run in this process
        return processor.IterativeExecutor(status=options.progress)
    if options.executor == "futures":
        extra = {"pool": memory.retaining_process_pool} if options.retain_memory else {}
        return processor.FuturesExecutor(
            workers=options.workers, status=options.progress, **extra
        )
    return processor.DaskExecutor(client=client, status=options.progress)


def run(
    processor_instance: Any, fileset: Mapping[str, Any], options: RunOptions | None = None
) -> tuple[dict, dict[str, Any]]:
    """Run ``processor_instance`` over a normalised ``fileset``
    (:func:`calocoffea.fileset.normalize_fileset`).

    Returns (output, metrics). Files that could not be read (only possible with
    ``skip_bad_files``) are listed in ``metrics["skipped_files"]`` and logged.
    """
    from coffea import processor

    from calocoffea.fileset import check_remote_support, fileset_files, resolve_fileset
    from calocoffea.schema import CaloNanoAODSchema

    options = options or RunOptions()
    options.check()
    fileset = resolve_fileset(fileset, options.allow_shared_files)
    check_remote_support(fileset_files(fileset))
    required = getattr(processor_instance, "required_branches", lambda: [])()
    uuids: dict[str, bytes] = {}
    fileset, bad_files, entries = check_files(
        fileset, required, options.skip_bad_files, uuids=uuids,
        conditional=getattr(processor_instance, "missing_branches", None),
    )
    for reason in bad_files.values():
        log.warning("skipping unreadable file %s", reason)
    info: dict[str, Any] = {"cluster": None}
    with contextlib.ExitStack() as stack:
        t_setup = time.perf_counter()
        client = None
        if options.executor == "dask":
            client = stack.enter_context(dask_client(options, info))
        setup_s = time.perf_counter() - t_setup
        runner = processor.Runner(
            executor=_executor(options, client),
            schema=CaloNanoAODSchema,
            chunksize=options.chunksize,
            maxchunks=options.maxchunks,
            skipbadfiles=_skippable() if options.skip_bad_files else False,
            metadata_cache=_metadata_cache(fileset, entries, uuids),
        )
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            # coffea warns per retry; the summary below names every skipped file
            warnings.filterwarnings("ignore", message="Skipping bad file")
            stack.enter_context(_coffea_console(options.progress))
            try:
                # coffea's own dataset keys only ("entries" was checked above)
                plain = {d: {k: v for k, v in e.items() if k != "entries"}
                         for d, e in fileset.items()}
                wrapped = runner.run(plain, processor_instance,
                                     uproot_options=uproot_options(fileset))
            except Exception as err:
                cause = _input_error(err)
                if cause is None:
                    raise
                raise BadInputError(str(cause)) from err
        wall = time.perf_counter() - t0
    output = wrapped["out"]
    # per (dataset, file): with allow_shared_files one file is processed once per dataset
    done_in: dict[tuple[str, str], int] = {}
    for item in wrapped.get("processed", ()):
        key = (item.dataset, item.filename)
        done_in[key] = done_in.get(key, 0) + item.entrystop - item.entrystart
    done: dict[str, int] = {}
    for (_, f), n in done_in.items():
        done[f] = done.get(f, 0) + n
    processed = set(done)
    skipped = list(bad_files) + [f for f in fileset_files(fileset) if f not in processed]
    for f in skipped:
        bad_files.setdefault(f, f"{f}: no chunk could be read (coffea skipbadfiles)")
    # chunks coffea skipped inside a readable file (skip_bad_files): never a silent loss
    incomplete: dict[str, int] = {}
    if options.maxchunks is None:
        for (_, f), n in done_in.items():
            if f in entries and n < entries[f]:
                incomplete[f] = incomplete.get(f, 0) + entries[f] - n
    if incomplete:
        log.warning("events missing from partly unreadable files: %s", incomplete)
    if skipped:
        log.warning("%d file(s) skipped (unreadable): %s", len(skipped), ", ".join(skipped))
    output = _attach_dataset_metadata(output, fileset)
    per_dataset = {name: {**_counts(ds), "files": sorted({f for (d, f) in done_in if d == name})}
                   for name, ds in output.items()}
    empty = sorted(set(fileset) - set(output))
    if empty:
        log.warning("dataset(s) %s gave no output (no events processed)", empty)
    metas = [ds.get("meta", {}) for ds in output.values()]
    workers = 1 if options.executor == "iterative" else options.workers
    totals = {key: sum(d[key] for d in per_dataset.values())
              for key in ("events", "selected_events", "objects", "fallback_objects")}

    def merged(key: str) -> Any:
        values: list = []
        for m in metas:
            v = m.get(key)
            for x in v if isinstance(v, list) else [v]:
                if x is not None and x not in values:
                    values.append(x)
        values = sorted(values, key=str)
        return values[0] if len(values) == 1 and key != "calibrations" else values or None

    events = totals["events"]
    metrics: dict[str, Any] = {
        "processor": merged("channel"),
        "kind": merged("kind"),
        "mode": merged("mode"),
        "calibrations": merged("calibrations"),
        "datasets": per_dataset,
        "empty_datasets": empty,
        "executor": options.executor,
        "workers": workers,
        **info,
        "chunksize": options.chunksize,
        "files": len(processed),
        "dataset_files": len(done_in),
        "skipped_files": skipped,
        "skipped_reasons": bad_files,
        "incomplete_files": incomplete,
        **totals,
        "fallback_reasons": _sum_counts(d["fallback_reasons"] for d in per_dataset.values()),
        "rejected_objects": _sum_counts(d["rejected_objects"] for d in per_dataset.values()),
        "cnn_dropped": merged("cnn_dropped"),
        "wall_time_s": wall,
        "setup_time_s": setup_s,
        "events_per_s": events / wall if wall > 0 else None,
        "events_per_s_per_worker": events / wall / workers if wall > 0 else None,
        "model": merged("model"),
        "model_sha256": merged("model_sha256"),
        "provider": merged("provider"),
        "pid": os.getpid(),
        "options": asdict(options),
    }
    return output, metrics


class DatasetKindError(BadInputError):
    """A dataset's files are not of the kind (``mc``/``data``) its fileset metadata says."""


def _counts(output: Mapping[str, Any]) -> dict[str, Any]:
    """Counts of one dataset's output (from its cutflow) and its kind."""
    cutflow = output.get("cutflow", {})
    return {
        "kind": output.get("meta", {}).get("kind"),
        "events": int(cutflow.get("events", 0)),
        "selected_events": int(cutflow.get("selected", 0)),
        "objects": int(cutflow.get("objects", 0)),
        "fallback_objects": int(cutflow.get("fallback", 0)),
        "fallback_reasons": {k.split(": ", 1)[1]: int(v) for k, v in cutflow.items()
                             if k.startswith("fallback: ")},
        "rejected_objects": {k.split(": ", 1)[1]: int(v) for k, v in cutflow.items()
                             if k.startswith("rejected: ")},
    }


def _sum_counts(dicts: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def _attach_dataset_metadata(output: Mapping[str, Any], fileset: Mapping[str, Any]
                             ) -> dict[str, dict]:
    """The runner's output keyed by dataset, each dataset's fileset ``metadata`` copied into
    its ``meta["metadata"]``; a dataset whose metadata ``kind`` (``mc``/``data``) is not what
    its files are (MC files have GenPart) raises :class:`DatasetKindError`."""
    from calocoffea.execution.outputs import dataset_outputs

    datasets = dataset_outputs(output, "processor output")
    for name, ds in datasets.items():
        user = dict((fileset.get(name) or {}).get("metadata") or {})
        meta = ds.setdefault("meta", {})
        declared = user.get("kind")
        if declared is not None and declared != meta.get("kind"):
            raise DatasetKindError(
                f"dataset {name!r}: fileset metadata says kind {declared!r} but its files are "
                f"{meta.get('kind')!r} (MC files have a GenPart collection)")
        meta["metadata"] = user
    return datasets


def save_output(output: dict, path: str | Path) -> Path:
    """Save a processor output atomically (:func:`calocoffea.execution.outputs.save_output`:
    the format follows the name, ``.hist.zip`` by default; read it back with
    :func:`calocoffea.execution.outputs.load_output`)."""
    from calocoffea.execution.outputs import save_output as save

    return save(output, path)


def write_metrics(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Write the metrics dict as JSON (atomically)."""
    from calocoffea.execution.outputs import write_metrics as write

    return write(metrics, path)


def run_to_files(
    processor_instance: Any,
    fileset: Mapping[str, Any],
    options: RunOptions | None,
    out: str | Path,
    metrics_path: str | Path | None = None,
    *,
    inputs: Sequence[str | Path] = (),
) -> tuple[dict, dict[str, Any]]:
    """:func:`run`, then save the output to ``out`` and the metrics to ``metrics_path``.

    Refuses (:class:`~calocoffea.execution.outputs.OutputPathError`, before anything is
    written) an output path that is an input file, one of ``inputs`` (fileset JSON, model,
    ...) or the other output. A previous ``out`` is removed first; the metrics file says
    ``"status": "running"`` during the run, then ``"complete"`` with the metrics, or
    ``"failed"`` / ``"interrupted"`` with the error (and no output file) when the run or the
    save raised, which is re-raised.
    """
    from calocoffea.execution import outputs
    from calocoffea.fileset import fileset_files, resolve_fileset

    options = options or RunOptions()
    fileset = resolve_fileset(fileset, options.allow_shared_files)
    outputs.check_output_paths({"output": out, "metrics": metrics_path},
                               [*fileset_files(fileset), *inputs])
    outputs.output_format(out)
    if outputs.remove_output(out):
        log.info("removed the previous output %s", out)
    status: dict[str, Any] = {"status": "running", "output": str(out), "pid": os.getpid(),
                              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if metrics_path is not None:
        write_metrics(status, metrics_path)
    try:
        output, metrics = run(processor_instance, fileset, options)
        outputs.save_output(output, out)
    except BaseException as err:
        if metrics_path is not None:
            failed = "failed" if isinstance(err, Exception) else "interrupted"
            write_metrics({**status, "status": failed,
                           "error": f"{type(err).__name__}: {err}"}, metrics_path)
        raise
    metrics = {**metrics, "status": "complete", "output": str(out)}
    if metrics_path is not None:
        write_metrics(metrics, metrics_path)
    return output, metrics
