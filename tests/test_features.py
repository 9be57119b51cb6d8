"""CNN inputs from coffea objects and from plain awkward records (same code path), and the
high-level ``cnn_energy`` with its fallback mask."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from calocoffea.cnn.inputs import (
    N_TRACKS,
    SIGMA_R,
    TRACK_DR,
    inputs_from_events,
    scalar_names,
    track_names,
)


@pytest.fixture(scope="session")
def sim_events(deepcalo_sim_files):
    """Eager NanoEvents of the small simulated Z->ee and H->gamgam files."""
    from coffea.nanoevents import NanoEventsFactory

    from calocoffea.schema import CaloNanoAODSchema

    return {
        proc: NanoEventsFactory.from_root(
            {str(path): "Events"}, schemaclass=CaloNanoAODSchema, mode="eager"
        ).events()
        for proc, path in deepcalo_sim_files.items()
    }


def _plain(objects, particle):
    """The same objects as plain awkward records (no coffea behaviours)."""
    clu = objects.cluster
    cells = clu.cells
    cell_rec = ak.zip({f: cells[f] for f in ("layer", "eta", "phi", "deta", "dphi", "e", "time")})
    fields = {
        f: clu[f]
        for f in (
            "eAcc",
            "e0",
            "e1",
            "e2",
            "e3",
            "eta",
            "phi",
            "etaMod",
            "phiMod",
            "etaIndex",
            "eTileGap",
        )
    }
    rec = {
        "pt": objects.pt,
        "eta": objects.eta,
        "phi": objects.phi,
        "cluster": ak.zip({**fields, "cells": cell_rec}, depth_limit=2),
    }
    if particle == "electron":
        rec["track"] = ak.zip(
            {f: objects.track[f] for f in ("pt", "eta", "phi", "charge")}, depth_limit=2
        )
    else:
        rec["convType"] = objects.convType
        rec["convRadius"] = objects.convRadius
    return ak.zip(rec, depth_limit=2)


@pytest.mark.parametrize(("proc", "particle"), [("zee", "electron"), ("hgamgam", "photon")])
def test_shapes_and_scalars(sim_events, proc, particle):
    ev = sim_events[proc]
    obj = ev.Electron if particle == "electron" else ev.Photon
    inp = inputs_from_events(obj, ev, particle)
    n = int(ak.sum(ak.num(obj)))
    assert n > 50
    assert inp.images.shape == (n, 4, 56, 11) and inp.images.dtype == np.float32
    assert inp.scalars.shape == (n, len(scalar_names(particle)))
    assert inp.tracks.shape == (n, N_TRACKS, len(track_names()))
    assert inp.valid.all()
    names = scalar_names(particle)
    col = {k: inp.scalars[:, i] for i, k in enumerate(names)}
    np.testing.assert_allclose(col["e_acc"], ak.flatten(obj.cluster.eAcc), rtol=1e-6)
    assert np.all(col["f0"][np.abs(col["eta"]) > 1.8] == 0.0)
    # layers 1-3 of the image hold E_acc plus the window cells outside the core
    img_sum = inp.images[:, 1:].sum(axis=(1, 2, 3))
    assert np.median(img_sum / col["e_acc"]) == pytest.approx(1.0, abs=0.1)
    if particle == "electron":
        np.testing.assert_allclose(col["pt_track"], ak.flatten(obj.track.pt), rtol=1e-6)


def test_tracks_in_cone_sorted_and_padded(sim_events):
    ev = sim_events["zee"]
    inp = inputs_from_events(ev.Electron, ev, "electron")
    t = inp.tracks
    real = t[:, :, 0] != 0
    names = track_names()
    dr = t[:, :, names.index("dr")]
    assert np.all(dr[real] < TRACK_DR)
    assert np.all(t[~real] == 0.0)
    # real tracks first, then padding
    assert np.all(np.diff(real.astype(int), axis=1) <= 0)
    iso = np.abs(t[:, :, 0]) * np.exp(-dr / SIGMA_R)
    iso[~real] = -1.0
    assert np.all(np.diff(iso, axis=1) <= 1e-4)
    n_trk = inp.scalars[:, scalar_names("electron").index("n_tracks")]
    np.testing.assert_array_equal(np.minimum(n_trk, N_TRACKS), real.sum(axis=1))
    # the electron's own track is in its cone
    assert np.all(n_trk >= 1)


def test_plain_awkward_records_give_identical_inputs(sim_events):
    ev = sim_events["hgamgam"]
    a = inputs_from_events(ev.Photon, ev, "photon")
    b = inputs_from_events(_plain(ev.Photon, "photon"), ev, "photon")
    for x, y in ((a.images, b.images), (a.scalars, b.scalars), (a.tracks, b.tracks)):
        np.testing.assert_array_equal(x, y)


def test_invalid_objects_flagged_and_zeroed(sim_events):
    ev = sim_events["zee"]
    el = _plain(ev.Electron, "electron")
    counts = ak.num(el)
    e_acc = ak.to_numpy(ak.flatten(el.cluster.eAcc)).copy()
    e_acc[0] = -1.0
    cells = ak.flatten(el.cluster.cells, axis=1)
    keep = np.ones(len(e_acc), bool)
    keep[1] = False  # object 1 loses all its cells
    cells = ak.where(keep, cells, cells[:, :0])
    clu = ak.with_field(el.cluster, ak.unflatten(e_acc.astype(np.float32), counts), "eAcc")
    clu = ak.with_field(clu, ak.unflatten(cells, counts), "cells")
    el = ak.with_field(el, clu, "cluster")
    inp = inputs_from_events(el, ev, "electron")
    assert not inp.valid[0] and not inp.valid[1]
    assert inp.valid[2:].all()
    assert np.all(inp.images[:2] == 0) and np.all(inp.scalars[:2] == 0)


def test_zero_objects(sim_events):
    ev = sim_events["zee"]
    none = ev.Electron[ev.Electron.pt < 0]
    inp = inputs_from_events(none, ev, "electron")
    assert len(inp) == 0 and inp.images.shape == (0, 4, 56, 11)


def test_unknown_particle(sim_events):
    ev = sim_events["zee"]
    with pytest.raises(ValueError, match="particle must be one of"):
        inputs_from_events(ev.Electron, ev, "muon")


def test_cnn_energy_end_to_end(sim_events, deepcalo_tiny_model):
    from calocoffea.cnn.inference import ModelError, cnn_energy

    ev = sim_events["zee"]
    energy, fallback = cnn_energy(ev.Electron, ev, "electron", model_path=deepcalo_tiny_model)
    n = int(ak.sum(ak.num(ev.Electron)))
    assert energy.shape == (n,) and fallback.shape == (n,)
    assert not fallback.any()
    assert np.all(np.isfinite(energy)) and np.all(energy > 0)
    # the fallback returns the standard calibration for invalid objects
    el = _plain(ev.Electron, "electron")
    e_acc = ak.to_numpy(ak.flatten(el.cluster.eAcc)).copy()
    e_acc[3] = 0.0
    clu = ak.with_field(el.cluster, ak.unflatten(e_acc, ak.num(el)), "eAcc")
    el = ak.with_field(el, clu, "cluster")
    energy2, fallback2 = cnn_energy(el, ev, "electron", model_path=deepcalo_tiny_model)
    assert fallback2[3] and fallback2.sum() == 1
    std = float(ak.flatten(ev.Electron.pt)[3] * np.cosh(ak.flatten(ev.Electron.eta)[3]))
    assert energy2[3] == pytest.approx(std, rel=1e-6)
    np.testing.assert_allclose(np.delete(energy2, 3), np.delete(energy, 3), rtol=1e-6)
    empty, fb = cnn_energy(ev.Electron[ev.Electron.pt < 0], ev, "electron",
                           model_path=deepcalo_tiny_model)
    assert empty.shape == (0,) and fb.shape == (0,)
    with pytest.raises(ModelError, match="is a electron model, asked for photon"):
        cnn_energy(ev.Photon, ev, "photon", model_path=deepcalo_tiny_model)


def test_deferred_images_match_eager_build(sim_events):
    """Images built per batch (inference) give the same feed and validity as all at once,
    invalid objects included."""
    ev = sim_events["zee"]
    el = _plain(ev.Electron, "electron")
    counts = ak.num(el)
    cells = ak.flatten(el.cluster.cells, axis=1)
    keep = np.ones(int(ak.sum(counts)), bool)
    keep[[1, 8]] = False  # objects 1 and 8 lose their cells: invalid images
    cells = ak.where(keep, cells, cells[:, :0])
    el = ak.with_field(el, ak.with_field(el.cluster, ak.unflatten(cells, counts), "cells"),
                       "cluster")
    for objects in (el, ev.Electron):
        full = inputs_from_events(objects, ev, "electron")
        lazy = inputs_from_events(objects, ev, "electron", defer_images=True)
        assert lazy.images is None
        # the images of a deferred feed live in a buffer that the next feed overwrites
        feeds = [{k: v.copy() for k, v in lazy.feed(lo, lo + 7).items()}
                 for lo in range(0, len(lazy), 7)]
        assert np.shares_memory(lazy.feed(0, 7)["images"], lazy.feed(7, 14)["images"])
        for key, value in full.feed().items():
            np.testing.assert_array_equal(np.concatenate([f[key] for f in feeds]), value)
        np.testing.assert_array_equal(lazy.valid, full.valid)
        if objects is el:
            assert not full.valid[1] and not full.valid[8] and full.valid[[0, 2]].all()
            assert np.all(full.scalars[[1, 8]] == 0) and np.all(full.images[[1, 8]] == 0)
