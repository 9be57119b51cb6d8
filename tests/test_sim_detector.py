import numpy as np

from calocoffea import geometry as geo
from calocoffea.kinematics import wrap_phi
from calocoffea.sim import detector, processes


def _gun(pdg, n=20000, eta=(0.1, 0.5), energy=40.0, seed=0):
    rng = np.random.default_rng(seed)
    gen = processes.gen_gun(rng, n, pdg, eta_range=eta, energy=energy)
    objs = detector.select_objects(gen)
    sh, trk = detector.propagate(rng, gen, objs)
    return gen, objs, sh, trk


def test_conversion_probability_follows_material():
    _gen, objs, _sh, trk = _gun(22, eta=(0.1, 0.5))
    p_expected = np.mean(1 - np.exp(-7 / 9 * geo.id_material_x0(np.abs(objs.eta))))
    p = np.mean(objs.conv_radius > 0)
    assert abs(p - p_expected) < 0.015
    assert objs.conv_radius.max() <= geo.ID_OUTER_RADIUS
    # converted photons: tracks belong to them and are displaced
    assert np.all(np.isin(trk.obj, np.nonzero(objs.conv_radius > 0)[0]))
    assert np.median(np.abs(trk.d0)) > 0.01


def test_bethe_heitler_mean_loss():
    rng = np.random.default_rng(1)
    z = detector._bethe_heitler(rng, np.full(200000, 0.5))
    assert abs(z.mean() - np.exp(-0.5)) < 0.005


def test_electron_energy_is_shared_and_bends_with_charge():
    _gen, objs, sh, trk = _gun(11, n=5000, energy=20.0)
    e_sum = np.bincount(sh.obj, weights=sh.energy, minlength=len(objs))
    # only sub-10 MeV brem photons and curling electrons (p_T < 0.5 GeV) are dropped
    assert np.mean(np.isclose(e_sum, objs.energy, atol=0.03)) > 0.97
    assert np.all(e_sum <= objs.energy + 1e-9)
    # the final electron (not photon) shower is bent opposite for opposite charges
    el = ~sh.is_photon
    dphi = wrap_phi(sh.phi[el] - objs.phi[sh.obj[el]])
    q = np.where(objs.pdg[sh.obj[el]] == 11, -1, 1)
    assert np.all(np.sign(dphi[np.abs(dphi) > 1e-6]) == -q[np.abs(dphi) > 1e-6])
    pt = objs.pt[sh.obj[el]]
    assert 0.3 < np.median(np.abs(dphi) * pt) < 1.0  # ~0.3 B R / 2 scale, rad GeV
    # tracks carry the pre-brem momentum up to the inner brem and the resolution
    assert len(trk.pt) == len(objs)
    assert 0.85 < np.median(trk.pt / objs.pt[trk.obj]) < 1.0


def test_muons_keep_their_charge_and_acceptance():
    rng = np.random.default_rng(3)
    gen = processes.gen_zmumugamma(rng, 3000)
    cols, trk = detector.muon_tracks_and_objects(rng, gen)
    sel = (np.abs(gen.pdg_id) == 13) & (np.abs(gen.eta) < 2.5) & (gen.pt > 3.0)
    assert len(cols["pt"]) == sel.sum() == len(trk.pt)
    # charge from the sign of the pdgId (mu- is 13) and the track shares it
    np.testing.assert_array_equal(cols["charge"], np.where(gen.pdg_id[sel] > 0, -1, 1))
    np.testing.assert_array_equal(trk.charge, cols["charge"])
    # resolutions are tested against their parametrisation in test_sim_realism


def test_zee_fsr_photons_inside_the_window_join_their_electron():
    rng = np.random.default_rng(3)
    gen = processes.gen_zee(rng, 4000)
    ph_rows, mom_rows = detector.merged_fsr(gen)
    assert len(ph_rows) > 300
    assert np.all(gen.pdg_id[ph_rows] == 22) and np.all(np.abs(gen.pdg_id[mom_rows]) == 11)
    objs = detector.select_objects(gen)
    starts = np.searchsorted(gen.event, np.arange(gen.n_events))
    obj_rows = starts[objs.event] + objs.gen_idx
    # merged photons are no objects of their own; wide-angle ones in acceptance are
    assert not np.isin(ph_rows, obj_rows).any()
    fsr = np.nonzero((gen.pdg_id == 22) & (gen.pt > detector.OBJECT_MIN_ET)
                     & (np.abs(gen.eta) < geo.ETA_MAX))[0]
    assert np.isin(np.setdiff1d(fsr, ph_rows), obj_rows).all()
    # the electron object showers with the photon's energy on top of its own
    sh, _trk = detector.propagate(rng, gen, objs)
    e_sum = np.bincount(sh.obj, weights=sh.energy, minlength=len(objs))
    extra = np.zeros(len(gen.event))
    np.add.at(extra, mom_rows, gen.energy[ph_rows])
    expected = objs.energy + extra[obj_rows]
    is_e = np.abs(objs.pdg) == 11
    # (less only where a brem-depleted electron curls up in the solenoid, p_T < 0.5 GeV)
    assert np.all(e_sum[is_e] <= expected[is_e] * (1 + 1e-9))
    assert np.mean(np.isclose(e_sum[is_e], expected[is_e], rtol=1e-3, atol=0.03)) > 0.9
    has = is_e & (extra[obj_rows] > 1.0)
    # all but electrons whose brem-depleted remainder curled up in the solenoid
    assert has.sum() > 100 and np.mean(e_sum[has] > objs.energy[has]) > 0.98
