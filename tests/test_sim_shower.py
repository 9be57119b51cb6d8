import numpy as np

from calocoffea import geometry as geo
from calocoffea.sim import shower
from calocoffea.sim.config import SimConfig

CFG = SimConfig()


def _lon(energy, photon, eta=0.3, n=4000, seed=0):
    rng = np.random.default_rng(seed)
    e = np.full(n, float(energy))
    return shower.longitudinal(rng, e, np.full(n, eta), np.full(n, photon), CFG)


def test_longitudinal_energy_is_conserved():
    lon = _lon(50.0, False)
    total = lon.lost_upstream + lon.layers.sum(axis=1) + lon.leakage
    assert np.allclose(total, 50.0, rtol=1e-9)
    assert np.all(lon.presampler >= 0)


def test_showers_get_deeper_with_energy_and_for_photons():
    e_lo, e_hi = _lon(10.0, False), _lon(300.0, False)
    assert np.mean(e_hi.leakage / 300.0) > 2 * np.mean(e_lo.leakage / 10.0)
    assert np.mean(e_hi.layers[:, 2] / 300) > np.mean(e_lo.layers[:, 2] / 10)
    el, ph = _lon(50.0, False), _lon(50.0, True)
    # photons start later: less upstream loss and presampler signal, more leakage
    assert np.mean(ph.lost_upstream) < np.mean(el.lost_upstream)
    assert np.mean(ph.presampler) < np.mean(el.presampler)
    assert np.mean(ph.leakage) > np.mean(el.leakage)
    # correlated depth fluctuations: E1/E2 anticorrelates with the leakage
    r12 = el.layers[:, 0] / el.layers[:, 1]
    assert np.corrcoef(r12, el.leakage)[0, 1] < -0.2


def test_more_upstream_material_loses_more():
    assert np.mean(_lon(50, False, eta=1.3).lost_upstream) > np.mean(
        _lon(50, False, eta=0.1).lost_upstream
    )


def test_lateral_spots_containment():
    rng = np.random.default_rng(1)
    n = 200
    eta = np.full(n, 0.3)
    phi = np.zeros(n)
    le = np.tile([0.5, 10.0, 30.0, 1.0], (n, 1))
    tau = np.tile([0.3, 0.6, 1.2, 2.5], (n, 1))
    sp = shower.lateral_spots(
        rng,
        np.arange(n),
        eta,
        phi,
        layer_energy=le,
        tau=tau,
        log_e=np.full(n, np.log(40.0)),
        cfg=CFG,
    )
    assert np.isclose(sp.energy.sum(), le.sum())
    dist = geo.calo_front_radius(0.3) * shower.LAYER_RADIUS_FACTOR[sp.layer]
    r_cm = np.hypot(sp.eta - 0.3, sp.phi) * dist
    l2 = sp.layer == 2
    inside = sp.energy[l2 & (r_cm < CFG.moliere_cm)].sum() / sp.energy[l2].sum()
    assert 0.8 < inside < 0.98
    # the spots integrate the average profile (stratified): the shower-to-shower
    # fluctuations are applied per cell afterwards (reconstruction.spot_fluctuations)
    per = np.bincount(sp.event[l2], weights=sp.energy[l2] * (r_cm[l2] < 2.0), minlength=n)
    assert np.std(per / 30.0) < 0.01


def test_windows_and_deposition():
    keta = np.array([12, -30, 70])  # barrel, barrel (eta<0), end-cap
    jphi = np.array([0, 128, 255])
    w = shower.build_windows(keta, jphi)
    n_cells = np.diff(w.offsets)
    assert np.all(n_cells > 300)
    c0 = slice(w.offsets[0], w.offsets[1])
    strips = np.unique(w.ieta[c0][w.layer[c0] == 1])
    assert len(strips) == 8 * (2 * shower.SIM_HALF_ETA + 1)
    # deposit one spot at each cell centre of cluster 0: every one lands in its own cell
    m = n_cells[0]
    sp = shower.Spots(
        event=np.zeros(m, np.int64),
        cluster=np.full(m, -1),
        layer=w.layer[c0],
        eta=w.eta[c0],
        phi=w.phi[c0],
        energy=np.arange(1.0, m + 1),
        time=np.zeros(m),
        signal=np.ones(m, bool),
    )
    e_sig, e_oth, _, _ = shower.deposit(sp, w, np.array([0, 1, 2, 3]))
    assert np.array_equal(e_sig[c0], np.arange(1.0, m + 1))
    assert e_sig[w.offsets[1] :].sum() == 0 and e_oth.sum() == 0
    # a spot far away is not deposited
    far = shower.Spots(
        event=np.zeros(1, np.int64),
        cluster=np.full(1, -1),
        layer=np.array([2]),
        eta=np.array([2.0]),
        phi=np.array([1.0]),
        energy=np.ones(1),
        time=np.zeros(1),
        signal=np.ones(1, bool),
    )
    assert shower.deposit(far, w, np.array([0, 1, 2, 3]))[0].sum() == 0
