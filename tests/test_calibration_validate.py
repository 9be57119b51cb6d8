"""Evaluation of the standard calibration on NanoAOD-style MC files."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import uproot

from calocoffea import metrics
from calocoffea.app.cli import build_parser, main
from calocoffea.app.commands.train_bdt import config_from_args
from calocoffea.bdt import load_standard_calibration
from calocoffea.bdt import training as train_bdt
from calocoffea.bdt.inputs import CLUSTER_COLUMNS, PHOTON_COLUMNS
from calocoffea.bdt.samples import read_objects
from calocoffea.bdt.toy import toy_gun_columns
from calocoffea.bdt.validate import (
    evaluate_file,
    format_result,
    reference_energy,
    reference_from_card,
)


def _write_toy_file(path, particle, n, seed):
    """One object per event, with its cluster and matched GenPart."""
    cols, e_true = toy_gun_columns(n, particle, seed=seed)
    one = lambda a: ak.unflatten(np.asarray(a), np.ones(n, dtype=np.int64))  # noqa: E731
    coll = "Electron" if particle == "electron" else "Photon"
    obj = {"clusterIdx": one(np.zeros(n, np.int32)), "genPartIdx": one(np.zeros(n, np.int32))}
    extra = {}
    if particle == "photon":
        obj.update({c: one(cols[c]) for c in PHOTON_COLUMNS})
    else:
        obj.update({"charge": one(cols["charge"]), "trackIdx": one(np.zeros(n, np.int32))})
        extra["Track"] = ak.zip({"pt": one(cols["trackPt"]), "eta": one(cols["trackEta"]),
                                 "z0": one(cols["trackZ0"])})
    eta = cols["eta"].astype(np.float64)
    branches = {
        "event": np.arange(n, dtype=np.uint64),
        "Pileup_nTrueInt": np.full(n, 30.0, np.float32),
        "Cluster": ak.zip({c: one(cols[c]) for c in CLUSTER_COLUMNS}),
        coll: ak.zip(obj),
        **extra,
        "GenPart": ak.zip(
            {"pt": one(e_true / np.cosh(eta)), "eta": one(eta), "mass": one(np.zeros(n))}
        ),
    }
    with uproot.recreate(path) as f:
        tree = f.mktree(
            "Events",
            {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in branches.items()},
        )
        tree.extend(branches)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("val")
    efile = _write_toy_file(d / "zee_like.root", "electron", 3000, seed=31)
    gfile = _write_toy_file(d / "hgg_like.root", "photon", 3000, seed=32)
    args = build_parser().parse_args(
        [
            "train",
            "bdt",
            "--toy",
            "8000",
            "--seed",
            "3",
            "--out",
            str(d / "models"),
            "--n-trials",
            "1",
            "--max-rounds",
            "150",
            "--early-stopping",
            "20",
            "--nthread",
            "1",
            "--eval-electron",
            str(efile),
            "--eval-photon",
            str(gfile),
        ]
    )
    cards = train_bdt.train_all(config_from_args(args))
    return d, efile, gfile, cards


def test_cards_carry_the_held_out_evaluation(setup):
    d, efile, gfile, cards = setup
    calib = load_standard_calibration(d / "models")
    on_disk = json.loads((d / "models" / "bdt_photon_converted.json").read_text())
    assert [r["path"] for r in on_disk["test_files"]] == [str(gfile)]
    assert [r["path"] for r in cards["bdt"]["electron"]["test_files"]] == [str(efile)]
    # the held-out figures of the card are those a fresh evaluation of the file gives
    fresh = evaluate_file(efile, "electron", calib)
    card_test = cards["bdt"]["electron"]["test"]["bdt"]["all"]
    assert fresh["bdt"]["all"]["n"] == card_test["n"] == 3000
    assert fresh["bdt"]["all"]["eIQR75"] == pytest.approx(card_test["eIQR75"], rel=1e-6)
    assert "--eval-photon" in on_disk["reproduce"]


def test_reference_is_routed_by_conversion(setup):
    d, _, gfile, _ = setup
    calib = load_standard_calibration(d / "models")
    t = read_objects(gfile, "photon")
    e = reference_energy(calib, t.columns, "photon")
    conv = t.columns["convType"] > 0
    ref = reference_from_card(calib.cards["photon_converted"])
    np.testing.assert_allclose(e[conv], ref.energy(t.columns["eAcc"][conv], t.columns["eta"][conv]))


def test_command_line(setup, tmp_path, capsys):
    d, efile, gfile, _ = setup
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "validate",
                "bdt",
                "--electron",
                str(efile),
                "--photon",
                str(gfile),
                "--models",
                str(d / "models"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert [r["particle"] for r in res] == ["electron", "photon"]
    for r in res:
        assert r["bdt"]["all"]["eIQR75"] < r["e_acc"]["all"]["eIQR75"]
    assert "median-response eIQR75" in capsys.readouterr().out


def test_photon_conversion_breakdown_partitions_the_photons(setup):
    d, _, gfile, _ = setup
    calib = load_standard_calibration(d / "models")
    res = evaluate_file(gfile, "photon", calib)
    conv = res["conversion"]
    n = {k: v["bdt"]["all"]["n"] for k, v in conv.items()}
    assert n["unconverted"] + n["converted"] == res["bdt"]["all"]["n"]
    assert n["single_track"] + n["double_track"] == n["converted"]
    assert min(n.values()) > 0
    # each class's eIQR75 is that of its own photons, recomputed here from the energies
    t = read_objects(gfile, "photon", truth=True)
    resp = calib.energy(t.columns, "photon") / t.e_true
    sel = t.columns["convType"] == 2
    assert conv["double_track"]["bdt"]["all"]["eIQR75"] == pytest.approx(
        metrics.eiqr(resp[sel]), rel=1e-9)
    err = conv["unconverted"]["bdt"]["all"]["eIQR75_error"]
    assert 0 < err < 0.2 * conv["unconverted"]["bdt"]["all"]["eIQR75"]
    assert "per conversion class" in format_result(res)
