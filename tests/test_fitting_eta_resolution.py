import numpy as np
import pytest

from calocoffea import binning
from calocoffea.fitting import eta_resolution
from calocoffea.fitting.result import FitResult

PAIRS = binning.eta_pair_categories()


def _results(sig, rel_err=0.01, rejected=()):
    return [
        FitResult(
            model="bwcb",
            status="ok",
            accepted=k not in rejected,
            values={"sigma": float(np.hypot(sig[i], sig[j]))},
            errors={"sigma": rel_err * float(np.hypot(sig[i], sig[j]))},
        )
        for k, (i, j) in enumerate(PAIRS)
    ]


def test_solve_resolution_exact():
    sig = np.array([0.6, 0.8, 1.5, 1.0, 1.2])
    res = eta_resolution.solve_resolution(PAIRS, _results(sig), 5)
    assert np.allclose(res.sigma, sig, rtol=1e-10)
    assert np.all(res.physical) and res.ndf == 10
    assert np.all(res.sigma_error > 0) and np.all(res.sigma_error < 0.05 * sig)


def test_solve_resolution_with_rejections_and_unphysical_bin():
    sig = np.array([0.6, 0.8, 1.5, 1.0, 1.2])
    results = _results(sig, rejected=(0, 5))
    res = eta_resolution.solve_resolution(PAIRS, results, 5)
    assert np.allclose(res.sigma, sig, rtol=1e-10)
    assert res.used_categories == [k for k in range(15) if k not in (0, 5)]
    # sigma_0^2 = -0.1 (bin 0 "narrows" every pair): reported as 0 and not physical
    s2 = np.array([-0.1, 0.64, 2.25, 1.0, 1.44])
    fake = [
        FitResult(
            model="bwcb",
            status="ok",
            accepted=(i, j) != (0, 0),
            values={"sigma": float(np.sqrt(abs(s2[i] + s2[j])))},
            errors={"sigma": 0.01},
        )
        for i, j in PAIRS
    ]
    bad = eta_resolution.solve_resolution(PAIRS, fake, 5)
    assert not bad.physical[0] and bad.sigma[0] == 0.0
    assert np.allclose(bad.sigma[1:], np.sqrt(s2[1:]), rtol=1e-8)


def test_photon_width_thesis_eq_6_4():
    # thesis eq. 6.4: 1 - (1.625 - 1.269) / (1.764 - 1.269) = 28.1 %
    cnn, e_cnn = eta_resolution.photon_width(1.625, 0.006, 1.269, 0.012)
    bdt, e_bdt = eta_resolution.photon_width(1.764, 0.013, 1.269, 0.012)
    imp, err = eta_resolution.relative_improvement(cnn, e_cnn, bdt, e_bdt)
    assert imp == pytest.approx(0.281, abs=0.001)
    assert 0.01 < err < 0.05
    w, e = eta_resolution.photon_width(1.5, 0.01, 0.9, 0.01, mode="quadrature")
    assert w == pytest.approx(1.2) and e > 0
    with pytest.raises(ValueError, match="mode"):
        eta_resolution.photon_width(1.0, 0.1, 0.5, 0.1, mode="cubic")
