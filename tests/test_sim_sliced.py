"""p_T-sliced boson samples (``calocoffea generate --boson-pt-min``): the same spectrum above
the cut, complete above :func:`complete_above_et`, recorded in the file."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from calocoffea.sim import processes as proc


def _bosons(g: proc.GenParticles) -> np.ndarray:
    return np.isin(g.pdg_id, (23, 25))


@pytest.mark.parametrize("process", ["zee", "hgamgam", "zmumugamma"])
def test_sliced_spectrum_is_the_inclusive_one_above_the_cut(process):
    pt_min = 40.0
    sliced = proc.generate(np.random.default_rng(11), process, 6000, boson_pt_min=pt_min)
    incl = proc.generate(np.random.default_rng(12), process, 120_000)
    q = sliced.pt[_bosons(sliced)]
    q0 = incl.pt[_bosons(incl)]
    assert len(q) == 6000 and q.min() >= pt_min
    # the inclusive spectrum above the cut (a few thousand bosons) is the same distribution
    above = q0[q0 >= pt_min]
    assert len(above) > 1000
    assert stats.ks_2samp(q, above).pvalue > 0.01
    # without the option (or with 0) the generator is the inclusive one, draw for draw
    a = proc.generate(np.random.default_rng(5), process, 300)
    b = proc.generate(np.random.default_rng(5), process, 300, boson_pt_min=0.0)
    np.testing.assert_array_equal(a.pt, b.pt)


@pytest.mark.parametrize("process", ["zee", "hgamgam"])
def test_events_below_the_cut_have_no_daughter_above_the_complete_et(process):
    g = proc.generate(np.random.default_rng(21), process, 200_000)
    boson = _bosons(g)
    q = np.full(g.n_events, np.nan)
    q[g.event[boson]] = g.pt[boson]
    for pt_min in (30.0, 90.0):
        floor = proc.complete_above_et(process, pt_min)
        below = ~boson & (q[g.event] < pt_min)
        # the bound holds, and it is not loose by more than a few GeV
        assert g.pt[below].max() <= floor
        assert g.pt[below].max() > floor - 15.0
    # the fraction is the spectrum's (zee, hgamgam: no generator-level cut)
    frac = proc.boson_pt_fraction(process, 30.0)
    assert abs(np.mean(g.pt[boson] >= 30.0) - frac) < 5 * np.sqrt(frac / g.n_events)
    assert proc.complete_above_et(process, 0.0) == 0.0


def test_the_option_is_refused_where_it_means_nothing():
    with pytest.raises(ValueError, match="no boson"):
        proc.generate(np.random.default_rng(1), "egun", 10, boson_pt_min=20.0)
    with pytest.raises(ValueError, match="must be in"):
        proc.generate(np.random.default_rng(1), "zee", 10, boson_pt_min=-1.0)
    with pytest.raises(ValueError, match="must be in"):
        proc.boson_pt_fraction("hgamgam", proc.BOSON_PT_CAP_GEV)


def test_the_file_records_the_cut(tmp_path):
    from coffea.nanoevents import NanoEventsFactory

    from calocoffea.schema import CaloNanoAODSchema
    from calocoffea.sim.generate import generate_file
    from calocoffea.stitching import sample_boson_pt_min

    def events(path):
        return NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=CaloNanoAODSchema,
                                           mode="eager").events()

    sliced, incl = tmp_path / "sliced.root", tmp_path / "incl.root"
    generate_file(sliced, "zee", n_events=40, seed=3, gun_options={"boson_pt_min": 50.0})
    generate_file(incl, "zee", n_events=40, seed=3)
    ev = events(sliced)
    assert sample_boson_pt_min(ev, sliced) == 50.0
    assert np.all(ev.GenPart.pt[ev.GenPart.pdgId == 23] >= 50.0)
    assert sample_boson_pt_min(events(incl), incl) == 0.0
    import uproot

    with uproot.open(incl) as f:
        assert proc.BOSON_PT_MIN_BRANCH not in f["Events"]
