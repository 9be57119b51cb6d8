"""Reliability of the mass fits (issue 9): empty and pathological histograms give
``accepted: false`` with a reason, never an exception, and a batch of fits goes on."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from calocoffea import binning
from calocoffea.fitting import toys
from calocoffea.histograms import book_mass

pytest.importorskip("zfit")
from calocoffea.fitting import pipeline
from calocoffea.fitting.fitter import MassFitter
from calocoffea.fitting.result import json_safe

PAIRS = binning.eta_pair_categories()


@pytest.fixture(scope="module")
def zee_fitter() -> MassFitter:
    edges = book_mass("zee", len(PAIRS)).axes["mass"].edges
    return MassFitter(edges, model="bwcb")


def _pathological(edges: np.ndarray) -> dict[str, tuple[np.ndarray, str]]:
    """Histogram contents and a regular expression the rejection reason must match."""
    n = edges.size - 1
    centres = 0.5 * (edges[1:] + edges[:-1])
    peak = np.exp(-0.5 * ((centres - 91.19) / 2.5) ** 2)
    rng = np.random.default_rng(5)
    return {
        "empty": (np.zeros(n), r"entries 0 < 500"),
        "one NaN bin": (np.where(np.arange(n) == 3, np.nan, 100.0), "non-finite"),
        "all inf": (np.full(n, np.inf), "non-finite"),
        "wrong bin count": (np.full(n + 3, 100.0), f"{n + 3} bins, fitter expects {n}"),
        "negative (weights)": (np.full(n, -100.0), "entries -30000 < 500"),
        "too few entries": (rng.poisson(400 * peak / peak.sum()).astype(float), "< 500"),
        "single-bin spike": (np.where(np.arange(n) == n // 2, 1e4, 0.0), "at limit|chi2/ndf"),
        "1e15 entries": (1e15 * peak, r"\S"),
    }


@pytest.mark.slow
def test_pathological_histograms_are_rejected_with_a_reason(zee_fitter):
    for name, (counts, reason) in _pathological(zee_fitter.edges).items():
        res = zee_fitter.fit(counts, label=name)
        assert res.accepted is False, name
        assert res.reason, name
        assert re.search(reason, res.reason), (name, res.reason)
        d = json.loads(json.dumps(res.to_dict()))  # JSON-safe even with NaN inside
        assert d["accepted"] is False and d["reason"] == res.reason
    # the fitter is still usable after all that: a clean Z peak is accepted
    mass, _, _ = toys.zee_toy_masses(20_000, np.zeros(5), np.full(5, 0.02), seed=3)
    counts, _ = np.histogram(mass, zee_fitter.edges)
    good = zee_fitter.fit(counts.astype(float), label="good")
    assert good.accepted, good.reason
    assert abs(good.value("mu")) < 0.5


@pytest.mark.slow
def test_batch_of_fits_goes_on_past_failures(zee_fitter):
    """One zee output where most categories are empty and the cnn one is a spike: every fit
    is reported (accepted or not, with a reason), the η-shift and resolution still run."""
    h = book_mass("zee", len(PAIRS))
    mass, cat, _ = toys.zee_toy_masses(30_000, np.zeros(5), np.full(5, 0.02), seed=8)
    keep = cat < 2  # only categories 0 and 1 are filled for bdt
    h.fill(calibration="bdt", etacat=cat[keep], mu=np.full(keep.sum(), 30.0), mass=mass[keep])
    h.fill(calibration="cnn", etacat=np.zeros(3000, int), mu=np.full(3000, 30.0),
           mass=np.full(3000, 91.0))
    # fit_output's own batch (fit_mass) with the module's compiled fitter, to save a compile
    out = {"mass": pipeline.fit_mass(h, "zee", fitter=zee_fitter)}
    out = json.loads(json.dumps(json_safe(out)))  # the results file must serialise
    fits = out["mass"]["fits"]
    assert set(fits) == {"bdt", "cnn"}
    for calib in ("bdt", "cnn"):
        assert len(fits[calib]) == len(PAIRS)
        for k, res in enumerate(fits[calib]):
            assert res["accepted"] or res["reason"], (calib, k)
    assert [r["accepted"] for r in fits["bdt"][:2]] == [True, True]
    assert not any(r["accepted"] for r in fits["bdt"][2:])
    assert not any(r["accepted"] for r in fits["cnn"])
    assert "entries 0 < 500" in fits["cnn"][1]["reason"]
    assert out["mass"]["inclusive"]["bdt"]["accepted"]
    assert not out["mass"]["inclusive"]["cnn"]["accepted"]
    # downstream steps ran for both calibrations despite the failures
    assert set(out["mass"]["eta_shift"]) == {"bdt", "cnn"}
    assert set(out["mass"]["resolution"]) == {"bdt", "cnn"}
    assert "cnn_vs_bdt" not in out["mass"]["summary"]["inclusive"]
