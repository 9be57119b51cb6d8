"""Training, ONNX export and model cards of the BDT calibration (on toy samples)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from calocoffea.app.cli import build_parser, main
from calocoffea.app.commands.train_bdt import config_from_args
from calocoffea.bdt import training as train_bdt
from calocoffea.bdt.inputs import MODELS, VARIANTS, feature_names
from calocoffea.bdt.standard import sha256_file
from calocoffea.bdt.toy import toy_gun_columns

QUICK = ["--n-trials", "2", "--max-rounds", "150", "--early-stopping", "20", "--nthread", "1",
         "--learning-curve", "2"]


def _args(out, *extra):
    return build_parser().parse_args(["train", "bdt", "--out", str(out), *QUICK, *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("bdt")
    args = _args(out, "--toy", "8000", "--seed", "5", "--search-objects", "1500")
    return out, args, train_bdt.train_all(config_from_args(args))


def _toy_dataset(model: str, n: int = 6000, seed: int = 4) -> train_bdt.Dataset:
    particle = "electron" if model == "electron" else "photon"
    cols, e_true = toy_gun_columns(n, particle, seed=seed)
    tables = {particle: [(cols, e_true, np.arange(n))]}
    return train_bdt.build_datasets(tables, seed=seed)[model]


@pytest.mark.parametrize("objective", ["reg:squarederror", "reg:absoluteerror"])
def test_onnx_matches_xgboost(tmp_path, objective):
    ds = _toy_dataset("photon_converted", n=12_000)
    cfg = {
        "max_depth": 6,
        "learning_rate": 0.1,
        "min_child_weight": 5,
        "subsample": 0.85,
        "objective": objective,
    }
    booster, row, _ = train_bdt._train_one(
        ds, cfg, config_from_args(_args(tmp_path, "--toy", "1"))
    )
    assert row["n_trees"] == booster.num_boosted_rounds()
    path = tmp_path / "m.onnx"
    train_bdt.export_onnx(booster, ds.x.shape[1], path)
    x = ds.x[:1000]
    assert len(x) == 1000
    assert train_bdt.onnx_agreement(booster, path, x) < 1e-5


def test_split_is_eventwise_and_seeded():
    keys = np.repeat(np.arange(5000), 2)  # two objects per event
    a = train_bdt._event_split(keys, seed=1)
    np.testing.assert_array_equal(a[0::2], a[1::2])
    np.testing.assert_array_equal(a, train_bdt._event_split(keys, seed=1))
    assert not np.array_equal(a, train_bdt._event_split(keys, seed=2))
    frac = np.bincount(a, minlength=2) / a.size
    np.testing.assert_allclose(frac, train_bdt.SPLIT_FRACTIONS, atol=0.03)


@pytest.mark.parametrize("variant", VARIANTS)
def test_cards_are_complete(trained, variant):
    out, args, all_cards = trained
    cards = all_cards[variant]
    assert set(cards) == set(MODELS)
    for model in MODELS:
        card = json.loads((out / f"{variant}_{model}.json").read_text())
        assert card["calibration"] == variant
        assert card["sha256"] == sha256_file(out / f"{variant}_{model}.onnx")
        assert [f["name"] for f in card["input"]["features"]] == feature_names(model, variant)
        assert all(f["unit"] for f in card["input"]["features"])
        assert len(card["search"]["table"]) == args.n_trials
        best = min(card["search"]["table"], key=lambda r: r["val_eIQR75"])
        assert card["search"]["best_trial"] == best["trial"]
        assert card["hyperparameters"]["max_depth"] == best["max_depth"]
        # trials run on a capped subset, the chosen configuration is refitted on all of it
        n_fit = card["training"]["n_fit_after_target_cut"]
        assert all(r["n_fit"] == min(1500, n_fit) for r in card["search"]["table"])
        refit = card["search"]["refit"]
        if n_fit > 1500:
            assert refit["n_fit"] == n_fit
            assert card["hyperparameters"]["n_trees"] == refit["n_trees"]
            assert card["validation"]["eIQR75"] == refit["val_eIQR75"]
        else:
            assert refit is None
        assert card["onnx_vs_xgboost_max_rel_diff"] < 1e-5
        assert "--seed 5" in card["reproduce"] and "--toy 8000" in card["reproduce"]
        assert card["test"]["bdt"]["all"]["n"] > 0  # the held-out (toy) sample
        assert len(card["reference_median_response"]["median"]) == 25
        # learning curve: nested halves of the training split, then the full refit
        points = card["learning_curve"]["points"]
        assert [p["n_train"] for p in points][-1] == n_fit
        assert all(a["n_train"] < b["n_train"] for a, b in itertools.pairwise(points))
        assert len(points) == 3
        last = card["learning_curve"]["last_doubling_relative_change"]
        assert last == pytest.approx(points[-1]["val_eIQR75"] / points[-2]["val_eIQR75"] - 1)


@pytest.mark.slow
def test_bdt_beats_median_response_on_toy(trained):
    _, _, cards = trained
    for model, card in cards["bdt"].items():
        bdt = card["test"]["bdt"]["all"]["eIQR75"]
        ref = card["test"]["median_response"]["all"]["eIQR75"]
        assert bdt < 0.9 * ref, model
        assert abs(card["test"]["bdt"]["all"]["median"] - 1.0) < 0.01, model


def test_training_is_deterministic(tmp_path, trained):
    out, _, _ = trained
    again = tmp_path / "again"
    assert (
        main(
            [
                "train",
                "bdt",
                "--toy",
                "8000",
                "--seed",
                "5",
                "--out",
                str(again),
                *QUICK,
                "--search-objects",
                "1500",
            ]
        )
        == 0
    )
    for variant in VARIANTS:
        for model in MODELS:
            name = f"{variant}_{model}.onnx"
            assert sha256_file(again / name) == sha256_file(out / name)


def test_cli_errors_are_clear(tmp_path, capsys):
    missing = tmp_path / "nope.root"
    rc = main(
        [
            "train",
            "bdt",
            "--electron",
            str(missing),
            "--photon",
            str(missing),
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 1
    assert "nope.root" in capsys.readouterr().err
    assert main(["train", "bdt", "--electron", str(missing), "--out", str(tmp_path)]) == 1
    assert "photon training files" in capsys.readouterr().err
