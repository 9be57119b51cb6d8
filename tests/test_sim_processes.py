import numpy as np
import pytest

from calocoffea.constants import GAMMA_Z_GEV, ME_GEV, MH_GEV, MZ_GEV
from calocoffea.sim import processes as k


def _p4(g, rows):
    pt, eta, phi, m = g.pt[rows], g.eta[rows], g.phi[rows], g.mass[rows]
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + m**2)], axis=1)


def _mass(p):
    return np.sqrt(np.maximum(p[:, 3] ** 2 - np.sum(p[:, :3] ** 2, axis=1), 0))


def _event_rows(g):
    starts = np.searchsorted(g.event, np.arange(g.n_events))
    return starts, np.diff(np.append(starts, len(g.event)))


def test_zee_breit_wigner_and_daughters():
    g = k.gen_zee(np.random.default_rng(1), 20000)
    starts, counts = _event_rows(g)
    assert set(np.unique(counts)) <= {3, 4, 5}
    z = starts
    # m(e e + FSR photons) is the Breit-Wigner mass
    tot = _p4(g, z + 1) + _p4(g, z + 2)
    ph = np.nonzero(g.pdg_id == 22)[0]
    np.add.at(tot, g.event[ph], _p4(g, ph))
    assert np.allclose(_mass(tot), g.mass[z], rtol=1e-6)
    assert abs(np.median(g.mass[z]) - MZ_GEV) < 0.1
    # half the BW mass within +-Gamma/2 of the pole (truncation makes it slightly more)
    frac = np.mean(np.abs(g.mass[z] - MZ_GEV) < GAMMA_Z_GEV / 2)
    assert 0.48 < frac < 0.56
    assert set(g.pdg_id[z + 1]) == {11} and set(g.pdg_id[z + 2]) == {-11}
    assert np.all(g.mother[z + 1] == 0)
    # FSR photons hang off their electron; m(ee) falls below m_Z only in events with FSR
    assert set(np.unique(g.mother[ph])) == {1, 2}
    m_ee = _mass(_p4(g, z + 1) + _p4(g, z + 2))
    no_fsr = counts == 3
    assert np.allclose(m_ee[no_fsr], g.mass[z][no_fsr], rtol=1e-6)
    assert np.all(m_ee[~no_fsr] < g.mass[z][~no_fsr] * (1 + 1e-9))


def test_zee_fsr_rate_and_spectrum():
    g = k.gen_zee(np.random.default_rng(5), 40000)
    ph = np.nonzero(g.pdg_id == 22)[0]
    starts, _ = _event_rows(g)
    mom = starts[g.event[ph]] + g.mother[ph]
    # emission rate per electron = the integrated quasi-collinear probability (binomial error)
    e_before = g.energy[mom] + g.energy[ph]
    expected = k.fsr_probability(np.concatenate([g.energy[starts + 1], g.energy[starts + 2]]),
                                 ME_GEV).mean()
    rate = len(ph) / (2 * g.n_events)
    assert abs(rate - expected) < 5 * np.sqrt(expected / (2 * g.n_events)) + 0.01
    assert 0.2 < rate < 0.4
    # the energy fraction follows (1 + (1-z)^2)/z: half of the photons below z ~ 0.04
    zf = g.energy[ph] / e_before
    assert zf.min() > 0.5 * k.FSR_Z_RANGE[0] and zf.max() < 1.0
    assert 0.01 < np.median(zf) < 0.1
    # collinear: most photons within 0.01 rad-ish of the electron (theta_0 = m_e/E ~ 1e-5)
    dr = np.hypot(g.eta[ph] - g.eta[mom], np.angle(np.exp(1j * (g.phi[ph] - g.phi[mom]))))
    assert np.median(dr) < 0.01
    assert np.mean(dr > 0.1) > 0.05


def test_zmumugamma_three_body_mass_is_the_z_mass():
    g = k.gen_zmumugamma(np.random.default_rng(2), 10000)
    z = np.arange(0, 40000, 4)
    p = _p4(g, z + 1) + _p4(g, z + 2) + _p4(g, z + 3)
    assert np.allclose(_mass(p), g.mass[z], rtol=2e-3)
    assert np.all(g.pdg_id[z + 3] == 22)
    assert set(np.unique(g.mother[z + 3])) == {1, 2}
    # generator-level photon E_T cut, as in the Sherpa mumugamma samples
    assert g.pt[z + 3].min() >= k.ZMUMUGAMMA_PHOTON_ET_MIN
    # without the cut, FSR is collinear-enhanced: most photons close to their muon
    g = k.gen_zmumugamma(np.random.default_rng(2), 10000, photon_et_min=0.0)
    mom = z + g.mother[z + 3]
    dr = np.hypot(g.eta[z + 3] - g.eta[mom], np.angle(np.exp(1j * (g.phi[z + 3] - g.phi[mom]))))
    assert 0.02 < np.median(dr) < 0.6


def test_hgamgam_mass():
    g = k.gen_hgamgam(np.random.default_rng(3), 5000)
    h = np.arange(0, 15000, 3)
    assert np.allclose(_mass(_p4(g, h + 1) + _p4(g, h + 2)), MH_GEV, rtol=1e-6)


@pytest.mark.parametrize("pdg", [11, 22])
def test_gun_ranges(pdg):
    g = k.gen_gun(np.random.default_rng(4), 20000, pdg)
    assert g.pt.min() >= 5.0 and g.pt.max() <= 500.0
    assert np.abs(g.eta).max() < 2.47
    g2 = k.gen_gun(np.random.default_rng(4), 1000, pdg, energy=50.0, eta_range=(0.2, 0.4))
    assert (
        np.allclose(g2.energy, 50.0, rtol=1e-6)
        if pdg == 22
        else np.allclose(g2.energy, 50.0, rtol=1e-4)
    )


def test_unknown_process():
    with pytest.raises(ValueError, match="unknown process"):
        k.generate(np.random.default_rng(0), "ttbar", 10)
