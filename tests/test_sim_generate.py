"""End-to-end: files from calocoffea.sim open with uproot and coffea and follow the contract."""

import json

import numpy as np
import pytest
import uproot

from calocoffea.app.cli import main
from calocoffea.sim import generate_file
from calocoffea.sim.generate import conditions_path
from calocoffea.sim.writer import truncate_mantissa

N = 300


@pytest.fixture(scope="session")
def zee_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    out = {}
    for name, kind, seed in (("a", "mc", 7), ("b", "mc", 7), ("c", "mc", 8), ("d", "data", 7)):
        path = d / f"zee_{name}.root"
        generate_file(path, "zee", kind=kind, n_events=N, seed=seed, chunk_size=200)
        out[name] = path
    return out


def _arrays(path):
    return uproot.open(path)["Events"].arrays(library="np")


def test_ttree_not_rntuple_and_contract_branches(zee_files):
    f = uproot.open(zee_files["a"])
    tree = f["Events"]
    assert isinstance(tree, uproot.TTree)
    assert tree.num_entries == N
    keys = set(tree.keys())
    for b in [
        "run",
        "luminosityBlock",
        "event",
        "Pileup_nTrueInt",
        "PV_npvs",
        "genWeight",
        "nElectron",
        "Electron_pt",
        "Electron_clusterIdx",
        "Electron_trackIdx",
        "Electron_genPartIdx",
        "Electron_cutBased",
        "Cluster_eAcc",
        "Cluster_e0",
        "Cluster_e3",
        "Cluster_etaMod",
        "Cluster_phiMod",
        "Cluster_etaIndex",
        "Cluster_eTileGap",
        "Cluster_nCell",
        "CaloCell_clusterIdx",
        "CaloCell_layer",
        "CaloCell_eta",
        "CaloCell_deta",
        "CaloCell_e",
        "CaloCell_time",
        "Track_pt",
        "Track_d0Sig",
        "Track_vtxIdx",
        "GenPart_genPartIdxMother",
        "GenPart_statusFlags",
        "Photon_convType",
        "Photon_convRadius",
        "Photon_convZ",
        "Photon_convPt1",
        "Photon_convPt2",
        "Photon_convPt",
        "Photon_convPtRatio",
        "Photon_convEtOverPt",
        "Photon_convNSi",
        "Cluster_rEta",
        "Cluster_rPhi",
        "Cluster_wEta2",
        "Cluster_wS3",
        "Cluster_f1",
        "Cluster_f3",
        "Cluster_eRatio",
        "Cluster_sigmaIetaIeta",
        "Cluster_r9",
        "Cluster_eWindow0",
        "Cluster_eWindow3",
        "PV_z",
        "Muon_tightId",
    ]:
        assert b in keys, b
    a = tree.arrays(["nCluster", "Cluster_nCell", "nCaloCell", "CaloCell_clusterIdx"], library="np")
    for n_cl, n_cell, n_tot, idx in zip(
        a["nCluster"],
        a["Cluster_nCell"],
        a["nCaloCell"],
        a["CaloCell_clusterIdx"],
        strict=True,
    ):
        assert n_cell.sum() == n_tot
        assert np.array_equal(idx, np.repeat(np.arange(n_cl), n_cell))


def test_same_seed_identical_other_seed_different(zee_files):
    a, b, c = (_arrays(zee_files[k]) for k in "abc")
    assert a.keys() == b.keys()
    for k in a:
        assert all(np.array_equal(x, y) for x, y in zip(a[k], b[k], strict=True)), k
    assert not np.array_equal(np.concatenate(a["CaloCell_e"]), np.concatenate(c["CaloCell_e"])[:1])
    assert not np.allclose(a["Pileup_nTrueInt"], c["Pileup_nTrueInt"])


def test_data_like_has_no_truth_and_a_sidecar(zee_files):
    keys = set(uproot.open(zee_files["d"])["Events"].keys())
    assert not any(k.startswith("GenPart") or "genPartIdx" in k or k == "genWeight" for k in keys)
    cond = json.loads(conditions_path(zee_files["d"]).read_text())
    assert len(cond["scale_offsets"]) == len(cond["abs_eta_edges"]) - 1
    # the mean injected scale per |eta| bin: percent-level, over objects actually simulated
    assert all(n > 0 for n in cond["scale_offsets_objects"])
    assert max(abs(x) for x in cond["scale_offsets"]) <= 0.03
    assert max(abs(x) for x in cond["scale_offsets"]) >= 0.002
    assert set(cond["strengths"]) >= {"scale", "nonlinearity", "shower_width", "material",
                                      "noise", "time_offset", "extra_constant", "map_seed"}
    assert not conditions_path(zee_files["a"]).exists()
    mu = uproot.open(zee_files["d"])["Events"]["Pileup_nTrueInt"].array(library="np")
    assert mu.min() >= 15 and mu.max() <= 40


def test_opens_with_coffea_nanoevents(zee_files):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    events = NanoEventsFactory.from_root(
        {str(zee_files["a"]): "Events"}, schemaclass=NanoAODSchema, mode="eager"
    ).events()
    assert len(events) == N
    e = events.Electron
    gen_e = e.matched_gen.pt * np.cosh(e.matched_gen.eta)
    import awkward as ak

    ratio = ak.flatten(e.pt * np.cosh(e.eta) / gen_e).to_numpy()
    assert 0.85 < np.median(ratio) < 1.02


def test_size_per_cluster(zee_files):
    t = uproot.open(zee_files["a"])["Events"]
    n_cl = t["nCluster"].array(library="np").sum()
    assert zee_files["a"].stat().st_size / n_cl < 4096


def test_cli_generate_gun(tmp_path):
    out = tmp_path / "g.root"
    rc = main(
        [
            "generate",
            "--process",
            "gammagun",
            "--events",
            "50",
            "--seed",
            "3",
            "--out",
            str(out),
            "--no-standard-calibration",
            "--gun-et",
            "20,30",
            "--gun-eta",
            "0,1",
        ]
    )
    assert rc == 0
    g = uproot.open(out)["Events"].arrays(["GenPart_pt", "GenPart_eta"], library="np")
    pt = np.concatenate(g["GenPart_pt"])
    assert pt.min() >= 20 and pt.max() <= 30
    assert np.concatenate(g["GenPart_eta"]).min() >= 0
    assert (
        main(
            [
                "generate",
                "--process",
                "zee",
                "--events",
                "5",
                "--out",
                str(out),
                "--kind",
                "mc",
                "--condition",
                "scale=0.5",
                "--no-standard-calibration",
            ]
        )
        == 2
    )


def test_cli_generate_conditions(tmp_path):
    out = tmp_path / "d.root"
    base = ["generate", "--process", "zee", "--events", "20", "--out", str(out), "--kind",
            "data", "--no-standard-calibration"]
    assert main([*base, "--condition", "noise=0.5", "--condition", "scale=0"]) == 0
    cond = json.loads(conditions_path(out).read_text())
    assert cond["strengths"]["noise"] == 0.5 and cond["strengths"]["scale"] == 0.0
    assert cond["strengths"]["material"] == 1.0
    assert main([*base, "--mc-like"]) == 0
    cond = json.loads(conditions_path(out).read_text())
    assert all(v == 0.0 for k, v in cond["strengths"].items() if k != "map_seed")
    assert all(x is None or abs(x) < 1e-12 for x in cond["scale_offsets"])
    with pytest.raises(SystemExit):
        main([*base, "--condition", "colour=1"])
    assert main([*base, "--mc-like", "--condition", "noise=1"]) == 2


def test_truncate_mantissa_precision():
    x = np.random.default_rng(0).uniform(-100, 100, 1000)
    y = truncate_mantissa(x, 10)
    assert np.all(np.abs(y - x) <= np.abs(x) * 2.0**-11 * 1.0001)
    assert np.all(np.isfinite(y))
    assert len(np.unique(y.view(np.uint32) & np.uint32((1 << 13) - 1))) == 1


def test_opens_with_project_schema(zee_files):
    from coffea.nanoevents import NanoEventsFactory

    from calocoffea.schema import CaloNanoAODSchema

    events = NanoEventsFactory.from_root(
        {str(zee_files["a"]): "Events"}, schemaclass=CaloNanoAODSchema, mode="eager"
    ).events()
    assert len(events) == N
    for name in ("Electron", "Photon", "Cluster", "CaloCell", "Track", "GenPart", "Muon"):
        assert name in events.fields


def test_compression_changes_bytes_not_events(tmp_path, zee_files):
    """LZ4 (the default, ROOT's analysis setting) and ZSTD files of one seed hold the same
    events; a bad specification is refused with its reason."""
    from calocoffea.sim.writer import parse_compression

    assert uproot.open(zee_files["a"]).file.fCompress == 404  # LZ4, level 4
    other = tmp_path / "zee_zstd.root"
    generate_file(other, "zee", n_events=N, seed=7, chunk_size=200, compression="zstd:6")
    assert uproot.open(other).file.fCompress == 506
    a, z = _arrays(zee_files["a"]), _arrays(other)
    assert a.keys() == z.keys()
    for k in a:
        assert all(np.array_equal(x, y) for x, y in zip(a[k], z[k], strict=True)), k
    for bad, reason in (("snappy:1", "algorithm"), ("lz4:x", "not an integer"),
                        ("zstd:99", "zstd:99")):
        with pytest.raises(ValueError, match=reason):
            parse_compression(bad)


def test_baskets_stay_below_one_compression_block(tmp_path):
    """A chunk whose cell branches exceed MAX_BASKET_BYTES (lowered here to 1 MiB) is split
    into baskets below it (ROOT's compression blocks are at most 16 MiB: one block per basket
    is decompressed without an extra copy)."""
    from calocoffea.sim import writer

    path = tmp_path / "big_chunk.root"
    old = writer.MAX_BASKET_BYTES
    writer.MAX_BASKET_BYTES = 1 << 20
    try:
        generate_file(path, "zee", n_events=600, seed=3, chunk_size=600)
    finally:
        writer.MAX_BASKET_BYTES = old
    branch = uproot.open(path)["Events"]["CaloCell_e"]
    sizes = [branch.basket(i).uncompressed_bytes for i in range(branch.num_baskets)]
    assert branch.num_baskets > 1 and max(sizes) <= 1 << 20
    assert branch.num_entries == 600
