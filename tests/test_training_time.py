"""The CNN time channel (thesis §7.4): 8-channel inputs from the cell times, the concat and
gate networks, and a time model trained, exported, loaded and applied end to end."""

from __future__ import annotations

import json
import warnings

import awkward as ak
import numpy as np
import pytest
import uproot

from calocoffea.cnn.inputs import image_channels, inputs_from_events, required_branches
from calocoffea.validation import InputDataError


@pytest.fixture(scope="module")
def zee_events(deepcalo_sim_files):
    from coffea.nanoevents import NanoEventsFactory

    from calocoffea.schema import CaloNanoAODSchema

    path = deepcalo_sim_files["zee"]
    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=CaloNanoAODSchema, mode="eager").events()


def _records(objects, time_shift: float | None = 0.0):
    """The electrons as plain awkward records; cell times shifted by ``time_shift`` ns, or
    dropped when it is None."""
    clu = objects.cluster
    cells = clu.cells
    fields = {f: cells[f] for f in ("layer", "eta", "phi", "deta", "dphi", "e")}
    if time_shift is not None:
        fields["time"] = cells.time + time_shift
    cluster = {f: clu[f] for f in ("eAcc", "e0", "e1", "e2", "e3", "eta", "phi", "etaMod",
                                   "phiMod", "etaIndex", "eTileGap")}
    rec = {"pt": objects.pt, "eta": objects.eta, "phi": objects.phi,
           "cluster": ak.zip({**cluster, "cells": ak.zip(fields)}, depth_limit=2),
           "track": ak.zip({f: objects.track[f] for f in ("pt", "eta", "phi", "charge")},
                           depth_limit=2)}
    return ak.zip(rec, depth_limit=2)


def test_time_inputs_are_the_energy_weighted_cell_times(zee_events):
    ev = zee_events
    plain = inputs_from_events(ev.Electron, ev, "electron")
    timed = inputs_from_events(ev.Electron, ev, "electron", with_time=True)
    assert image_channels(True) == 8
    assert timed.images.shape == (len(plain), 8, 56, 11)
    # the energy channels do not change; an empty pixel has time 0
    np.testing.assert_array_equal(timed.images[:, :4], plain.images)
    hit = plain.images != 0.0
    assert hit.any()
    assert np.all(timed.images[:, 4:][~hit] == 0.0)
    assert np.any(timed.images[:, 4:][hit] != 0.0)
    # records and NanoEvents give the same times; shifting every cell time by 5 ns shifts
    # every non-empty pixel's time by 5 ns (an |energy|-weighted mean of cell times)
    rec = inputs_from_events(_records(ev.Electron), ev, "electron", with_time=True)
    np.testing.assert_array_equal(rec.images, timed.images)
    shifted = inputs_from_events(_records(ev.Electron, 5.0), ev, "electron", with_time=True)
    np.testing.assert_array_equal(shifted.images[:, :4], plain.images)
    np.testing.assert_allclose(shifted.images[:, 4:][hit] - timed.images[:, 4:][hit], 5.0,
                               atol=2e-5)
    # built lazily per batch (inference) they are the same
    lazy = inputs_from_events(ev.Electron, ev, "electron", defer_images=True, with_time=True)
    np.testing.assert_array_equal(lazy.feed(0, len(lazy))["images"], timed.images)


def test_time_inputs_need_the_cell_times(zee_events):
    ev = zee_events
    no_time = _records(ev.Electron, None)
    inputs_from_events(no_time, ev, "electron")  # energies only: fine
    with pytest.raises(InputDataError, match="time"):
        inputs_from_events(no_time, ev, "electron", with_time=True)
    assert "CaloCell_time" in required_branches("electron", with_time=True)
    assert "CaloCell_time" not in required_branches("electron")


def test_time_networks():
    torch = pytest.importorskip("torch")
    from conftest import tiny_deepcalo_config

    from calocoffea.cnn.training.model import (
        DeepCaloNet,
        ModelConfig,
        count_flops,
        with_time_mode,
    )

    with pytest.raises(ValueError, match="time mode"):
        with_time_mode(tiny_deepcalo_config(), "stack")
    torch.manual_seed(0)
    n = 6
    images = torch.rand(n, 8, 56, 11)
    scalars, tracks = torch.randn(n, 9), torch.randn(n, 15, 4)
    mask = torch.ones(n, 15, dtype=torch.bool)
    flops = {}
    for mode in ("concat", "gate"):
        cfg = with_time_mode(tiny_deepcalo_config(), mode)
        assert cfg.image_channels == 8
        assert ModelConfig.from_dict(cfg.to_dict()).time_mode == mode
        net = DeepCaloNet(cfg, 9, 4)
        with torch.no_grad():
            net.out.weight.normal_(0.0, 0.1)
            if mode == "gate":  # half open (at its initial 0.98 the gate is nearly flat)
                net.time_gate[2].bias.zero_()
            for _ in range(20):  # batch-norm statistics of these inputs, as after training
                net(images, scalars, tracks, mask)
        net.eval()
        with torch.no_grad():
            out = net(images, scalars, tracks, mask)
            later = images.clone()
            later[:, 4:] += 3.0  # every time 3 ns later
            out_later = net(later, scalars, tracks, mask)
        if isinstance(out, tuple):  # (ratio, sigma') of a sigma-output network
            out, out_later = out[0], out_later[0]
        assert out.shape[0] == n and torch.isfinite(out).all()
        # the network reads the times
        assert (out - out_later).abs().max() > 1e-4
        flops[mode] = count_flops(cfg, 9, 4)
    none = with_time_mode(tiny_deepcalo_config(), "none")
    assert none.image_channels == 4
    # the gate folds the times into the 4 energy channels before the first convolution
    assert count_flops(none, 9, 4) < flops["gate"] < flops["concat"]


@pytest.mark.slow
def test_time_model_trains_exports_and_predicts(deepcalo_sim_files, zee_events, tmp_path):
    pytest.importorskip("torch")
    from calocoffea.app.cli import main
    from calocoffea.cnn.inference import cnn_predict, load_model

    zee = str(deepcalo_sim_files["zee"])
    out = tmp_path / "deepcalo_electron.onnx"
    rc = main(["train", "cnn", "--particle", "electron", "--train", zee, "--out", str(out),
               "--epochs", "1", "--seed", "3", "--time-channels", "gate", "--sigma",
               "--cache-dir", str(tmp_path / "cache")])
    assert rc == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["config"]["time_mode"] == "gate"
    images = next(i for i in card["inputs"] if i["name"] == "images")
    assert images["shape"][1:] == [8, 56, 11]
    assert card["onnx_vs_torch_max_rel_diff_1000"] < 1e-4
    model = load_model(out)
    assert model.with_time
    ev = zee_events
    pred = cnn_predict(ev.Electron, ev, "electron", out)
    ok = ~pred.fallback
    assert ok.sum() > 100
    assert np.all(np.isfinite(pred.energy[ok])) and np.all(pred.energy[ok] > 0)
    inp = inputs_from_events(ev.Electron, ev, "electron", with_time=True)
    feed = inp.feed(0, len(inp))
    # the processor reads the cell times for this model and applies it
    from coffea.nanoevents import NanoEventsFactory

    from calocoffea.schema import CaloNanoAODSchema
    from processors.zee import ZeeProcessor

    proc = ZeeProcessor(calibrations=("bdt", "cnn"), model_path=out)
    assert proc._cnn_with_time()
    events = NanoEventsFactory.from_root(
        {zee: "Events"}, schemaclass=CaloNanoAODSchema, mode="virtual",
        metadata={"dataset": "zee", "filename": zee}).events()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the file has no standard calibration (warned)
        (result,) = proc.postprocess(proc.process(events)).values()
    cf = result["cutflow"]
    assert cf["selected"] > 50
    assert cf.get("fallback", 0) == 0, cf  # every selected electron has its CNN energy
    # a file without the cell times lacks a branch this model needs, by name
    keys = set(uproot.open(zee)["Events"].keys())
    assert proc.missing_branches(keys) == []
    assert proc.missing_branches(keys - {"CaloCell_time"}) == ["CaloCell_time"]
    # an energy-only feed is refused by name, not crashed on
    with pytest.raises(Exception, match="images"):
        model.predict({**feed, "images": feed["images"][:, :4]})


@pytest.mark.parametrize("mode", ["concat", "gate"])
def test_time_model_onnx_matches_torch_and_reads_the_times(tmp_path, mode):
    torch = pytest.importorskip("torch")
    import onnxruntime as ort

    from calocoffea.cnn.inputs import TRACK_LOG_VARS, scalar_names, track_names
    from calocoffea.cnn.training.dataset import synthetic_sample
    from calocoffea.cnn.training.export import DeepCaloExport, export_onnx
    from calocoffea.cnn.training.model import DeepCaloNet, preset, with_time_mode
    from calocoffea.cnn.training.preprocessing import Preprocess, fit_preprocessing

    s = synthetic_sample(300, seed=12)
    names = scalar_names("electron")
    p = fit_preprocessing(s.scalars, s.tracks, s.tracks[:, :, 0] != 0, scalar_names=names,
                          track_names=track_names(), track_log=TRACK_LOG_VARS,
                          eacc_index=names.index("e_acc"), eta_index=names.index("eta"))
    cfg = with_time_mode(preset("lite"), mode)
    torch.manual_seed(1)
    net = DeepCaloNet(cfg, len(names), len(track_names()))
    with torch.no_grad():  # an output layer that reads its features, as after training
        net.out.weight.normal_(0.0, 0.1)
        if mode == "gate":  # a gate half open (at its initial 0.98 it is nearly flat)
            net.time_gate[2].bias.zero_()
    model = DeepCaloExport(Preprocess(p, cfg.image_channels), net, names.index("eta"),
                           [0.0, 2.5], [1.0], eacc_index=names.index("e_acc"))
    rng = np.random.default_rng(3)
    energies = s.images.astype(np.float32)
    times = np.where(energies != 0, rng.normal(0.0, 2.0, energies.shape), 0.0)
    images = np.concatenate([energies, times.astype(np.float32)], axis=1)
    # batch-norm statistics of these inputs, as after training (at their initial 0 and 1 the
    # E/E_acc pixels, ~1e-3, would leave every output flat)
    model.train()
    with torch.no_grad():
        for _ in range(30):
            model(torch.from_numpy(images), torch.from_numpy(s.scalars),
                  torch.from_numpy(s.tracks))
    model.eval()
    path = tmp_path / "m.onnx"
    export_onnx(model, path, s.scalars.shape[1], s.tracks.shape[2])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def ratio(img):
        return sess.run(["ratio"], {"images": img, "scalars": s.scalars,
                                    "tracks": s.tracks})[0]

    with torch.no_grad():
        ref = model(torch.from_numpy(images), torch.from_numpy(s.scalars),
                    torch.from_numpy(s.tracks))
    ref = (ref[0] if isinstance(ref, tuple) else ref).numpy()
    np.testing.assert_allclose(ratio(images), ref, rtol=1e-4)
    later = images.copy()  # every pixel 25 ns later (out of time, as pile-up from the
    later[:, 4:] += np.where(energies != 0, 25.0, 0.0).astype(np.float32)  # previous BC)
    assert np.abs(ratio(later) - ratio(images)).max() > 1e-4
