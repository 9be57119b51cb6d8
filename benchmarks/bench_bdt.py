"""CPU throughput of the standard (BDT) calibration: objects/s on one core.

``StandardCalibration.energy`` on toy columns (the cost does not depend on the values),
end to end (feature building + the trees, XGBoost's predictor on one thread:
``calocoffea.bdt.forest``) for electrons and for photons (routing to two models), compared
with the feature building alone measured in the same run. Uses the shipped models
(``models/`` or $CALOCOFFEA_MODELS).

    python benchmarks/bench_bdt.py   # writes benchmarks/results/bdt.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def _rate(fn, n: int, seconds: float) -> float:
    fn()
    best = 0.0
    for _ in range(3):
        k, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            fn()
            k += 1
        best = max(best, n * k / (time.perf_counter() - t0))
    return best


def run(n: int = 100_000, seconds: float = 3.0) -> dict:
    """Objects/s of the BDT calibration and of its feature building alone."""
    from calocoffea.bdt import load_standard_calibration
    from calocoffea.bdt.inputs import feature_matrix
    from calocoffea.bdt.toy import toy_gun_columns

    calib = load_standard_calibration()
    out: dict = {"n_objects": n, "threads": 1}
    for particle in ("electron", "photon"):
        cols, _ = toy_gun_columns(n, particle, seed=0)
        model = "electron" if particle == "electron" else "photon_converted"
        out[particle] = {
            "energy_objects_per_s": _rate(lambda c=cols, p=particle: calib.energy(c, p), n,
                                          seconds),
            "features_only_objects_per_s": _rate(lambda c=cols, m=model: feature_matrix(c, m),
                                                 n, seconds),
            "n_trees": {m: calib.cards[m]["hyperparameters"]["n_trees"]
                        for m in calib.cards
                        if (m == "electron") == (particle == "electron")},
        }
    return out


if __name__ == "__main__":
    result = run()
    path = Path(__file__).parent / "results" / "bdt.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
