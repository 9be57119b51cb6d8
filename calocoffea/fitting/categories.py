"""σ_m/m categories of a processor output: the terciles, a mass fit per category and the
expected significance gain (client side; the definitions are in :mod:`calocoffea.categories`).

From the ``sigma_m`` histogram (mass versus σ_m/m per calibration) of a two-object channel:

1. the category boundaries, per calibration, are the equal-population terciles of its σ_m/m
   distribution (:func:`calocoffea.categories.tercile_edges`, on the axis edges; events below
   or above the axis fall in the first or last category), chosen on MC: a data output is
   categorised with the MC's boundaries (``edges_from``);
2. each category's mass histogram is fitted with the channel's model
   (:class:`calocoffea.fitting.fitter.MassFitter`, as the inclusive fits) and its σ_eff
   measured;
3. for H→γγ the expected gain in signal significance from categorising,
   √(Σ_k s_k²/b_k) / √(s²/b) with an exponential continuum
   (:func:`calocoffea.categories.significance_gain`), and its bootstrap error.

:func:`add_uncertainty_results` puts these (``results["categories"]``) and the pull summary
(``results["uncertainty"]``, :func:`calocoffea.uncertainty.pull_summary`) into a results dict
of :func:`calocoffea.fitting.pipeline.fit_output`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import numpy as np

from calocoffea import categories as cat
from calocoffea.channels import CHANNELS
from calocoffea.metrics import sigma_eff_from_hist

log = logging.getLogger(__name__)

#: Channels whose significance gain is reported (a narrow peak over a falling continuum).
GAIN_CHANNELS: tuple[str, ...] = ("hgamgam",)
#: Bootstrap resamplings of the significance-gain error.
N_BOOT = 100


def sigma_m_counts(h, calibration: str) -> np.ndarray:
    """(n_σ bins, n_mass bins) of ``calibration`` in a ``sigma_m`` histogram, the σ_m/m flow
    bins folded into the first and last bin, mass flow dropped."""
    v = h[{"calibration": calibration}].values(flow=True)[:, 1:-1]
    inner = v[1:-1].copy()
    inner[0] += v[0]
    inner[-1] += v[-1]
    return inner


def category_counts(counts: np.ndarray, edge_index: list[int]) -> np.ndarray:
    """(n_categories, n_mass) mass histograms of the categories bounded by ``edge_index``
    (indices into the σ_m/m axis edges) from :func:`sigma_m_counts` ``counts``."""
    return np.stack([counts[lo:hi].sum(axis=0)
                     for lo, hi in pairwise(edge_index)])


def categorise(h, channel: str, *, edges_from: Mapping[str, Any] | None = None,
               fitter=None, n_boot: int = N_BOOT) -> dict[str, Any]:
    """Per calibration of the ``sigma_m`` histogram ``h``: the boundaries (``edge_index``,
    ``edges`` σ_m/m, ``chosen_on``), events and σ_eff (GeV) per category, the mass fit per
    category and, for :data:`GAIN_CHANNELS`, ``significance_gain`` (+ ``_err``). JSON-ready.
    ``edges_from``: an earlier result (the MC's) whose boundaries are reused."""
    spec = CHANNELS[channel]
    mass_edges = h.axes["mass"].edges
    if fitter is None:
        from calocoffea.fitting.fitter import MassFitter

        fitter = MassFitter(mass_edges, model=spec.mass_model)
    axis_edges = np.asarray(h.axes["sigma_m"].edges)
    out: dict[str, Any] = {}
    for cal in h.axes["calibration"]:
        counts = sigma_m_counts(h, cal)
        if counts.sum() <= 0:
            continue
        if edges_from is not None and cal in edges_from:
            idx = [int(i) for i in edges_from[cal]["edge_index"]]
            chosen = "mc"
        else:
            try:
                idx = cat.tercile_edges(counts.sum(axis=1), axis_edges)
            except ValueError as err:
                out[cal] = {"error": str(err)}
                log.warning("%s/%s: no sigma_m/m categories: %s", channel, cal, err)
                continue
            chosen = "self"
        per = category_counts(counts, idx)
        entry: dict[str, Any] = {
            "edge_index": idx,
            "edges": [float(axis_edges[i]) for i in idx],
            "chosen_on": chosen,
            "n": [float(c.sum()) for c in per],
            "sigma_eff": [sigma_eff_from_hist(c, mass_edges) for c in per],
            "fits": [fitter.fit(c, label=f"{cal}/sigma_m{k}").to_dict()
                     for k, c in enumerate(per)],
        }
        if channel in GAIN_CHANNELS:
            entry["significance_gain"] = cat.significance_gain(per, mass_edges)
            entry["significance_gain_err"] = cat.significance_gain_error(per, mass_edges,
                                                                         n_boot=n_boot)
            entry["background_slope"] = cat.BACKGROUND_SLOPE
        out[cal] = entry
    return out


def add_uncertainty_results(output: Mapping[str, Any], results: dict[str, Any], *,
                            mc_results: Mapping[str, Any] | None = None,
                            fitter=None) -> dict[str, Any]:
    """Add ``uncertainty`` (pull summary, MC outputs with a ``pull`` histogram) and
    ``categories`` (outputs with a ``sigma_m`` histogram; boundaries from ``mc_results``
    when given) to ``results``; returns it."""
    from calocoffea.fitting.result import json_safe
    from calocoffea.uncertainty import pull_summary

    channel = results.get("channel") or output.get("meta", {}).get("channel")
    pull = output.get("pull")
    if pull is not None and float(pull.sum(flow=True).value) > 0:
        results["uncertainty"] = json_safe(pull_summary(
            pull, pull_et_reco=output.get("pull_et_reco")))
    h = output.get("sigma_m")
    if h is not None and float(h.sum(flow=True).value) > 0:
        edges_from = (mc_results or {}).get("categories")
        results["categories"] = json_safe(categorise(h, channel, edges_from=edges_from,
                                                     fitter=fitter))
    return results
