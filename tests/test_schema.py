"""Tests of calocoffea.schema: collections, cross-references and coffea executors."""

from __future__ import annotations

import warnings

import awkward as ak
import numpy as np
import pytest
import uproot
from coffea import processor
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from calocoffea.cnn.images import images_from_clusters
from calocoffea.schema import CaloNanoAODSchema


def _events(path, schema=CaloNanoAODSchema):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=schema).events()
    return events, caught


def test_collections_and_cross_references(synthetic_nanoaod):
    events, caught = _events(synthetic_nanoaod)
    assert [str(w.message) for w in caught] == []  # calocoffea files load without warnings
    raw = uproot.open(synthetic_nanoaod)["Events"].arrays(
        [
            "Electron_clusterIdx",
            "Electron_trackIdx",
            "Cluster_nCell",
            "CaloCell_clusterIdx",
            "CaloCell_e",
            "Track_pt",
            "Photon_clusterIdx",
        ]
    )
    for field in ("Cluster", "CaloCell", "Track"):
        assert field in events.fields
    ele = events.Electron
    # Electron.cluster is the cluster at Electron_clusterIdx (event-local index)
    n_cell = ak.to_list(ele.cluster.nCell)
    expected = [
        [int(raw.Cluster_nCell[i][k]) for k in idx]
        for i, idx in enumerate(ak.to_list(raw.Electron_clusterIdx))
    ]
    assert n_cell == expected
    # cells of each electron's cluster all point back to that cluster
    cells = ele.cluster.cells
    assert ak.all(ak.num(cells, axis=2) == ele.cluster.nCell)
    assert ak.all(cells.clusterIdx == ele.clusterIdx[:, :, None])
    assert ak.all(cells.cluster.eta == ele.cluster.eta[:, :, None])
    # Cluster.cells is doubly jagged and partitions CaloCell
    assert ak.to_list(ak.flatten(events.Cluster.cells.e, axis=2)) == ak.to_list(raw.CaloCell_e)
    assert ak.all(ele.track.pt == raw.Track_pt[raw.Electron_trackIdx])
    assert ak.all(events.Photon.cluster.nCell == raw.Cluster_nCell[raw.Photon_clusterIdx])
    assert ak.all(ele.track.matched_gen.pdgId == 11)
    # Lorentz behaviour is kept on the extended Electron and on Track
    assert ak.all(abs(ele.energy - ele.pt * np.cosh(ele.eta)) < 1e-3 * ele.energy)
    assert ak.all(ak.num(events.Track.pt) == ak.num(events.Track.px))
    clu = events.Cluster
    assert ak.all(abs(clu.et - clu.eAcc / np.cosh(clu.eta)) <= 1e-4 * abs(clu.eAcc))


def test_cross_references_survive_slicing(synthetic_nanoaod):
    events, _ = _events(synthetic_nanoaod)
    mask = ak.num(events.Electron) == 2
    assert 0 < ak.sum(mask) < len(events)
    sliced = events[mask].Electron.cluster.cells.e
    full = events.Electron.cluster.cells.e[mask]
    assert ak.to_list(sliced) == ak.to_list(full)
    lead = events[mask].Electron[:, 0]
    assert ak.to_list(lead.cluster.cells.layer) == ak.to_list(
        events.Electron[mask][:, 0].cluster.cells.layer
    )
    # images from sliced events equal images of the same clusters from the full events
    img_sliced, valid_sliced = images_from_clusters(events[mask].Electron.cluster)
    img_full, valid_full = images_from_clusters(events.Electron[mask].cluster)
    np.testing.assert_array_equal(img_sliced, img_full)
    assert valid_sliced.all() and valid_full.all()


def test_images_from_events(synthetic_nanoaod):
    events, _ = _events(synthetic_nanoaod)
    images, valid = images_from_clusters(events.Cluster, with_time=True)
    n_cell = ak.to_numpy(ak.flatten(events.Cluster.nCell))
    assert images.shape == (len(n_cell), 8, 56, 11)
    np.testing.assert_array_equal(valid, n_cell > 0)  # the cell-less cluster is invalid
    assert (~valid).sum() == 1 and not images[~valid].any()
    # photon images follow the flattened (event, photon) order
    ph_img, _ = images_from_clusters(events.Photon.cluster)
    assert len(ph_img) == ak.sum(ak.num(events.Photon))
    first = ak.flatten(events.Photon.clusterIdx)[0]
    event0 = int(np.argmax(ak.to_numpy(ak.num(events.Photon)) > 0))
    offset = int(ak.sum(ak.num(events.Cluster)[:event0]))
    np.testing.assert_array_equal(ph_img[0], images[offset + int(first), :4])


def test_real_cms_nanoaod_loads_without_calo_collections(nano_dy_path):
    events, caught = _events(nano_dy_path)
    _, caught_base = _events(nano_dy_path, NanoAODSchema)
    assert len(events) == 40
    for name in ("Cluster", "CaloCell", "Track"):
        assert name not in events.fields
    assert not hasattr(events.Electron, "clusterIdxG")
    with pytest.raises(AttributeError):
        _ = events.Electron.cluster.eta
    assert ak.sum(ak.num(events.Electron.pt)) > 0
    assert events.Electron.matched_gen.pdgId.ndim == 2  # standard cross-references still work
    messages = [str(w.message) for w in caught]
    assert len(messages) <= len(caught_base)
    assert not any(k in m for m in messages for k in ("Cluster", "CaloCell", "Track"))


class ImageSums(processor.ProcessorABC):
    """Tiny processor: counts and per-layer energy sums of the electron and photon images."""

    def process(self, events):
        out = {
            "events": len(events),
            "layer_sums": np.zeros(4),
            "n_valid": 0,
            "n_clusters": 0,
            "cell_e": 0.0,
        }
        for coll in (events.Electron, events.Photon):
            images, valid = images_from_clusters(coll[coll.pt > 0].cluster)
            out["layer_sums"] += images.sum(axis=(0, 2, 3), dtype=np.float64)
            out["n_valid"] += int(valid.sum())
            out["n_clusters"] += len(valid)
            out["cell_e"] += float(ak.sum(coll.cluster.cells.e))
        return out

    def postprocess(self, accumulator):
        return accumulator


def _run(executor, path):
    runner = processor.Runner(executor=executor, schema=CaloNanoAODSchema, chunksize=25)
    return runner({"syn": {"files": {str(path): "Events"}}}, processor_instance=ImageSums())


@pytest.mark.slow
def test_runner_iterative_futures_dask_agree(synthetic_nanoaod):
    from distributed import Client, LocalCluster

    results = {
        "iterative": _run(processor.IterativeExecutor(), synthetic_nanoaod),
        "futures": _run(processor.FuturesExecutor(workers=2), synthetic_nanoaod),
    }
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        results["dask"] = _run(
            processor.DaskExecutor(client=client, status=False), synthetic_nanoaod
        )
    ref = results["iterative"]
    n_events = uproot.open(synthetic_nanoaod)["Events"].num_entries
    assert ref["events"] == n_events
    assert ref["n_clusters"] == ref["n_valid"] + 1  # one cluster without cells
    assert ref["layer_sums"][2] > 0
    for name, res in results.items():
        assert res["events"] == ref["events"], name
        assert res["n_valid"] == ref["n_valid"] and res["n_clusters"] == ref["n_clusters"], name
        np.testing.assert_allclose(res["layer_sums"], ref["layer_sums"], rtol=1e-9, err_msg=name)
        assert res["cell_e"] == pytest.approx(ref["cell_e"], rel=1e-9), name


@pytest.fixture(scope="module")
def sim_zee(tmp_path_factory):
    """A small file from calocoffea's own simulation (120 Z->ee events, seed 21)."""
    from calocoffea.sim import generate_file

    path = tmp_path_factory.mktemp("sim") / "zee.root"
    generate_file(path, "zee", kind="mc", n_events=120, seed=21)
    return path


@pytest.mark.slow
def test_simulated_file_images_centred_on_barycentre(sim_zee):
    events, caught = _events(sim_zee)
    assert [str(w.message) for w in caught] == []
    clusters = events.Electron.cluster
    images, valid = images_from_clusters(clusters)
    assert len(valid) > 100 and valid.all()
    # the layer-2 energy centroid sits at the window centre: the image is centred on the
    # barycentre that the simulation's reconstruction computed
    l2 = np.clip(images[:, 2].astype(np.float64), 0.0, None)
    total = l2.sum(axis=(1, 2))
    c_eta = (l2.sum(axis=2) * (np.arange(56) + 0.5)).sum(axis=1) / total
    c_phi = (l2.sum(axis=1) * (np.arange(11) + 0.5)).sum(axis=1) / total
    assert abs(np.median(c_eta) - 28.0) < 0.25 and np.quantile(abs(c_eta - 28.0), 0.9) < 1.0
    assert abs(np.median(c_phi) - 5.5) < 0.25 and np.quantile(abs(c_phi - 5.5), 0.9) < 0.6
    # the 7x11 window holds the cluster core: layer-2 image energy ~ Cluster_e2
    e2 = ak.to_numpy(ak.fill_none(ak.flatten(clusters.e2), np.nan))
    assert 0.95 < np.median(images[:, 2].sum(axis=(1, 2)) / e2) < 1.1


def test_inconsistent_cell_counts_raise_a_clear_error(synthetic_nanoaod, tmp_path):
    """A Cluster_nCell that does not add up to nCaloCell must not shift cells silently."""
    arrays = uproot.open(synthetic_nanoaod)["Events"].arrays(library="ak")
    n_cell = arrays["Cluster_nCell"]
    flat = ak.to_numpy(ak.flatten(n_cell)).copy()
    flat[0] += 1  # one cell too many for the first cluster of the first event with clusters
    arrays["Cluster_nCell"] = ak.unflatten(flat, ak.num(n_cell))
    cols = {k: ak.to_numpy(arrays[k]) for k in ("run", "luminosityBlock", "event")}
    for name in ("Electron", "Photon", "Cluster", "CaloCell", "Track", "GenPart"):
        fields = [f for f in arrays.fields if f.startswith(name + "_")]
        cols[name] = ak.zip({f[len(name) + 1 :]: arrays[f] for f in fields})
    types = {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in cols.items()}
    broken = tmp_path / "broken.root"
    with uproot.recreate(broken) as fout:
        fout.mktree("Events", types).extend(cols)
    events, _ = _events(broken)
    # (events read without metadata: the file is named "<input>"; through coffea's Runner
    # the message names it, tests/test_reliability_validation.py)
    with pytest.raises(ValueError, match=r"Cluster_nCell = \d+ at entry \d+: "
                       r"\(sum over the event's clusters\) differs from nCaloCell = \d+"):
        images_from_clusters(events.Electron.cluster)


def test_primary_vertices_without_positions_are_a_plain_collection(sim_zee, nano_dy_path):
    events, _ = _events(sim_zee)
    npvs = uproot.open(sim_zee)["Events"]["PV_npvs"].array(library="np")
    assert np.array_equal(ak.to_numpy(events.PV.npvs), npvs)
    assert ak.to_numpy(events[events.PV.npvs > 20].PV.npvs).min() > 20
    # real NanoAOD keeps coffea's Vertex behaviour (positions)
    real, _ = _events(nano_dy_path)
    assert ak.all(np.isfinite(real.PV.pos.z))
