import numpy as np
import pytest

from calocoffea.sim import kinematics as k


def _p4(g, rows):
    pt, eta, phi, m = g.pt[rows], g.eta[rows], g.phi[rows], g.mass[rows]
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + m**2)], axis=1)


def _mass(p):
    return np.sqrt(np.maximum(p[:, 3] ** 2 - np.sum(p[:, :3] ** 2, axis=1), 0))


def test_zee_breit_wigner_and_daughters():
    g = k.gen_zee(np.random.default_rng(1), 20000)
    assert len(g.pt) == 60000
    z = np.arange(0, 60000, 3)
    m_ll = _mass(_p4(g, z + 1) + _p4(g, z + 2))
    assert np.allclose(m_ll, g.mass[z], rtol=1e-6)
    assert abs(np.median(g.mass[z]) - k.MZ) < 0.1
    # half the BW mass within +-Gamma/2 of the pole (truncation makes it slightly more)
    frac = np.mean(np.abs(g.mass[z] - k.MZ) < k.GZ / 2)
    assert 0.48 < frac < 0.56
    assert set(g.pdg_id[z + 1]) == {11} and set(g.pdg_id[z + 2]) == {-11}
    assert np.all(g.mother[z + 1] == 0)


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
    assert np.allclose(_mass(_p4(g, h + 1) + _p4(g, h + 2)), k.MH, rtol=1e-6)


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
