"""Determinism (issue 9): the same inputs give bit-identical outputs whatever the executor,
the number of workers and the chunk size, including the CNN calibration.

Already covered elsewhere (not repeated here): standard calibration across iterative,
futures and dask executors and 1k/10k chunks in
tests/test_runner.py::test_identical_histograms_across_executors_and_chunk_sizes, and image
sums across executors in tests/test_schema.py::test_runner_iterative_futures_dask_agree.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from test_processors import load_events

from calocoffea import energies as calib
from calocoffea.cnn.inference import load_model
from calocoffea.cnn.training.dataset import synthetic_sample
from calocoffea.execution import runner
from calocoffea.execution.outputs import single_dataset
from calocoffea.fileset import normalize_fileset
from calocoffea.histograms import HISTOGRAM_KEYS
from processors import make_processor

N_EVENTS = 500


@pytest.fixture(scope="module")
def sim_file(tmp_path_factory) -> Path:
    from calocoffea.sim.generate import generate_file

    path = tmp_path_factory.mktemp("det") / "zee.root"
    generate_file(path, "zee", kind="mc", n_events=N_EVENTS, seed=515)
    return path


def test_cnn_output_independent_of_batch_composition(deepcalo_tiny_model):
    """An object's CNN ratio is bit-identical whatever batch it is evaluated in (onnxruntime
    rounds ragged batches differently; calocoffea.cnn.inference pads them)."""
    model = load_model(deepcalo_tiny_model)
    s = synthetic_sample(700, seed=12)
    feed = {"images": s.images.astype(np.float32), "scalars": s.scalars, "tracks": s.tracks}
    full = model.predict(feed)["ratio"]
    for batch_size in (1, 7, 64, 333):
        assert np.array_equal(model.predict(feed, batch_size=batch_size)["ratio"], full)
    rng = np.random.default_rng(1)
    for _ in range(5):
        a = int(rng.integers(0, 650))
        b = int(rng.integers(a + 1, 701))
        part = model.predict({k: v[a:b] for k, v in feed.items()})["ratio"]
        assert np.array_equal(part, full[a:b]), (a, b)


def test_cnn_energies_independent_of_chunking(sim_file, deepcalo_tiny_model):
    """Per-object CNN energies of a file read as one chunk or as 7 uneven chunks."""
    def energies(start: int, stop: int) -> np.ndarray:
        ev = load_events(sim_file, entry_start=start, entry_stop=stop)
        std = calib.standard_energy(ev.Electron)
        return calib.cnn_energy(ev.Electron, ev, "electron", std,
                                model_path=deepcalo_tiny_model)[0]

    whole = energies(0, N_EVENTS)
    edges = [0, 1, 38, 97, 180, 301, 444, N_EVENTS]
    parts = np.concatenate([energies(a, b) for a, b in itertools.pairwise(edges)])
    assert whole.size > 500
    assert np.array_equal(parts, whole)


@pytest.mark.slow
def test_cnn_histograms_identical_across_executors_workers_and_chunks(
    sim_file, deepcalo_tiny_model
):
    """With the CNN: one iterative chunk vs 97-event chunks vs a 2-worker dask LocalCluster
    (the futures pool with 2 workers is in test_runner for the standard calibration)."""
    def run(**opts):
        fileset = normalize_fileset({"zee": [str(sim_file)]})
        proc = make_processor("zee", model_path=deepcalo_tiny_model)
        out, metrics = runner.run(proc, fileset, runner.RunOptions(progress=False, **opts))
        return single_dataset(out), metrics

    ref, _ = run(executor="iterative", chunksize=N_EVENTS)
    assert ref["meta"]["calibrations"] == ["bdt", "bdt_shapes", "cnn", "truth"]
    assert ref["cutflow"]["selected"] > 100
    runs = {
        "iterative, 97-event chunks": run(executor="iterative", chunksize=97),
        "dask, 2 workers, 120": run(executor="dask", workers=2, chunksize=120),
    }
    for name, (out, metrics) in runs.items():
        assert metrics["events"] == N_EVENTS, name
        assert out["cutflow"] == ref["cutflow"], name
        assert out["meta"] == ref["meta"], name
        for key in HISTOGRAM_KEYS:
            assert out[key].axes == ref[key].axes
            assert np.array_equal(out[key].view(flow=True), ref[key].view(flow=True)), (name, key)
    cnn = ref["mass"][{"calibration": "cnn"}].sum(flow=True)
    assert cnn.variance == ref["cutflow"]["selected"]
    assert ref["response"][{"calibration": "cnn"}].sum(flow=True).variance > 100
