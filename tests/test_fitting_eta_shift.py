import numpy as np
import pytest

from calocoffea import binning
from calocoffea.constants import MZ_GEV
from calocoffea.fitting import eta_shift
from calocoffea.fitting.result import FitResult
from calocoffea.histograms import book_mass

PAIRS = binning.eta_pair_categories()


def _results_for(alpha_corr, err=0.01, rejected=()):
    """Fit results whose CB shifts are exactly those produced by energy scales 1/(1+alpha)."""
    out = []
    for k, (i, j) in enumerate(PAIRS):
        # eq. 9.8 linear model: (a_i + a_j)/2 = (m_Z - m_ij)/m_ij
        m_ij = MZ_GEV / (1.0 + 0.5 * (alpha_corr[i] + alpha_corr[j]))
        res = FitResult(
            model="bwcb",
            values={"mu": m_ij - MZ_GEV},
            errors={"mu": err},
            status="ok",
            accepted=k not in rejected,
        )
        out.append(res)
    return out


def test_solve_alpha_exact_linear_model():
    alpha = np.array([0.004, -0.006, 0.012, -0.01, 0.008])
    shift = eta_shift.solve_alpha(PAIRS, _results_for(alpha), 5)
    assert np.allclose(shift.alpha, alpha, atol=1e-12)
    assert shift.chi2 == pytest.approx(0.0, abs=1e-12)
    assert shift.ndf == 10
    assert np.all(shift.errors > 0)


def test_solve_alpha_ignores_rejected_and_flags_unconstrained_bins():
    alpha = np.array([0.004, -0.006, 0.012, -0.01, 0.008])
    res = _results_for(alpha)
    # poison every category with bin 2 and reject them: alpha_2 must be unidentified
    rejected = [k for k, (i, j) in enumerate(PAIRS) if 2 in (i, j)]
    for k in rejected:
        res[k].values["mu"] = 50.0
        res[k].accepted = False
    shift = eta_shift.solve_alpha(PAIRS, res, 5)
    assert not shift.identified[2] and np.isnan(shift.errors[2])
    keep = [0, 1, 3, 4]
    assert np.allclose(shift.alpha[keep], alpha[keep], atol=1e-12)
    assert shift.n_used == len(PAIRS) - len(rejected)


def test_alpha_errors_scale_with_fit_errors():
    alpha = np.zeros(5)
    e1 = eta_shift.solve_alpha(PAIRS, _results_for(alpha, err=0.01), 5).errors
    e2 = eta_shift.solve_alpha(PAIRS, _results_for(alpha, err=0.02), 5).errors
    assert np.allclose(e2, 2 * e1, rtol=1e-3)


def test_rescale_counts_moves_mean_and_keeps_interior_total():
    rng = np.random.default_rng(5)
    edges = np.linspace(75, 105, 301)
    x = rng.normal(90.0, 2.0, 200_000)
    counts, _ = np.histogram(x, edges)
    out = eta_shift.rescale_counts(counts, edges, 1.01)
    centres = 0.5 * (edges[1:] + edges[:-1])
    assert out.sum() == pytest.approx(counts.sum(), rel=1e-6)
    ref, _ = np.histogram(1.01 * x, edges)
    assert np.average(centres, weights=out) == pytest.approx(
        np.average(centres, weights=ref), abs=0.01
    )
    with pytest.raises(ValueError, match="positive"):
        eta_shift.rescale_counts(counts, edges, 0.0)


def test_apply_to_mass_hist_only_touches_given_calibration():
    h = book_mass("zee", len(PAIRS))
    rng = np.random.default_rng(2)
    for calib in ("bdt", "cnn"):
        h.fill(
            calibration=calib,
            etacat=np.zeros(5000, int),
            mu=np.full(5000, 30.0),
            mass=rng.normal(90, 2, 5000),
        )
    alpha = np.array([0.01, 0, 0, 0, 0])
    out = eta_shift.apply_to_mass_hist(h, {"bdt": alpha}, PAIRS)
    v_in, v_out = h.view()["value"], out.view()["value"]
    assert np.array_equal(v_in[1], v_out[1])  # cnn untouched
    centres = h.axes["mass"].centers
    mean_in = np.average(centres, weights=v_in[0, 0].sum(axis=0))
    mean_out = np.average(centres, weights=v_out[0, 0].sum(axis=0))
    assert mean_out / mean_in == pytest.approx(1.01, abs=2e-4)


def test_apply_to_mass_hist_double_storage():
    import hist

    ref = book_mass("zee", len(PAIRS))
    h = hist.Hist(*ref.axes, storage=hist.storage.Double())
    rng = np.random.default_rng(4)
    h.fill(
        calibration="cnn",
        etacat=np.full(4000, 3),
        mu=np.full(4000, 30.0),
        mass=rng.normal(90, 2, 4000),
    )
    out = eta_shift.apply_to_mass_hist(h, {"cnn": np.array([0.0, -0.02, 0, 0, 0])}, PAIRS)
    # category 3 is the pair (0, 3): alpha_1 does not touch it
    assert np.array_equal(out.view(), h.view())
    out = eta_shift.apply_to_mass_hist(h, {"cnn": np.array([-0.02, 0, 0, 0, 0])}, PAIRS)
    centres = h.axes["mass"].centers
    ic = h.axes["calibration"].index("cnn")
    ratio = np.average(centres, weights=out.view()[ic, 3].sum(axis=0)) / np.average(
        centres, weights=h.view()[ic, 3].sum(axis=0)
    )
    assert ratio == pytest.approx(np.sqrt(0.98), abs=2e-4)
