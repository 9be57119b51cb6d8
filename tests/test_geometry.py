import numpy as np
import pytest

from calocoffea import geometry as g


def test_table_granularities():
    deta, dphi = g.cell_size(1, np.array([0.3, 1.45, 1.6, 1.9, 2.1, 2.45]))
    assert np.allclose(deta, [0.025 / 8, 0.025, 0.025 / 8, 0.025 / 6, 0.025 / 4, 0.025])
    assert np.allclose(dphi[[0, 2]], 2 * np.pi / 64)
    deta2, dphi2 = g.cell_size(2, np.array([0.1, 1.42, 2.0]))
    assert np.allclose(deta2, [0.025, 0.075, 0.025])
    assert np.allclose(dphi2, g.LAYER2_DPHI)
    d0, _ = g.cell_size(0, np.array([0.5, 1.7, 1.9]))
    assert np.isclose(d0[0], 0.025) and np.isnan(d0[2])
    d3, _ = g.cell_size(3, np.array([1.0, 1.4, 1.6]))
    assert np.isnan(d3[1]) and np.isclose(d3[0], 0.05) and np.isclose(d3[2], 0.05)


@pytest.mark.parametrize("layer", g.LAYERS)
def test_grid_edges_contain_region_boundaries(layer):
    grid = g.layer_grid(layer)
    assert np.all(np.diff(grid.edges) > 0)
    assert np.isclose(grid.edges[0], -g.CALO_ETA_MAX) and np.isclose(grid.edges[-1], 2.5)
    for lo, hi, _, _ in g._SEGMENTS[layer]:
        for b in (lo, hi):
            assert np.min(np.abs(grid.edges - b)) < 1e-12
    # mirror symmetric
    assert np.allclose(grid.edges, -grid.edges[::-1])


@pytest.mark.parametrize("layer", g.LAYERS)
def test_point_lies_in_its_cell(layer):
    rng = np.random.default_rng(1)
    eta = rng.uniform(-2.49, 2.49, 5000)
    phi = rng.uniform(-np.pi, np.pi, 5000)
    c = g.cell_index_and_center(layer, eta, phi)
    ok = c.ieta >= 0
    assert ok.mean() > 0.5
    assert np.all(np.abs(eta[ok] - c.eta[ok]) <= c.deta[ok] / 2 + 1e-12)
    dphi = g.wrap_phi(phi[ok] - c.phi[ok])
    assert np.all(np.abs(dphi) <= c.dphi[ok] / 2 + 1e-12)
    deta, _ = g.cell_size(layer, np.abs(eta))
    assert np.array_equal(np.isnan(deta), ~ok)


def test_material_and_depths():
    a = np.linspace(0, 2.47, 50)
    assert np.all(g.upstream_x0(a) > 1.5)
    assert g.upstream_x0(1.45) > g.upstream_x0(0.2) + 2
    d = g.accordion_depths_x0(a)
    assert d.shape == (50, 3)
    assert np.all(np.diff(d, axis=-1) >= 0)
    assert np.all(d[:, 2] >= 18)
    assert g.in_crack(1.45) and not g.in_crack(1.2)
    assert np.isclose(g.IMAGE_ETA_PITCH * 8, g.LAYER2_DETA)
