"""Reading electrons/photons with their clusters and truth from NanoAOD-style files."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from calocoffea.bdt.samples import CLUSTER_COLUMNS, read_objects


def _write(path, electron_cluster=((1, 0), (0,)), drop=None):
    # event 0: two electrons (second one unmatched), event 1: one electron
    cluster = {c: [[10.0 + k, 20.0 + k], [30.0 + k]] for k, c in enumerate(CLUSTER_COLUMNS)}
    branches = {
        "event": np.array([7, 8], dtype=np.uint64),
        "Cluster": ak.zip({c: ak.Array(v) for c, v in cluster.items()}),
        "Electron": ak.zip(
            {
                "clusterIdx": ak.Array([list(electron_cluster[0]), list(electron_cluster[1])]),
                "genPartIdx": ak.Array([[0, -1], [1]]),
            }
        ),
        "Photon": ak.zip(
            {
                "clusterIdx": ak.Array([[0], []]),
                "genPartIdx": ak.Array([[0], []]),
                "convType": ak.Array([[2], []]),
                "convRadius": ak.Array([[35.0], []]),
                "convPtRatio": ak.Array([[1.1], []]),
                "convLeadPtFrac": ak.Array([[0.7], []]),
            }
        ),
        "GenPart": ak.zip(
            {
                "pt": ak.Array([[40.0], [20.0, 50.0]]),
                "eta": ak.Array([[0.5], [1.0, -2.0]]),
                "mass": ak.Array([[0.000511], [0.000511, 0.0]]),
            }
        ),
    }
    branches = {k: v for k, v in branches.items() if k != drop}
    # mktree: a TTree as in the data contract (plain assignment would write an RNTuple)
    with uproot.recreate(path) as f:
        tree = f.mktree(
            "Events",
            {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in branches.items()},
        )
        tree.extend(branches)
    return path


def test_gather_and_truth(tmp_path):
    t = read_objects(_write(tmp_path / "a.root"), "electron")
    assert len(t) == 2 and t.n_unmatched == 1
    # matched electrons: event 0 -> cluster 1, event 1 -> cluster 0
    np.testing.assert_allclose(t.columns["eAcc"], [20.0, 30.0])
    np.testing.assert_allclose(t.columns["eTileGap"], [20.0 + 9, 30.0 + 9])
    np.testing.assert_array_equal(t.event, [7, 8])
    np.testing.assert_allclose(t.e_true, [40.0 * np.cosh(0.5), 50.0 * np.cosh(-2.0)], rtol=1e-6)
    p = read_objects(tmp_path / "a.root", "photon")
    assert len(p) == 1
    assert p.columns["convType"][0] == 2
    assert p.columns["convRadius"][0] == pytest.approx(35.0)


def test_without_truth_keeps_everything(tmp_path):
    t = read_objects(_write(tmp_path / "a.root"), "electron", truth=False)
    assert len(t) == 3 and t.e_true is None


def test_errors_name_file_and_branch(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.root"):
        read_objects(tmp_path / "missing.root", "electron")
    path = _write(tmp_path / "b.root", drop="GenPart")
    with pytest.raises(KeyError, match="GenPart_pt"):
        read_objects(path, "electron")
    path = _write(tmp_path / "c.root", electron_cluster=((1, 5), (0,)))
    with pytest.raises(ValueError, match="clusterIdx out of range"):
        read_objects(path, "electron")
