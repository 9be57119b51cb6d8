"""The truth-energy Z→ee mass check measures something: without FSR the truth line shape is
the Breit–Wigner alone, and the BW⊗CB fit finds σ_CB ≈ 0 with a small error."""

from __future__ import annotations

import numpy as np
import pytest

from calocoffea.app.cli import main
from calocoffea.channels import CHANNELS
from calocoffea.execution import runner
from calocoffea.fitting.fitter import MassFitter
from calocoffea.sim import processes
from processors import make_processor

pytestmark = pytest.mark.slow


def test_generator_line_shape_without_fsr_has_no_cb_width():
    # one million generator-level Z→ee events without FSR, binned as the Z→ee mass axis
    gen = processes.gen_zee(np.random.default_rng(5), 1_000_000, fsr=False)
    e = np.abs(gen.pdg_id) == 11
    pt, eta, phi = (x[e].reshape(-1, 2) for x in (gen.pt, gen.eta, gen.phi))
    mass = np.sqrt(2 * pt[:, 0] * pt[:, 1] * (np.cosh(eta[:, 0] - eta[:, 1])
                                              - np.cos(phi[:, 0] - phi[:, 1])))
    n, lo, hi = CHANNELS["zee"].mass_bins
    edges = np.linspace(lo, hi, n + 1)
    res = MassFitter(edges, model="bwcb").fit(np.histogram(mass, edges)[0])
    # σ_CB goes to its lower limit (a pure BW): the fit says so rather than accepting it
    assert res.status == "ok"
    assert res.value("sigma") < 0.1 and res.error("sigma") < 0.05
    assert abs(res.value("mu")) < 0.05


def test_processor_truth_mass_without_fsr_is_narrow(tmp_path):
    path = tmp_path / "zee_nofsr.root"
    assert main(["generate", "--process", "zee", "--events", "4000", "--seed", "711",
                 "--out", str(path), "--no-standard-calibration", "--no-fsr"]) == 0
    proc = make_processor("zee", calibrations=("bdt", "truth"))
    out, _ = runner.run(proc, {"nofsr": {"files": {str(path): "Events"}}},
                        runner.RunOptions(executor="iterative", chunksize=2000,
                                          progress=False))
    out = out["nofsr"]
    widths = {}
    for cal in ("bdt", "truth"):
        h = out["mass"][{"calibration": cal}].project("mass")
        res = MassFitter(h.axes[0].edges, model="bwcb").fit(h.values())
        widths[cal] = res.value("sigma")
    # truth energies with the reconstructed directions: the BW and little else
    assert widths["truth"] < 0.3 < widths["bdt"]


def test_no_fsr_is_a_zee_option(tmp_path):
    assert main(["generate", "--process", "hgamgam", "--events", "5", "--out",
                 str(tmp_path / "x.root"), "--no-fsr", "--no-standard-calibration"]) == 2
