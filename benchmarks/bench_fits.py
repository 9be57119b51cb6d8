"""Benchmark of the full Z→ee fit set of ``calocoffea fit`` (issue 7 speed target).

Input: a toy Z→ee ``mass`` histogram (calocoffea.histograms contract, 300 bins 75-105 GeV,
15 (|η|_i, |η|_j) categories) for the bdt and cnn calibrations, each from 200k two-electron
events with per-|η| scale offsets and resolutions (calocoffea.fitting.toys).

Measured: ``calocoffea.fitting.pipeline.fit_mass`` — 15 categories × 2 calibrations + the two
inclusive fits, η-shift solve, histogram correction and the same refit — wall and process CPU
time, including building (tracing) the zfit model/loss, excluding ``import zfit`` (reported
separately). Target: < 60 s wall on the 2-core machine.

Baseline, in the same run: the naive approach that builds a new zfit model + loss per fit
(``MassFitter`` per category), timed on ``--baseline-fits`` categories and extrapolated to the
same number of fits. ``speedup`` = baseline extrapolated time / measured time.

Run: ``.venv/bin/python benchmarks/bench_fits.py``; writes ``benchmarks/results/fits.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

OFFSETS = (0.004, -0.006, 0.012, -0.010, 0.008)
RESOLUTIONS = {
    "bdt": (0.020, 0.025, 0.040, 0.030, 0.035),
    "cnn": (0.016, 0.020, 0.032, 0.024, 0.028),
}


def _toy_hist(n_events: int, seed: int):
    from calocoffea import binning
    from calocoffea.fitting import toys
    from calocoffea.histograms import book_mass

    h = book_mass("zee", len(binning.eta_pair_categories()))
    for k, (calib, res) in enumerate(RESOLUTIONS.items()):
        mass, cat, _ = toys.zee_toy_masses(n_events, OFFSETS, res, seed + k)
        h.fill(calibration=calib, etacat=cat, mu=np.full(cat.size, 30.0), mass=mass)
    return h


def run(n_events: int = 200_000, baseline_fits: int = 3, seed: int = 1) -> dict:
    """Time the full Z→ee fit set and the rebuild-per-fit baseline; returns the report."""
    t0 = time.perf_counter()
    from calocoffea.fitting import pipeline
    from calocoffea.fitting.fitter import MassFitter

    import_s = time.perf_counter() - t0
    h = _toy_hist(n_events, seed)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    out = pipeline.fit_mass(h, "zee")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    n_fits = out["timing"]["n_fits"]

    counts = pipeline.category_counts(h, "bdt")
    edges = h.axes["mass"].edges
    b0 = time.perf_counter()
    for k in range(baseline_fits):
        MassFitter(edges).fit(counts[k])
    per_fit_rebuild = (time.perf_counter() - b0) / baseline_fits

    accepted = {c: sum(f["accepted"] for f in fits) for c, fits in out["fits"].items()}
    return {
        "benchmark": "fits",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1min": os.getloadavg()[0],
        },
        "input": {
            "events_per_calibration": n_events,
            "categories": 15,
            "calibrations": list(RESOLUTIONS),
            "mass_bins": int(edges.size - 1),
        },
        "import_zfit_s": import_s,
        "full_zee_fit_set": {
            "wall_s": wall,
            "cpu_s": cpu,
            "n_fits": n_fits,
            "per_fit_s": wall / n_fits,
            "target_wall_s": 60.0,
            "meets_target": wall < 60.0,
            "accepted_categories": accepted,
            "inclusive_sigma_gev": {
                c: r["values"].get("sigma") for c, r in out["inclusive"].items()
            },
            "inclusive_sigma_eta_shifted_gev": {
                c: r["values"].get("sigma") for c, r in out["inclusive_eta_shifted"].items()
            },
        },
        "baseline_rebuild_per_fit": {
            "fits_timed": baseline_fits,
            "per_fit_s": per_fit_rebuild,
            "extrapolated_wall_s": per_fit_rebuild * n_fits,
        },
        "speedup": per_fit_rebuild * n_fits / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--baseline-fits", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "fits.json")
    args = parser.parse_args()
    report = run(args.events, args.baseline_fits)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
