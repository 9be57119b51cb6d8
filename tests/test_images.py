"""Tests of calocoffea.cnn.images: up-sampled 56x11 per-layer cluster images."""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pytest
from conftest import cluster_cells
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calocoffea import geometry
from calocoffea.cnn.images import (
    N_ETA,
    N_PHI,
    build_images,
    images_from_clusters,
    pixel_edges,
)
from calocoffea.kinematics import wrap_phi

PE = geometry.IMAGE_ETA_PITCH
PP = geometry.IMAGE_PHI_PITCH


# ------------------------------------------------------------------------------------------
# Independent slow reference: absolute coordinates, explicit sub-cells, window cut at the end.
# ------------------------------------------------------------------------------------------
def _n_sub(size: float, pitch: float) -> tuple[int, float]:
    """Sub-cells per axis and the cell width used: whole multiples of the pitch (within
    1e-3) are exact; otherwise the fewest sub-cells no wider than a pixel."""
    for m in range(1, 1000):
        if abs(size / pitch - m) <= 1e-3:
            return m, m * pitch
    n = 1
    while size / n > pitch:
        n += 1
    return n, size


def reference_image(cells: dict, eta_c: float, phi_c: float, with_time: bool = False):
    """Plain-Python up-sampling of one cluster; returns (image list[c][i][j], valid)."""
    n_ch = 8 if with_time else 4
    img = [[[0.0] * N_PHI for _ in range(N_ETA)] for _ in range(n_ch)]
    wsum = [[[0.0] * N_PHI for _ in range(N_ETA)] for _ in range(4)]
    if len(cells["e"]) == 0 or not (math.isfinite(eta_c) and math.isfinite(phi_c)):
        return img, False
    eta_lo = eta_c - (N_ETA / 2) * PE
    phi_lo = phi_c - (N_PHI / 2) * PP
    for row in zip(
        cells["e"],
        cells["eta"],
        cells["phi"],
        cells["deta"],
        cells["dphi"],
        cells["layer"],
        cells.get("time", [0.0] * len(cells["e"])),
        strict=True,
    ):
        e, eta, phi_raw, deta, dphi = (float(x) for x in row[:5])
        lay = int(row[5])
        t = float(row[6]) if with_time else 0.0
        if not all(math.isfinite(x) for x in (e, eta, phi_raw, deta, dphi, t)):
            return [[[0.0] * N_PHI for _ in range(N_ETA)] for _ in range(n_ch)], False
        # bring the cell next to the window: try the 2*pi images of its phi
        phi = min((phi_raw + s * 2 * math.pi for s in (-1, 0, 1)), key=lambda p: abs(p - phi_c))
        (n_eta, deta), (n_phi, dphi) = _n_sub(deta, PE), _n_sub(dphi, PP)
        share = e / (n_eta * n_phi)
        for a in range(n_eta):
            sub_eta = eta - deta / 2 + (a + 0.5) * deta / n_eta
            i = math.floor((sub_eta - eta_lo) / PE + 1e-6)  # ties: upper pixel
            if not 0 <= i < N_ETA:
                continue
            for b in range(n_phi):
                sub_phi = phi - dphi / 2 + (b + 0.5) * dphi / n_phi
                j = math.floor((sub_phi - phi_lo) / PP + 1e-6)
                if not 0 <= j < N_PHI:
                    continue
                img[lay][i][j] += share
                if with_time:
                    wsum[lay][i][j] += abs(share)
                    img[4 + lay][i][j] += abs(share) * t
    if with_time:
        for c in range(4):
            for i in range(N_ETA):
                for j in range(N_PHI):
                    if wsum[c][i][j] > 0:
                        img[4 + c][i][j] /= wsum[c][i][j]
    return img, True


def _concat(clusters: list[dict]) -> tuple[dict, np.ndarray]:
    keys = ("e", "eta", "phi", "deta", "dphi", "layer", "time")
    flat = {k: np.concatenate([np.asarray(c[k]) for c in clusters]) for k in keys}
    offsets = np.concatenate([[0], np.cumsum([len(c["e"]) for c in clusters])])
    return flat, offsets


def _build(clusters: list[dict], etas, phis, with_time=False):
    flat, offsets = _concat(clusters)
    return build_images(
        flat["e"],
        flat["eta"],
        flat["phi"],
        flat["layer"],
        offsets,
        cluster_eta=np.asarray(etas),
        cluster_phi=np.asarray(phis),
        cell_deta=flat["deta"],
        cell_dphi=flat["dphi"],
        cell_time=flat["time"],
        with_time=with_time,
    )


def _single_cell(layer, eta, phi, deta, dphi, *, e=1.0, time=0.0) -> dict:
    return {
        "e": np.array([e]),
        "eta": np.array([eta]),
        "phi": np.array([phi]),
        "deta": np.array([deta]),
        "dphi": np.array([dphi]),
        "layer": np.array([layer], np.uint8),
        "time": np.array([time]),
    }


# ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_reference_agreement_100_random_clusters():
    rng = np.random.default_rng(11)
    # barrel, crack and end-cap (including the 4/3-ratio strips at 1.8-2.0), both signs
    regions = [(0.0, 1.37), (1.37, 1.52), (1.52, 2.47)]
    clusters, etas, phis = [], [], []
    for k in range(100):
        lo, hi = regions[k % 3]
        eta = float(rng.uniform(lo, hi) * rng.choice([-1, 1]))
        phi = float(rng.uniform(-np.pi, np.pi))
        clusters.append(cluster_cells(rng, eta, phi, float(rng.uniform(20, 300))))
        etas.append(eta)
        phis.append(phi)
    images, valid = _build(clusters, etas, phis, with_time=True)
    assert valid.all()
    for k in range(100):
        ref, ok = reference_image(clusters[k], etas[k], phis[k], with_time=True)
        assert ok
        ref = np.asarray(ref)
        scale = np.abs(ref[:4]).max()
        np.testing.assert_allclose(images[k, :4], ref[:4], rtol=1e-5, atol=1e-5 * scale)
        np.testing.assert_allclose(images[k, 4:], ref[4:], rtol=1e-5, atol=1e-5)
    # the crack (layer-2 cells of 0.075) and the 4/3 strips were really exercised
    all_cells = _concat(clusters)[0]
    assert np.any(np.isclose(all_cells["deta"], 0.075))
    assert np.any(np.isclose(all_cells["deta"], 0.025 / 6))


def test_energy_conservation_cells_inside_window():
    rng = np.random.default_rng(3)
    clusters, etas, phis = [], [], []
    for eta in (0.2, -0.9, 1.45, 1.9, -2.2):
        phi = float(rng.uniform(-3, 3))
        cells = cluster_cells(rng, eta, phi, 100.0)
        ee, pe = pixel_edges(eta, phi)
        d_phi = wrap_phi(cells["phi"] - phi)
        half_eta, half_phi = cells["deta"] / 2, cells["dphi"] / 2
        inside = (
            (cells["eta"] - half_eta >= ee[0])
            & (cells["eta"] + half_eta <= ee[-1])
            & (d_phi - half_phi >= pe[0] - phi)
            & (d_phi + half_phi <= pe[-1] - phi)
        )
        clusters.append({k: v[inside] for k, v in cells.items()})
        etas.append(eta)
        phis.append(phi)
    images, valid = _build(clusters, etas, phis)
    assert valid.all()
    for k, c in enumerate(clusters):
        assert len(c["e"]) > 20
        for lay in range(4):
            sel = c["layer"] == lay
            expected = c["e"][sel].sum(dtype=np.float64)
            scale = np.abs(c["e"][sel]).sum() + 1e-30
            assert abs(images[k, lay].sum(dtype=np.float64) - expected) <= 1e-6 * scale


def test_centring_single_cell_deposits():
    """A layer-2 cell holding all the energy: centroid within half a pixel of its centre."""
    rng = np.random.default_rng(5)
    for _ in range(50):
        eta = float(rng.uniform(-2.45, 2.45))
        phi = float(rng.uniform(-np.pi, np.pi))
        cell = geometry.cell_index_and_center(2, np.array([eta]), np.array([phi]))
        c = _single_cell(2, cell.eta[0], cell.phi[0], cell.deta[0], cell.dphi[0], e=50.0)
        # barycentre anywhere inside the cell
        images, valid = _build([c], [eta], [phi])
        assert valid[0]
        img = images[0, 2].astype(np.float64)
        assert img.sum() == pytest.approx(50.0, rel=1e-6)
        i = np.arange(N_ETA) + 0.5
        j = np.arange(N_PHI) + 0.5
        cen_eta = (img.sum(axis=1) * i).sum() / img.sum()
        cen_phi = (img.sum(axis=0) * j).sum() / img.sum()
        exp_eta = N_ETA / 2 + (cell.eta[0] - eta) / PE
        exp_phi = N_PHI / 2 + wrap_phi(cell.phi[0] - phi) / PP
        assert abs(cen_eta - exp_eta) <= 0.5 + 1e-9
        assert abs(cen_phi - exp_phi) <= 0.5 + 1e-9


def test_cell_at_barycentre_fills_central_pixels():
    c = _single_cell(2, 0.5125, 0.0, 0.025, PP, e=8.0)
    images, _ = _build([c], [0.5125], [0.0])
    nz = np.argwhere(images[0, 2] != 0)
    assert sorted(set(nz[:, 0])) == list(range(24, 32))  # 8 strips wide, centred in 56
    assert set(nz[:, 1]) == {5}  # the middle of 11
    np.testing.assert_allclose(images[0, 2][24:32, 5], 1.0)


def test_empty_clusters_are_invalid_and_zero():
    rng = np.random.default_rng(2)
    full = cluster_cells(rng, 0.4, 1.0, 50.0)
    empty = {k: v[:0] for k, v in full.items()}
    images, valid = _build([empty, full, empty, empty], [0.1, 0.4, 0.0, 2.0], [0, 1.0, 0, 0])
    assert valid.tolist() == [False, True, False, False]
    assert not images[[0, 2, 3]].any()
    assert images[1].any()
    # no clusters at all
    images, valid = build_images(
        np.zeros(0),
        np.zeros(0),
        np.zeros(0),
        np.zeros(0, np.uint8),
        np.zeros(1, np.int64),
        cluster_eta=np.zeros(0),
        cluster_phi=np.zeros(0),
        cell_deta=np.zeros(0),
        cell_dphi=np.zeros(0),
    )
    assert images.shape == (0, 4, N_ETA, N_PHI) and valid.shape == (0,)


def test_cells_crossing_the_window_edge_contribute_their_inside_part():
    eta_c, phi_c = 0.3, 0.2
    ee, pe = pixel_edges(eta_c, phi_c)
    # back-layer cell (16 pixels wide) centred on the lower eta edge: half inside
    back = _single_cell(3, ee[0], phi_c, 0.05, PP, e=4.0)
    # presampler cell (4 pixels in phi) centred on the upper phi edge: half inside
    pres = _single_cell(0, eta_c, pe[-1], 0.025, 4 * PP, e=2.0)
    # strip cell entirely outside, just beyond the upper eta edge
    out = _single_cell(1, ee[-1] + PE / 2, phi_c, PE, 4 * PP, e=7.0)
    images, valid = _build([back, pres, out], [eta_c] * 3, [phi_c] * 3)
    assert valid.all()
    assert images[0, 3].sum() == pytest.approx(2.0, rel=1e-6)
    assert images[0, 3, :8].sum() == pytest.approx(2.0, rel=1e-6)  # first 8 eta pixels
    assert images[1, 0].sum() == pytest.approx(1.0, rel=1e-6)
    assert images[1, 0, :, 9:].sum() == pytest.approx(1.0, rel=1e-6)  # last 2 phi pixels
    assert not images[2].any() and valid[2]


def test_phi_wraparound_matches_shifted_cluster():
    rng = np.random.default_rng(9)
    shift = 2 * np.pi / 64 * 31  # keeps every layer's phi grid aligned
    for phi_c in (np.pi - 0.01, -np.pi + 0.004):
        cells = cluster_cells(rng, 0.7, phi_c, 80.0)
        assert (np.abs(cells["phi"]) > 2.8).all()
        assert (cells["phi"] > 0).any() and (cells["phi"] < 0).any()  # both sides of +-pi
        moved = dict(cells, phi=wrap_phi(cells["phi"] - shift))
        img_a, va = _build([cells], [0.7], [phi_c])
        img_b, vb = _build([moved], [0.7], [wrap_phi(phi_c - shift)])
        assert va[0] and vb[0]
        np.testing.assert_allclose(img_a, img_b, atol=1e-6)
        assert img_a[0, :4].sum() == pytest.approx(cells["e"].sum(), rel=0.05)


def test_time_channels_are_energy_weighted_cell_times():
    a = _single_cell(2, 0.0125, 0.0, 0.025, PP, e=3.0, time=2.5)
    b = _single_cell(2, 0.0125, 0.0, 0.025, PP, e=1.0, time=-1.5)
    ab = {k: np.concatenate([a[k], b[k]]) for k in a}
    images, valid = _build([ab], [0.0125], [0.0], with_time=True)
    assert valid[0] and images.shape[1] == 8
    np.testing.assert_allclose(images[0, 6][24:32, 5], (3 * 2.5 - 1.5) / 4, rtol=1e-6)
    assert not images[0, 6][:24].any() and not images[0, 4].any()


def test_geometry_sizes_used_when_not_given():
    rng = np.random.default_rng(4)
    etas = (0.1, 1.42, 1.46, 1.5, 1.9, -1.95, 2.1, -2.42)
    clusters = [cluster_cells(rng, eta, 0.3, 60.0) for eta in etas]
    flat, offsets = _concat(clusters)
    kw = dict(cluster_eta=np.array(etas), cluster_phi=np.full(len(etas), 0.3))
    with_sizes, _ = build_images(
        flat["e"],
        flat["eta"],
        flat["phi"],
        flat["layer"],
        offsets,
        cell_deta=flat["deta"],
        cell_dphi=flat["dphi"],
        **kw,
    )
    from_geo, valid = build_images(
        flat["e"], flat["eta"], flat["phi"], flat["layer"], offsets, **kw
    )
    assert valid.all()
    np.testing.assert_array_equal(with_sizes, from_geo)


def test_size_table_matches_cell_size():
    from calocoffea import geometry

    upper, deta, dphi, n_seg = geometry.size_table()
    a = np.linspace(0.0, 2.6, 5201)
    for lay in range(4):
        want_e, want_p = geometry.cell_size(lay, a)
        s = np.array([np.searchsorted(upper[lay, : n_seg[lay]], x, side="right") for x in a])
        inside = s < n_seg[lay]
        got_e = np.where(inside, deta[lay, np.minimum(s, n_seg[lay] - 1)], np.nan)
        got_p = np.where(inside, dphi[lay, np.minimum(s, n_seg[lay] - 1)], np.nan)
        np.testing.assert_allclose(got_e, want_e, rtol=1e-9, equal_nan=True)
        np.testing.assert_allclose(got_p, want_p, rtol=1e-12, equal_nan=True)


def test_bad_input_raises_clear_errors():
    c = _single_cell(4, 0.0, 0.0, 0.025, PP)
    with pytest.raises(ValueError, match="layer"):
        _build([c], [0.0], [0.0])
    c = _single_cell(2, 0.0, 0.0, 0.025, PP)
    with pytest.raises(ValueError, match="offsets"):
        build_images(
            c["e"],
            c["eta"],
            c["phi"],
            c["layer"],
            np.array([0, 2]),
            cluster_eta=np.zeros(1),
            cluster_phi=np.zeros(1),
        )
    with pytest.raises(ValueError, match="cluster_eta"):
        build_images(
            c["e"],
            c["eta"],
            c["phi"],
            c["layer"],
            np.array([0, 1]),
            cluster_eta=np.zeros(2),
            cluster_phi=np.zeros(2),
        )


def test_images_from_plain_awkward_clusters_with_missing_entries():
    rng = np.random.default_rng(8)
    cl = [cluster_cells(rng, eta, -1.0, 40.0) for eta in (0.3, -1.6)]
    clusters = ak.zip(
        {
            "eta": [0.3, -1.6],
            "phi": [-1.0, -1.0],
            "cells": ak.zip(
                {
                    f: ak.Array([cl[0][f], cl[1][f]])
                    for f in ("e", "eta", "phi", "deta", "dphi", "layer")
                }
            ),
        },
        depth_limit=1,
    )
    # events -> electrons -> ?cluster: [[c0, None], [], [c1]]
    nested = ak.Array([[clusters[0], None], [], [clusters[1]]])
    images, valid = images_from_clusters(nested)
    assert valid.tolist() == [True, False, True]
    direct, _ = _build(cl, [0.3, -1.6], [-1.0, -1.0])
    np.testing.assert_array_equal(images[[0, 2]], direct)
    assert not images[1].any()


# ------------------------------------------------------------------------------------------
# Property tests: random layouts, empty clusters, huge and non-finite values.
# ------------------------------------------------------------------------------------------
_energy = st.one_of(
    st.floats(-5, 500, allow_nan=False),
    st.floats(-1e30, 1e30, allow_nan=False),
    st.sampled_from([np.nan, np.inf, -np.inf, 1e39, 0.0]),
)


@st.composite
def _cluster(draw):
    eta_c = draw(st.floats(-2.5, 2.5))
    phi_c = draw(st.floats(-np.pi, np.pi))
    n = draw(st.integers(0, 12))
    cells = {k: [] for k in ("e", "eta", "phi", "deta", "dphi", "layer", "time")}
    for _ in range(n):
        cells["layer"].append(draw(st.integers(0, 3)))
        cells["deta"].append(draw(st.sampled_from([PE, 0.025 / 6, 0.025 / 4, 0.025, 0.05, 0.075])))
        cells["dphi"].append(draw(st.sampled_from([PP, 4 * PP])))
        cells["eta"].append(eta_c + draw(st.floats(-0.15, 0.15)))
        cells["phi"].append(float(wrap_phi(phi_c + draw(st.floats(-0.2, 0.2)))))
        cells["e"].append(draw(_energy))
        cells["time"].append(draw(st.floats(-25, 25)))
    cells = {
        k: np.asarray(v, dtype=np.uint8 if k == "layer" else np.float64) for k, v in cells.items()
    }
    return cells, eta_c, phi_c


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_cluster(), min_size=0, max_size=4))
def test_property_random_layouts(batch):
    clusters = [b[0] for b in batch]
    etas = [b[1] for b in batch]
    phis = [b[2] for b in batch]
    if not batch:
        flat = {k: np.zeros(0) for k in ("e", "eta", "phi", "deta", "dphi", "time")}
        flat["layer"] = np.zeros(0, np.uint8)
        images, valid = build_images(
            flat["e"],
            flat["eta"],
            flat["phi"],
            flat["layer"],
            np.zeros(1, np.int64),
            cluster_eta=np.zeros(0),
            cluster_phi=np.zeros(0),
            cell_deta=flat["deta"],
            cell_dphi=flat["dphi"],
        )
        assert images.shape[0] == 0
        return
    images, valid = _build(clusters, etas, phis, with_time=True)
    assert images.dtype == np.float32 and np.isfinite(images).all()
    for k, c in enumerate(clusters):
        if not valid[k]:
            assert not images[k].any()
        finite = np.isfinite(c["e"]).all() and np.all(np.abs(c["e"]) < 1e36)
        if len(c["e"]) and finite:
            ref, ok = reference_image(c, etas[k], phis[k], with_time=True)
            assert valid[k] and ok
            ref = np.asarray(ref)
            scale = max(np.abs(ref[:4]).max(), 1e-30)
            np.testing.assert_allclose(images[k, :4], ref[:4], rtol=1e-5, atol=1e-5 * scale)
        elif len(c["e"]) == 0 or not np.isfinite(c["e"]).all():
            assert not valid[k]


def test_ranges_into_shared_cells_and_a_dirty_output_buffer():
    """build_images_from_ranges on cell ranges (in any order, repeated, with gaps) of one
    cell array, written into a garbage-filled buffer, equals build_images per cluster."""
    from calocoffea.cnn.images import build_images_from_ranges

    rng = np.random.default_rng(5)
    clusters = [cluster_cells(rng, eta, phi, 60.0) for eta, phi in
                ((0.3, 1.0), (-1.45, -3.1), (2.1, 0.2))]
    cat = {k: np.concatenate([c[k] for c in clusters]) for k in clusters[0]}
    bounds = np.concatenate([[0], np.cumsum([c["e"].size for c in clusters])])
    order = [2, 0, 0, 1]  # out of order and repeated
    etas, phis = np.array([0.3, -1.45, 2.1]), np.array([1.0, -3.1, 0.2])
    out = np.full((len(order) + 1, 4, N_ETA, N_PHI), np.nan, np.float32)
    starts = np.array([bounds[k] for k in order] + [0])
    stops = np.array([bounds[k + 1] for k in order] + [0])  # last one: no cells
    images, valid = build_images_from_ranges(
        cat["e"], cat["eta"], cat["phi"], cat["layer"], starts, stops,
        cluster_eta=np.append(etas[order], 0.0), cluster_phi=np.append(phis[order], 0.0),
        cell_deta=cat["deta"], cell_dphi=cat["dphi"], out=out,
    )
    assert images is out and valid.tolist() == [True] * len(order) + [False]
    assert not images[-1].any()
    for row, k in enumerate(order):
        c = clusters[k]
        ref, _ = build_images(c["e"], c["eta"], c["phi"], c["layer"], [0, c["e"].size],
                              cluster_eta=etas[k:k + 1], cluster_phi=phis[k:k + 1],
                              cell_deta=c["deta"], cell_dphi=c["dphi"])
        np.testing.assert_array_equal(images[row], ref[0])
    with pytest.raises(ValueError, match="cell ranges"):
        build_images_from_ranges(cat["e"], cat["eta"], cat["phi"], cat["layer"], [0], [10**9],
                                 cluster_eta=[0.0], cluster_phi=[0.0])
