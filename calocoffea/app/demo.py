"""The end-to-end demo: generate samples, run the three processors on a local dask cluster with
the shipped models, fit, and write ``summary.json``, ``summary.md`` and the plots.

Layout of the output directory ``DIR``::

    DIR/outputs/<channel>.hist.zip          processor outputs (calocoffea.execution.outputs),
                                            one per channel, keyed by dataset <channel>_<kind>
    DIR/outputs/<channel>.metrics.json      (per dataset under "datasets")
    DIR/results/<channel>_<kind>.json       `calocoffea fit` results per dataset
                                            (docs/fit_results.md)
    DIR/outputs/zee_data_cnn_ensemble.*     the data-like Z→ee sample with the ensemble CNN
    DIR/results/zee_data_cnn_ensemble.json  (dataset zee_data_cnn_ensemble)
    DIR/data_mc.json                        MC vs data-like classifier (`validate data-mc`)
    DIR/plots/*.png, *.pdf                  figures (redrawn by `calocoffea plot DIR`)
    DIR/summary.json, DIR/summary.md

Samples are cached in ``<data dir>/demo`` (``CALOCOFFEA_DATA``): a file is regenerated only if
its ``.demo.json`` sidecar does not match the requested process, kind, size, seed, code
version and standard-calibration models.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from calocoffea import __version__
from calocoffea.resources import data_dir, models_dir
from processors import make_processor

log = logging.getLogger(__name__)

#: File ending of the processor outputs (uhi serialisation in a zip, no code on loading).
OUTPUT_SUFFIX = ".hist.zip"


@dataclass(frozen=True)
class DemoSample:
    """One generated sample: ``process`` (= processor channel), ``kind`` mc|data, size, seed."""

    process: str
    kind: str
    events: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.process}_{self.kind}"


#: The data-like Z→ee sample is run a second time with this CNN, trained on MC and data-like
#: events together (thesis eq. 5.9, docs/model.md), to compare the MC-trained and ensemble CNNs
#: on the same events; the output is named :data:`ENSEMBLE_RUN`.
ENSEMBLE_MODEL = "deepcalo_electron_ensemble.onnx"
ENSEMBLE_RUN = "zee_data_cnn_ensemble"


#: Default samples: seeds 9001+ are reserved for the demo (never used in training).
DEFAULT_SAMPLES: tuple[DemoSample, ...] = (
    DemoSample("zee", "mc", 30_000, 9001),
    DemoSample("zee", "data", 30_000, 9002),
    DemoSample("zmumugamma", "mc", 30_000, 9003),
    DemoSample("zmumugamma", "data", 30_000, 9004),
    DemoSample("hgamgam", "mc", 20_000, 9005),
)


@dataclass
class DemoConfig:
    """Everything the demo needs; ``scale`` multiplies every sample size (tests use ~0.05)."""

    out: Path
    samples: tuple[DemoSample, ...] = DEFAULT_SAMPLES
    scale: float = 1.0
    workers: int = 2
    chunksize: int = 10_000
    cache: Path | None = None
    plots: bool = True
    #: also run the data-like Z→ee sample with the ensemble CNN and classify MC vs data-like
    data_vs_mc: bool = True
    timings: dict[str, float] = field(default_factory=dict)

    def scaled(self) -> tuple[DemoSample, ...]:
        return tuple(
            DemoSample(s.process, s.kind, max(200, round(s.events * self.scale)), s.seed)
            for s in self.samples
        )


def _models_fingerprint() -> str:
    """sha256 over the shipped standard-calibration and CNN model files (cache key part)."""
    digest = hashlib.sha256()
    for path in sorted(models_dir().glob("*.onnx")):
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _generate_one(sample: DemoSample, path: str) -> dict[str, Any]:
    """Worker-process body: load the BDT here (its models are cached per process)."""
    from calocoffea.bdt.standard import load_standard_calibration
    from calocoffea.sim import generate_file

    energy_fn = load_standard_calibration().energy
    return generate_file(
        path, sample.process, kind=sample.kind, n_events=sample.events, seed=sample.seed,
        energy_fn=energy_fn,
    )


def generate_samples(samples: Sequence[DemoSample], cache: Path, workers: int) -> dict[str, Path]:
    """Generate (or reuse from ``cache``) every sample; returns name -> ROOT file path."""
    from calocoffea.execution.outputs import write_json

    cache.mkdir(parents=True, exist_ok=True)
    fingerprint = _models_fingerprint()
    paths: dict[str, Path] = {}
    todo: list[tuple[DemoSample, Path, dict]] = []
    for sample in samples:
        path = cache / f"{sample.name}_{sample.events}_s{sample.seed}.root"
        stamp = {**asdict(sample), "version": __version__, "models": fingerprint}
        sidecar = path.with_name(path.name + ".demo.json")
        paths[sample.name] = path
        if path.exists() and sidecar.exists() and json.loads(sidecar.read_text()) == stamp:
            log.info("reusing cached %s", path)
            continue
        todo.append((sample, path, stamp))
    if todo:
        with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = {pool.submit(_generate_one, s, str(p)): (s, p, st) for s, p, st in todo}
            for fut in concurrent.futures.as_completed(futures):
                sample, path, stamp = futures[fut]
                summary = fut.result()
                write_json(stamp, path.with_name(path.name + ".demo.json"))
                log.info("generated %s: %s", sample.name, summary)
    return paths


def _runs(samples: Sequence[DemoSample], data_vs_mc: bool
          ) -> list[tuple[str, list[tuple[str, DemoSample]], dict[str, Any]]]:
    """(output name, [(dataset, sample)], processor options) of every processor run: one per
    channel with one dataset per sample, and (``data_vs_mc``) the data-like Z→ee sample with
    the ensemble CNN as dataset :data:`ENSEMBLE_RUN`."""
    groups: dict[str, list[tuple[str, DemoSample]]] = {}
    for sample in samples:
        groups.setdefault(sample.process, []).append((sample.name, sample))
    runs = [(channel, group, {}) for channel, group in groups.items()]
    zee_data = [s for s in samples if s.process == "zee" and s.kind == "data"]
    if data_vs_mc and zee_data:
        model = models_dir() / ENSEMBLE_MODEL
        if not model.is_file():
            raise FileNotFoundError(
                f"{model} not found: the demo runs the data-like Z→ee sample with the ensemble "
                "CNN (train it with `calocoffea train cnn --data-train ...`, docs/model.md)"
            )
        runs.append((ENSEMBLE_RUN, [(ENSEMBLE_RUN, zee_data[0])], {"model_path": model}))
    return runs


def run_processors(
    samples: Sequence[DemoSample], files: dict[str, Path], out_dir: Path, workers: int,
    chunksize: int, *, data_vs_mc: bool = False,
) -> dict[str, dict[str, Any]]:
    """Run each channel's processor once over a fileset with one dataset per sample
    (``zee_mc``, ``zee_data``, with their kind in the metadata) on ONE local dask cluster;
    save the per-dataset outputs and metrics (``data_vs_mc``: also the data-like Z→ee sample
    with the ensemble CNN). Returns the metrics per dataset (the run's metrics with that
    dataset's counts)."""
    from distributed import Client, LocalCluster

    from calocoffea.execution import runner

    out_dir.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, dict[str, Any]] = {}
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                     dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        for output, group, proc_options in _runs(samples, data_vs_mc):
            fileset = {name: {"files": {str(files[smp.name]): "Events"},
                              "metadata": {"kind": smp.kind}} for name, smp in group}
            options = runner.RunOptions(
                executor="dask", workers=workers, chunksize=chunksize,
                scheduler=client.scheduler.address, progress=False,
            )
            proc = make_processor(group[0][1].process, **proc_options)
            _, met = runner.run_to_files(
                proc, fileset, options, out_dir / f"{output}{OUTPUT_SUFFIX}",
                out_dir / f"{output}.metrics.json",
            )
            for name, _ in group:
                metrics[name] = {**met, **met["datasets"][name]}
                log.info("%s: %d events", name, metrics[name]["events"])
            log.info("%s: %d events in %.1f s", output, met["events"], met["wall_time_s"])
    return metrics


def fit_outputs(samples: Sequence[DemoSample], out_dir: Path, results_dir: Path,
                data_vs_mc: bool = False) -> dict[str, dict]:
    """`calocoffea fit` on every dataset of every output; results JSON per dataset."""
    from calocoffea.execution.outputs import load_output, select_datasets, write_json
    from calocoffea.fitting.categories import add_uncertainty_results
    from calocoffea.fitting.pipeline import fit_datasets

    results_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for output, group, _ in _runs(samples, data_vs_mc):
        path = out_dir / f"{output}{OUTPUT_SUFFIX}"
        loaded = load_output(path)
        names = [name for name, _ in group]
        fitted = fit_datasets(loaded, names)
        per_dataset = select_datasets(loaded, names)
        for (name, sample), res in zip(group, (fitted[n] for n in names), strict=True):
            # per-object uncertainty pulls and sigma_m/m categories (MC boundaries for data)
            add_uncertainty_results(per_dataset[name], res,
                                    mc_results=results.get(f"{sample.process}_mc"))
            res["input"] = str(path)
            write_json(res, results_dir / f"{name}.json", indent=1)
            results[name] = res
    return results


def classify_data_vs_mc(samples: Sequence[DemoSample], files: dict[str, Path], out: Path
                        ) -> dict[str, Any] | None:
    """`calocoffea validate data-mc` on the demo's Z→ee MC and data-like samples (⟨μ⟩
    reweighted, classifier AUC on held-out events); None without both samples."""
    from calocoffea.app.data_mc import DataMCConfig, compare
    from calocoffea.execution.outputs import write_json

    names = {(s.process, s.kind): s.name for s in samples}
    if ("zee", "mc") not in names or ("zee", "data") not in names:
        return None
    result = compare(DataMCConfig(mc=(str(files[names["zee", "mc"]]),),
                                  data=(str(files[names["zee", "data"]]),),
                                  out_dir=out / "plots" / "data_mc"))
    write_json(result, out / "data_mc.json", indent=1)
    return result


def run_demo(cfg: DemoConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The whole demo; returns the summary dict (also written to ``cfg.out``)."""
    from calocoffea.app.summary import make_summary, write_summary_markdown

    say = progress or (log.info)
    samples = cfg.scaled()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = cfg.cache or data_dir() / "demo"

    t0 = time.perf_counter()
    say(f"generating {len(samples)} samples (cache {cache})")
    files = generate_samples(samples, cache, cfg.workers)
    cfg.timings["generate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    say(f"running processors on a local dask cluster ({cfg.workers} workers)")
    metrics = run_processors(samples, files, out / "outputs", cfg.workers, cfg.chunksize,
                             data_vs_mc=cfg.data_vs_mc)
    cfg.timings["run"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    say("fitting mass peaks, eta-shift and per-|eta| resolution")
    results = fit_outputs(samples, out / "outputs", out / "results", data_vs_mc=cfg.data_vs_mc)
    cfg.timings["fit"] = time.perf_counter() - t0

    data_mc = None
    if cfg.data_vs_mc:
        t0 = time.perf_counter()
        say("classifying MC vs data-like Z→ee events")
        data_mc = classify_data_vs_mc(samples, files, out)
        cfg.timings["data_mc"] = time.perf_counter() - t0

    from calocoffea.execution.outputs import write_json

    summary = make_summary(samples, files, metrics, results, cfg.timings, data_mc=data_mc)
    # written before the plots: they read the injected offsets from it
    write_json(summary, out / "summary.json", indent=2)
    if cfg.plots:
        t0 = time.perf_counter()
        say("drawing plots")
        from calocoffea.app.report import draw_all

        draw_all(out)
        cfg.timings["plot"] = time.perf_counter() - t0
        summary["timings"]["plot"] = cfg.timings["plot"]
        write_json(summary, out / "summary.json", indent=2)
    write_summary_markdown(summary, out / "summary.md")
    return summary
