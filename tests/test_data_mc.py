"""Data/MC comparison: the classifier sees the data-like detector, and not an MC-like one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calocoffea.app.cli import main
from calocoffea.app.data_mc import DataMCConfig, compare, mu_weights

pytestmark = pytest.mark.slow

N = 2500


@pytest.fixture(scope="module")
def zee_kinds(tmp_path_factory):
    d = tmp_path_factory.mktemp("datamc")
    out = {}
    for name, extra, seed in (("mc", ["--kind", "mc"], 501),
                              ("mclike", ["--kind", "data", "--mc-like", "--mu-profile", "mc"],
                               502),
                              ("data", ["--kind", "data"], 503)):
        path = d / f"{name}.root"
        assert main(["generate", "--process", "zee", "--events", str(N), "--seed", str(seed),
                     "--out", str(path), "--no-standard-calibration", *extra]) == 0
        out[name] = str(path)
    return out


def test_mu_weights_match_the_data_profile():
    rng = np.random.default_rng(0)
    mc = rng.uniform(10, 80, 200_000)
    data = rng.normal(27, 5, 50_000)
    w = mu_weights(mc, data)
    assert np.average(mc, weights=w) == pytest.approx(np.mean(data), abs=0.2)
    assert np.sqrt(np.cov(mc, aweights=w)) == pytest.approx(np.std(data), rel=0.03)


def test_classifier_separates_data_like_but_not_mc_like(zee_kinds, tmp_path):
    same = compare(DataMCConfig(mc=(zee_kinds["mc"],), data=(zee_kinds["mclike"],)))
    diff = compare(DataMCConfig(mc=(zee_kinds["mc"],), data=(zee_kinds["data"],),
                                out_dir=tmp_path))
    a0, e0 = same["classifier"]["auc"], same["classifier"]["auc_err"]
    a1, e1 = diff["classifier"]["auc"], diff["classifier"]["auc_err"]
    # the MC-like detector is the MC detector: no separation beyond the statistical spread
    assert abs(a0 - 0.5) < max(4 * e0, 0.03)
    # the data-like detector is seen
    assert a1 > a0 + 3 * np.hypot(e0, e1)
    assert all((tmp_path / p).is_file() for p in ("data_mc_inputs.png",
                                                   "data_mc_mean_images.png"))
    # wider showers in data: lower R_eta (the documented shift)
    assert diff["means"]["rEta"]["data"] < diff["means"]["rEta"]["mc"]
    # the time offset shows in the cluster time
    assert diff["means"]["cluster_time"]["data"] > diff["means"]["cluster_time"]["mc"] + 0.1


def test_cli_data_mc(zee_kinds, tmp_path):
    out = tmp_path / "dm.json"
    assert main(["validate", "data-mc", "--mc", zee_kinds["mc"], "--data", zee_kinds["data"],
                 "--max-events", "1000", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["n_mc"] > 300 and 0.0 <= res["classifier"]["auc"] <= 1.0
    assert main(["validate", "data-mc", "--mc", str(tmp_path / "nope.root"), "--data",
                 zee_kinds["data"]]) == 2
