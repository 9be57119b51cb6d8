import numpy as np
import pytest

from calocoffea.app.sim_realism import evaluate
from calocoffea.sim import generate_file

pytestmark = pytest.mark.slow


def test_proxy_calibration_beats_raw_eacc(tmp_path):
    gun = tmp_path / "egun.root"
    zee = tmp_path / "zee.root"
    generate_file(gun, "egun", n_events=3000, seed=1, gun_options={"et_range": (15.0, 80.0)})
    generate_file(zee, "zee", n_events=800, seed=2)
    res = evaluate(gun, zee, "electron")
    assert res["objects"] > 800
    # collinear FSR in the cluster lifts E/E_true(bare electron) by ~0.3% on large samples
    assert abs(res["median_proxy_bdt"] - 1.0) < 0.015
    assert res["eiqr75_proxy_bdt"] < res["eiqr75_eacc_raw"]
    assert 0.01 < res["eiqr75_proxy_bdt"] < 0.06
    per_eta = np.array(res["eiqr75_proxy_bdt_per_abs_eta"])
    assert per_eta[2] == per_eta.max()  # the crack is the worst |eta| bin
