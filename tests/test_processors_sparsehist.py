"""SparseHist fills exactly like hist.Hist and merges exactly for ±1 weights."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from calocoffea import binning, histograms
from calocoffea.sparsehist import SparseHist


def _random_fill(rng, n):
    return dict(
        calibration=rng.choice(["bdt", "cnn"]),
        particle=rng.choice(["electron", "photon"]),
        # out of range, exact bin edges and NaN included
        abseta=np.concatenate([rng.uniform(-0.1, 2.6, n - 3), [0.8, np.nan, 2.47]]),
        et=rng.uniform(0.0, 600.0, n),
        mu=rng.uniform(5.0, 90.0, n),
        response=np.concatenate([rng.normal(1.0, 0.3, n - 2), [0.5, 1.5]]),
        weight=rng.choice([-1.0, 1.0], n),
    )


def test_fill_matches_dense_hist_including_flow_and_nan():
    rng = np.random.default_rng(3)
    sparse = SparseHist("response")
    dense = histograms.book_response()
    for _ in range(4):
        batch = _random_fill(rng, 2000)
        sparse.fill(**batch)
        dense.fill(**batch)
    got = sparse.to_hist()
    assert got.axes == dense.axes
    for field in ("value", "variance"):
        assert np.array_equal(got.view(flow=True)[field], dense.view(flow=True)[field])
    assert len(pickle.dumps(sparse)) < 1_000_000  # vs ~63 MB for the dense histogram


def test_merge_is_exact_and_order_independent():
    rng = np.random.default_rng(4)
    n_cat = len(binning.eta_pair_categories())
    parts = []
    for _ in range(6):
        h = SparseHist("mass", "zee", n_cat)
        h.fill(
            calibration="truth",
            etacat=rng.integers(0, n_cat + 2, 500),
            mu=rng.uniform(0, 90, 500),
            mass=rng.normal(91, 5, 500),
            weight=rng.choice([-1.0, 1.0], 500),
        )
        parts.append(h)
    forward = sum(parts[1:], parts[0]).to_hist()
    backward = sum(parts[-2::-1], parts[-1]).to_hist()
    dense = histograms.book_mass("zee", n_cat)
    for p in parts:
        dense += p.to_hist()
    for other in (backward, dense):
        assert np.array_equal(forward.view(flow=True)["value"], other.view(flow=True)["value"])
        assert np.array_equal(
            forward.view(flow=True)["variance"], other.view(flow=True)["variance"]
        )
    assert forward.sum(flow=True).variance == 3000


def test_errors():
    with pytest.raises(ValueError, match="unknown histogram"):
        SparseHist("pt")
    h = SparseHist("response")
    with pytest.raises(KeyError):
        h.fill(
            calibration="gbr",
            particle="electron",
            abseta=[0.1],
            et=[30.0],
            mu=[20.0],
            response=[1.0],
        )
    with pytest.raises(TypeError, match="axes"):
        h.fill(calibration="bdt", particle="electron")
    with pytest.raises(ValueError, match="cannot add"):
        _ = SparseHist("response") + SparseHist("mass", "zee", 15)
