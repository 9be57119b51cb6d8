"""Resolution metrics count every selected object: entries outside the histogram axes
(response below 0.5 or above 1.5, E_T outside 5-500 GeV, |η| ≥ 2.47, ⟨μ⟩ missing) are part
of the inclusive figures."""

from __future__ import annotations

import numpy as np
import pytest

from calocoffea import metrics
from calocoffea.fitting.pipeline import response_metrics
from calocoffea.histograms import book_response
from calocoffea.sparsehist import SparseHist


def _objects(n: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    # a core of width 0.03 with a 6 % low tail that reaches below the axis (response < 0.5)
    resp = np.where(rng.random(n) < 0.06, rng.uniform(0.3, 0.8, n), rng.normal(1.0, 0.03, n))
    resp[:50] = 1.7  # above the axis
    et = rng.uniform(2.0, 700.0, n)  # below 5 and above 500 GeV too
    abseta = rng.uniform(0.0, 2.6, n)  # beyond 2.47 too
    mu = np.where(rng.random(n) < 0.05, np.nan, rng.uniform(10.0, 80.0, n))
    return resp, et, abseta, mu


@pytest.mark.parametrize("sparse", [False, True])
def test_objects_outside_the_axes_count_in_every_inclusive_figure(sparse):
    resp, et, abseta, mu = _objects(40_000)
    outside = (resp < 0.5) | (resp >= 1.5)
    assert outside.sum() > 500  # the test needs out-of-range responses
    if sparse:  # the processors' per-chunk form, turned dense as postprocess does
        h = SparseHist("response")
        h.fill(calibration="bdt", particle="electron", abseta=abseta, et=et, mu=mu,
               response=resp, weight=np.ones(resp.size))
        h = h.to_hist()
    else:
        h = book_response()
        h.fill(calibration="bdt", particle="electron", abseta=abseta, et=et, mu=mu,
               response=resp)
    out = response_metrics(h)
    inc = out["bdt"]["electron"]["inclusive"]
    assert inc["n"] == resp.size  # nothing dropped, whatever the axis
    assert inc["n_outside"] == outside.sum()
    # the same quantiles as the unbinned ones over all objects (bin width 5e-4)
    assert inc["eiqr75"] == pytest.approx(metrics.eiqr(resp, 75.0), abs=3e-4)
    assert inc["median"] == pytest.approx(np.median(resp), abs=3e-4)
    # computed from the in-range entries only, the figure would be different
    inside = metrics.eiqr(resp[~outside], 75.0)
    assert abs(inside - inc["eiqr75"]) > 8e-4


def test_a_quantile_outside_the_axis_is_not_measured():
    edges = np.linspace(0.5, 1.5, 11)
    counts = np.r_[30.0, np.full(10, 5.0), 0.0]  # 30 of 80 entries in the underflow
    assert np.isnan(metrics.eiqr_from_hist(counts, edges, 95.0))  # P5 is below the axis
    assert np.isnan(metrics.eiqr_error_from_hist(counts, edges, 95.0))
    # in-range counts only (n bins) still work as before
    assert np.isfinite(metrics.eiqr_from_hist(counts[1:-1], edges, 75.0))


def test_sigma_eff_is_the_smallest_interval():
    from calocoffea.metrics import sigma68_from_hist, sigma_eff_error_from_hist, sigma_eff_from_hist

    rng = np.random.default_rng(1)
    edges = np.linspace(105.0, 145.0, 401)
    gauss = np.histogram(rng.normal(125.0, 1.7, 200_000), edges)[0]
    assert sigma_eff_from_hist(gauss, edges) == pytest.approx(1.7, rel=0.01)
    # an asymmetric peak: a low tail widens the central 68 % more than the smallest interval
    x = np.r_[rng.normal(125.0, 1.2, 80_000), 125.0 - rng.exponential(6.0, 20_000)]
    counts = np.histogram(x, edges)[0]
    xs = np.sort(x[(x > 105) & (x < 145)])
    k = int(np.ceil(0.6827 * len(x)))
    unbinned = 0.5 * np.min(xs[k - 1:] - xs[: len(xs) - k + 1])
    flow = np.r_[np.sum(x <= 105), counts, np.sum(x >= 145)]
    assert sigma_eff_from_hist(flow, edges) == pytest.approx(unbinned, rel=0.01)
    assert sigma_eff_from_hist(flow, edges) < sigma68_from_hist(flow, edges)
    err = sigma_eff_error_from_hist(gauss, edges, n_boot=60)
    assert 0.3 * 1.7 / np.sqrt(2 * 200_000) < err < 3 * 1.7 / np.sqrt(2 * 200_000)
    # most entries out of range: no interval on the axis holds 68 %
    assert np.isnan(sigma_eff_from_hist(np.r_[1000, counts[:5], 0], edges[:6]))


def test_response_tables_show_every_calibration_and_both_gains(tmp_path):
    """The docs/model.md tables: one column per calibration, reIQR75 against both baselines,
    with the value the eIQR75s imply, and the CLI writes them."""
    import json
    import subprocess
    import sys

    from calocoffea.app.response_tables import response_tables

    rng = np.random.default_rng(5)
    n = 20_000
    h = book_response()
    common = {"particle": "electron", "abseta": rng.uniform(0, 2.4, n),
              "et": rng.uniform(20, 80, n), "mu": rng.uniform(10, 80, n)}
    for cal, width in (("bdt", 0.04), ("bdt_shapes", 0.03), ("cnn", 0.02)):
        h.fill(calibration=cal, response=rng.normal(1.0, width, n), **common)
    result = {"channel": "zee", "response": response_metrics(h)}
    text = response_tables(result)
    header = next(line for line in text.splitlines() if line.startswith("| bin"))
    for col in ("eIQR75 bdt", "eIQR75 bdt_shapes", "eIQR75 cnn", "reIQR75 vs bdt",
                "reIQR75 vs bdt_shapes"):
        assert col in header
    row = next(line for line in text.splitlines() if line.startswith("| all"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    vs_bdt, vs_shapes = (float(c.split("±")[0]) for c in cells[-2:])
    assert vs_bdt == pytest.approx(0.5, abs=0.03)  # 1 - 0.02/0.04
    assert vs_shapes == pytest.approx(1 / 3, abs=0.03)  # 1 - 0.02/0.03
    assert text.count("| 0–0.8 |") == 1 and "| 10–24 |" in text
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result))
    out = tmp_path / "t.md"
    proc = subprocess.run([sys.executable, "-m", "calocoffea", "validate", "response-tables",
                           str(path), "--out", str(out)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == text
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"channel": "zee"}))
    proc = subprocess.run([sys.executable, "-m", "calocoffea", "validate", "response-tables",
                           str(bad)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "bad.json" in proc.stderr
