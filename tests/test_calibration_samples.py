"""Reading electrons/photons with their clusters and truth from NanoAOD-style files."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from calocoffea.bdt.inputs import CLUSTER_COLUMNS, PHOTON_COLUMNS
from calocoffea.bdt.samples import read_objects


def _write(path, electron_cluster=((1, 0), (0,)), drop=None):
    # event 0: two electrons (second one unmatched), event 1: one electron
    cluster = {c: [[10.0 + k, 20.0 + k], [30.0 + k]] for k, c in enumerate(CLUSTER_COLUMNS)}
    photon = {c: ak.Array([[1.5 + k], []]) for k, c in enumerate(PHOTON_COLUMNS)}
    photon["convType"] = ak.Array([[2], []])
    photon["convRadius"] = ak.Array([[35.0], []])
    branches = {
        "event": np.array([7, 8], dtype=np.uint64),
        "Pileup_nTrueInt": np.array([30.0, 40.0], dtype=np.float32),
        "Cluster": ak.zip({c: ak.Array(v) for c, v in cluster.items()}),
        "Electron": ak.zip(
            {
                "clusterIdx": ak.Array([list(electron_cluster[0]), list(electron_cluster[1])]),
                "genPartIdx": ak.Array([[0, -1], [1]]),
                "charge": ak.Array([[-1, 1], [1]]),
                # the first electron of event 1 has no track
                "trackIdx": ak.Array([[1, 0], [-1]]),
            }
        ),
        "Track": ak.zip({"pt": ak.Array([[11.0, 12.0], []]), "eta": ak.Array([[0.4, 0.5], []]),
                         "z0": ak.Array([[1.0, 2.0], []])}),
        "Photon": ak.zip({"clusterIdx": ak.Array([[0], []]), "genPartIdx": ak.Array([[0], []]),
                          **photon}),
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
    # the electron's own track through trackIdx; NaN for the one without a track
    np.testing.assert_allclose(t.columns["trackPt"], [12.0, np.nan])
    np.testing.assert_allclose(t.columns["trackZ0"], [2.0, np.nan])
    np.testing.assert_array_equal(t.columns["charge"], [-1, 1])
    np.testing.assert_allclose(t.columns["mu"], [30.0, 40.0])
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
