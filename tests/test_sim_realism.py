"""The realism pieces of the simulation: tracking resolutions, vertices, conversions,
pile-up tracks from the interactions that deposit the pile-up energy, shower fluctuations
and dynamic superclusters. Each test compares with the parametrisation or published value
the simulation cites (docs/simulation.md) and would fail if the piece were missing."""

from __future__ import annotations

import numpy as np
import pytest

from calocoffea import geometry as geo
from calocoffea.sim import default_config, detector, pileup, processes, superclusters, tracking
from calocoffea.sim import pipeline as pl


def _robust_sigma(x: np.ndarray) -> float:
    q25, q75 = np.percentile(x, [25, 75])
    return (q75 - q25) / 1.349


def test_track_resolution_follows_the_atlas_table_rows():
    # the two rows of JINST 3 S08003 table 10.2 at their |eta| centres
    for eta, (s_inf, p_x) in ((0.375, (0.34e-3, 44.0)), (1.625, (0.41e-3, 80.0))):
        for pt in (5.0, 40.0, 200.0):
            want = pt * s_inf * np.hypot(1.0, p_x / pt)
            assert tracking.pt_resolution(np.array([pt]), np.array([eta]))[0] == pytest.approx(want)
    # monotonic in |eta| and p_T at high p_T (longer lever arm centrally)
    pts = np.full(3, 40.0)
    res = tracking.pt_resolution(pts, np.array([0.2, 1.2, 2.2]))
    assert res[0] < res[1] < res[2]
    assert 0.015 < res[0] < 0.025 and res[2] < 0.07


def test_muon_and_id_track_momenta_have_the_parametrised_spread():
    rng = np.random.default_rng(11)
    gen = processes.generate(rng, "zmumugamma", 6000)
    cols, trk = detector.muon_tracks_and_objects(rng, gen)
    sel = (np.abs(gen.pdg_id) == 13) & (np.abs(gen.eta) < 2.5) & (gen.pt > 3.0)
    true_pt, true_eta = gen.pt[sel], gen.eta[sel]
    # combined muons: 1.5 % (+) 0.02 % pT
    pull = (cols["pt"] / true_pt - 1.0) / np.hypot(0.015, 0.0002 * true_pt)
    assert _robust_sigma(pull) == pytest.approx(1.0, abs=0.06)
    # their ID tracks: the |eta|- and pT-dependent table parametrisation
    for lo, hi in ((0.0, 0.8), (0.8, 1.6), (1.6, 2.5)):
        m = (np.abs(true_eta) >= lo) & (np.abs(true_eta) < hi)
        pull = (trk.pt[m] / true_pt[m] - 1.0) / tracking.pt_resolution(true_pt[m], true_eta[m])
        assert _robust_sigma(pull) == pytest.approx(1.0, abs=0.08), (lo, hi)


def test_vertices_are_reconstructed_with_inefficiency_and_tracks_can_land_on_the_wrong_one():
    rng = np.random.default_rng(3)
    mu = np.full(2000, 60.0)
    inter = pileup.interactions(rng, mu)
    assert inter.count().mean() == pytest.approx(60.0, rel=0.02)
    hs = rng.normal(0.0, processes.BEAMSPOT_SIGMA_Z, 2000)
    vtx = tracking.reconstruct_vertices(rng, hs, inter.offsets, inter.z)
    per_interaction = (vtx.count() - 1) / inter.count()
    # efficiency 0.55 less the vertices merged within 0.5 mm at this density
    assert 0.45 < per_interaction.mean() < tracking.VERTEX_EFFICIENCY
    assert np.all(vtx.z[vtx.offsets[:-1]] == hs)  # the hard scatter is vertex 0
    # tracks from the hard scatter: vertex 0 mostly; tracks from pile-up sometimes too
    n = 5000
    ev = rng.integers(0, 2000, n)
    sz0 = np.full(n, 0.01)
    hs_trk = tracking.associate(ev, hs[ev] + sz0 * rng.standard_normal(n), sz0, vtx)
    assert np.mean(hs_trk == 0) > 0.95
    pick = inter.offsets[ev] + (rng.random(n) * inter.count()[ev]).astype(int)
    pu_trk = tracking.associate(ev, inter.z[pick] + sz0 * rng.standard_normal(n), sz0, vtx)
    assert 0.0 < np.mean(pu_trk == 0) < 0.1  # wrongly on the hard scatter
    assert np.mean(pu_trk == -1) > 0.2  # their vertex was not reconstructed


def test_pileup_tracks_come_from_the_interactions_that_deposit_the_pileup_energy():
    rng = np.random.default_rng(5)
    n_obj = 3000
    event = np.arange(n_obj)
    # very different numbers of interactions per event, so both the tracks and the energy
    # follow them
    mu = rng.uniform(5.0, 120.0, n_obj)
    inter = pileup.interactions(rng, mu)
    eta = rng.uniform(-1.0, 1.0, n_obj)
    phi = rng.uniform(-np.pi, np.pi, n_obj)
    spots, trk = pileup.in_time_particles(rng, event, eta, phi, inter, cfg=default_config("mc"))
    near = (np.abs(spots.eta - eta[spots.cluster]) < 0.1) & (
        np.abs(np.angle(np.exp(1j * (spots.phi - phi[spots.cluster])))) < 0.15)
    energy = np.bincount(spots.cluster[near], weights=spots.energy[near], minlength=n_obj)
    n_trk = np.bincount(trk.event, minlength=n_obj)
    # residual of each against the event's true number of interactions is uncorrelated, the
    # raw counts are strongly correlated through it
    assert np.corrcoef(energy, n_trk)[0, 1] > 0.4
    # every pile-up track carries the z of one of its event's interactions (within σ(z0))
    z_true = [inter.z[inter.offsets[e]:inter.offsets[e + 1]] for e in trk.event[:200]]
    dz = np.array([np.min(np.abs(zs - z)) for zs, z in zip(z_true, trk.z0[:200], strict=True)])
    assert np.all(dz < 6 * trk.sz0[:200])


def test_conversions_follow_material_and_have_single_track_ones():
    rng = np.random.default_rng(7)
    gen = processes.generate(rng, "gammagun", 20000)
    objs = detector.select_objects(gen)
    detector.propagate(rng, gen, objs)
    x_id = geo.id_material_x0(np.abs(objs.eta))
    p_expected = 1.0 - np.exp(-7.0 / 9.0 * x_id)
    converted = objs.conv_radius > 0
    # converted fraction = 1 - exp(-7/9 X/X0) within 3 statistical standard errors
    err = np.sqrt(np.sum(p_expected * (1 - p_expected))) / len(objs)
    assert abs(converted.mean() - p_expected.mean()) < 3 * err
    legs = objs.leg_reco[converted].sum(axis=1)
    r = objs.conv_radius[converted]
    reco = legs > 0
    single = legs == 1
    inner, outer = r < 30.0, (r >= 55.0) & (r < 80.0)
    # efficiency falls with radius; single-track conversions dominate at large radius
    assert reco[inner].mean() > 0.9 and reco[outer].mean() < 0.7
    assert np.mean(single[inner & reco]) < 0.2 and np.mean(single[outer & reco]) > 0.6
    assert not reco[r >= detector.CONV_RECO_MAX_RADIUS].any()
    assert 0.15 < np.mean(single[reco]) < 0.5
    # energy sharing 1 - 4/3 x(1-x): asymmetric splits more often than uniform
    x = objs.conv_x[converted]
    assert np.mean(np.minimum(x, 1 - x) < 0.1) > 0.21  # uniform: 0.20; PDG: 0.23


def test_pair_energy_fraction_matches_the_pdg_shape():
    x = detector.pair_energy_fraction(np.random.default_rng(1), 400_000)
    hist, edges = np.histogram(x, bins=10, range=(0, 1), density=True)
    c = 0.5 * (edges[1:] + edges[:-1])
    want = (1 - 4 / 3 * c * (1 - c)) / (7 / 9)
    assert np.allclose(hist, want, rtol=0.02)


def test_gflash_spot_statistics_move_energy_between_cells_and_keep_the_total():
    from calocoffea.sim.reconstruction import spot_fluctuations

    cfg = default_config("mc")
    n_cl, n_cells = 4000, 20
    expected = np.tile(np.linspace(0.5, 5.0, n_cells), n_cl)  # 55 GeV per cluster
    cluster = np.repeat(np.arange(n_cl), n_cells)
    out = spot_fluctuations(np.random.default_rng(2), expected, cluster, cfg)
    totals = np.bincount(cluster, weights=out)
    np.testing.assert_allclose(totals, np.bincount(cluster, weights=expected), rtol=1e-12)
    # each cell is (E/N) Poisson(N e/E): variance e E/N, N = 93 ln(Z) E^0.876
    e_tot = expected[:n_cells].sum()
    n_spots = 93.0 * np.log(cfg.z_eff) * e_tot**0.876
    per_cell = out.reshape(n_cl, n_cells)
    want = np.sqrt(expected[:n_cells] * e_tot / n_spots)
    # (the rescaling to the total removes a little of the spread: 1 - 1/n_cells)
    np.testing.assert_allclose(per_cell.std(axis=0), want, rtol=0.08)
    off = spot_fluctuations(np.random.default_rng(2), expected, cluster,
                            __import__("dataclasses").replace(cfg, gflash_spot_coeff=0.0))
    np.testing.assert_array_equal(off, expected)


@pytest.mark.slow
def test_lateral_containment_fluctuates_shower_to_shower():
    """Without sampling, noise, pile-up or constant term, the containment of unconverted
    50 GeV photons in a fixed 3x7 middle-layer window still fluctuates: GFlash's correlated
    (ln T, ln alpha) per shower moves the lateral profile with the depth, and the spots and
    the impact position inside the cell do the rest."""
    import dataclasses

    cfg = dataclasses.replace(
        default_config("mc"), sampling_barrel=1e-6, sampling_endcap=1e-6,
        sampling_presampler=1e-6, noise_gev=(1e-6,) * 4, constant_barrel=0.0,
        constant_endcap=0.0,
    )
    cols = pl.simulate_chunk(np.random.default_rng(9), "gammagun", 1500, cfg,
                             mu_profile="fixed:0", energy_fn=None,
                             gun_options={"energy": 50.0, "eta_range": (0.2, 0.6)})
    n_cl, clusters = cols.collections["Cluster"]
    n_ph, photons = cols.collections["Photon"]
    first = np.concatenate([[0], np.cumsum(n_cl)[:-1]])
    glob = np.repeat(first, n_ph) + photons["clusterIdx"]  # event-local -> chunk index
    r_eta = clusters["rEta"][glob][photons["convType"] == 0]
    assert 0.9 < np.median(r_eta) < 0.99
    assert 0.003 < np.std(r_eta) < 0.03


def _window(n_eta=11, n_phi=17):
    """Middle-layer-only window cells of one object at the lattice origin (keta = jphi = 0)."""
    a, b = np.meshgrid(np.arange(n_eta), np.arange(n_phi), indexing="ij")
    eta = (a.ravel() - n_eta // 2 + 0.5) * geo.LAYER2_DETA
    phi = -np.pi + (b.ravel() - n_phi // 2 + 0.5) * geo.LAYER2_DPHI
    n = eta.size
    cells = {"layer": np.full(n, 2), "eta": eta, "phi": phi,
             "deta": np.full(n, geo.LAYER2_DETA), "dphi": np.full(n, geo.LAYER2_DPHI),
             "e": np.zeros(n)}
    return cells, a.ravel() - n_eta // 2, b.ravel() - n_phi // 2


def _sc(cells, *, is_e, trk_phi=np.nan, trk_eta=np.nan):
    n = len(cells["e"])
    return superclusters.build(
        cells, np.full(n, 0.03**2), np.array([0, n]), np.array([0]), np.array([0]),
        is_electron=np.array([is_e]), trk_eta=np.array([trk_eta]), trk_phi=np.array([trk_phi]),
        conv_eta=np.array([np.nan]), conv_phi=np.array([np.nan]),
        leg_phi=np.full((1, 2), np.nan), half_eta=5, half_phi=8,
    )


def test_supercluster_adds_track_matched_satellites_and_cuts_eta():
    cells, da, db = _window()
    seed = (da == 0) & (db == 0)
    cells["e"][seed] = 30.0
    cells["e"][(da == 0) & (np.abs(db) == 1)] = 3.0
    sat = (da == 0) & (db == 5)  # 5 cells away in phi: outside the 3x5 window, inside 5x12
    cells["e"][sat] = 4.0
    far_eta = (da == 3) & (db == 0)  # a separate deposit 3 cells away in eta
    cells["e"][far_eta] = 2.0
    phi0 = -np.pi + 0.5 * geo.LAYER2_DPHI
    # a photon: the satellite is outside its window and not matched
    sc = _sc(cells, is_e=False)
    assert sc.in_sc[seed].all() and not sc.in_sc[sat].any()
    # an electron whose track sweeps from the satellite's phi to the seed: matched
    sc = _sc(cells, is_e=True, trk_phi=phi0 + 5 * geo.LAYER2_DPHI, trk_eta=0.0125)
    assert sc.in_sc[sat].all() and sc.n_satellites[0] == 1
    # a deposit 3 cells away in eta is outside the +-1.5-cell eta range of the barrel
    assert not sc.in_sc[far_eta].any()
    assert not sc.fallback[0]
    # the shapes see the seed: R_phi of a seed with two equal neighbours in phi
    shapes = superclusters.shower_shapes(cells, np.array([0, len(cells["e"])]), sc)
    assert shapes["e2"][0] == pytest.approx(30.0 + 2 * 3.0 + 4.0)
    assert shapes["rPhi"][0] == pytest.approx(1.0)
    assert shapes["rEta"][0] == pytest.approx(36.0 / 38.0)
