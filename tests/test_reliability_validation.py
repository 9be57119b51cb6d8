"""Reliability against inconsistent file contents (issue 16, classes 1, 4, 7): index and count
columns, branch types, non-finite values, missing cell branches.

Every bad file is a rewrite of a small simulated Z→ee file (or of the synthetic channel sample)
with one column edited. A bad index or count is an error naming file, branch, entry and value
(:class:`calocoffea.execution.runner.BadInputError` from ``runner.run``, exit status 2 from
the command line); a non-finite object kinematic is a counted rejection. docs/reliability.md
lists every case.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from test_processors import write_channel_sample
from test_reliability_inputs import rewrite_tree

from calocoffea.app.cli import main
from calocoffea.execution import runner
from calocoffea.execution.outputs import single_dataset
from calocoffea.fileset import normalize_fileset, write_fileset
from processors import make_processor

pytestmark = [
    pytest.mark.filterwarnings("ignore::processors.base.StandardOnlyWarning"),
    pytest.mark.filterwarnings("ignore:Performed attempt"),
]


@pytest.fixture(scope="module")
def sim_file(tmp_path_factory) -> Path:
    """200 simulated Z→ee MC events with cells (E_acc-based pt)."""
    from calocoffea.sim.generate import generate_file

    path = tmp_path_factory.mktemp("valsim") / "zee.root"
    generate_file(path, "zee", kind="mc", n_events=200, seed=5151)
    return path


@pytest.fixture(scope="module")
def channel_file(tmp_path_factory) -> Path:
    return write_channel_sample(tmp_path_factory.mktemp("valch") / "ch.root", 600, 41)


def run(path: Path, proc: str = "zee", calibrations=None, **opts):
    fileset = normalize_fileset({"s": [str(path)]})
    options = runner.RunOptions(**{"executor": "iterative", "progress": False, **opts})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, metrics = runner.run(make_processor(proc, calibrations=calibrations), fileset,
                                  options)
        return single_dataset(out), metrics


def per_event(cols: dict, coll: str, field: str, values) -> None:
    """Replace ``cols[coll][field]`` (jagged) by ``values`` (same structure)."""
    cols[coll] = ak.with_field(cols[coll], values, field)


def edit_flat(cols: dict, coll: str, field: str, pos, value) -> None:
    """Set the flat entries ``pos`` of ``cols[coll][field]`` to ``value``."""
    arr = cols[coll][field]
    flat = ak.to_numpy(ak.flatten(arr)).copy()
    flat[pos] = value
    per_event(cols, coll, field, ak.unflatten(flat, ak.num(arr)))


# --------------------------------------------------------------- class 1: cell grouping
def _cells_out_of_order(cols: dict) -> None:
    """In every event the cells of the last cluster stored first (each cell keeps its
    ``CaloCell_clusterIdx``, ``Cluster_nCell`` is unchanged): the consecutive grouping puts
    cells on the wrong clusters."""
    cells = cols["CaloCell"]
    cols["CaloCell"] = cells[ak.argsort(-cells.clusterIdx, axis=1, stable=True)]


def test_cells_stored_out_of_cluster_order_are_an_error(tmp_path, sim_file):
    """Class 1. Before: 70 % of the cells were imaged under the wrong cluster, the CNN
    histogram changed, exit 0. Now: an error naming file, branch, entry and value."""
    bad = rewrite_tree(sim_file, tmp_path / "reordered.root", edit=_cells_out_of_order)
    ref, _ = run(sim_file)  # the untouched file runs (and has several clusters per event)
    assert ref["cutflow"]["selected"] > 20
    with pytest.raises(runner.BadInputError) as info:
        run(bad)
    msg = str(info.value)
    assert str(bad) in msg and "CaloCell_clusterIdx" in msg
    assert re.search(r"at entry \d+", msg) and "belongs to cluster" in msg
    # the command line: exit status 2, one line naming branch and file
    fs = write_fileset(tmp_path / "fs.json", {"zee": [str(bad)]})
    out = tmp_path / "out.hist.zip"
    assert main(["run", "--processor", "zee", str(fs), "--executor", "iterative",
                 "--out", str(out), "--no-progress"]) == 2
    assert not out.exists()


@pytest.mark.parametrize(
    ("case", "branch", "what"),
    [
        ("negative nCell", "Cluster_nCell", "negative number of cells"),
        ("nCell sum", "Cluster_nCell", "differs from nCaloCell"),
        ("clusterIdx value", "CaloCell_clusterIdx", "belongs to cluster"),
        ("layer 7", "CaloCell_layer", "layer outside 0-3"),
        ("electron clusterIdx past the event", "Electron_clusterIdx", "index outside"),
        ("electron clusterIdx -2", "Electron_clusterIdx", "index outside"),
        ("electron trackIdx past the event", "Electron_trackIdx", "index outside"),
        ("electron genPartIdx past the event", "Electron_genPartIdx", "index outside"),
        ("track NaN eta", "Track_eta", "not a finite number"),
        ("npvs negative", "PV_npvs", "below 0"),
        ("track vtxIdx", "Track_vtxIdx", "vertex index outside"),
        ("genWeight NaN", "genWeight", "not a finite number"),
        ("electron charge 0", "Electron_charge", "expected one of [-1, 1]"),
        ("pileup inf", "Pileup_nTrueInt", "not a finite number"),
        ("genpart NaN pt", "GenPart_pt/eta/mass", "non-finite true energy"),
    ],
)
def test_inconsistent_columns_are_errors_naming_branch_entry_value(tmp_path, sim_file, case,
                                                                   branch, what):
    """Invented cases of the same kind: each index or count column out of range, a layer,
    the columns of weights and axes non-finite."""
    def edit(cols: dict) -> None:
        n_clu = ak.to_numpy(ak.num(cols["Cluster"]))
        first = int(np.flatnonzero(n_clu >= 2)[0])  # an event with two clusters
        flat_clu = int(n_clu[:first].sum())
        if case == "negative nCell":
            n = ak.to_numpy(ak.flatten(cols["Cluster"].nCell)).copy()
            moved = n[flat_clu] + 1
            n[flat_clu] = -1
            n[flat_clu + 1] += moved  # the event's sum is unchanged
            per_event(cols, "Cluster", "nCell", ak.unflatten(n, ak.num(cols["Cluster"])))
        elif case == "nCell sum":
            edit_flat(cols, "Cluster", "nCell", flat_clu, 5)
        elif case == "clusterIdx value":
            n_cells = ak.to_numpy(ak.num(cols["CaloCell"]))
            edit_flat(cols, "CaloCell", "clusterIdx", int(n_cells[:first].sum()) + 3, 1)
        elif case == "layer 7":
            edit_flat(cols, "CaloCell", "layer", 10, 7)
        elif case == "electron charge 0":
            edit_flat(cols, "Electron", "charge", 5, 0)
        elif case.startswith("electron"):
            field = case.split()[1]
            n_el = ak.to_numpy(ak.num(cols["Electron"]))
            k = int(np.flatnonzero(n_el >= 1)[0])
            target = {"clusterIdx": "Cluster", "trackIdx": "Track", "genPartIdx": "GenPart"}
            n_target = int(ak.num(cols[target[field]])[k])
            edit_flat(cols, "Electron", field, int(n_el[:k].sum()),
                      -2 if case.endswith("-2") else n_target)
        elif case == "track NaN eta":
            edit_flat(cols, "Track", "eta", 3, np.nan)
        elif case == "npvs negative":
            cols["PV_npvs"] = cols["PV_npvs"].copy()
            cols["PV_npvs"][4] = -3
        elif case == "track vtxIdx":
            n_trk = ak.to_numpy(ak.num(cols["Track"]))
            k = int(np.flatnonzero(n_trk >= 1)[2])
            edit_flat(cols, "Track", "vtxIdx", int(n_trk[:k].sum()), int(cols["PV_npvs"][k]))
        elif case == "genWeight NaN":
            cols["genWeight"] = cols["genWeight"].copy()
            cols["genWeight"][7] = np.nan
        elif case == "pileup inf":
            cols["Pileup_nTrueInt"] = cols["Pileup_nTrueInt"].copy()
            cols["Pileup_nTrueInt"][9] = np.inf
        elif case == "genpart NaN pt":
            edit_flat(cols, "GenPart", "pt", slice(None), np.nan)

    bad = rewrite_tree(sim_file, tmp_path / "bad.root", edit=edit)
    with pytest.raises(runner.BadInputError) as info:
        run(bad)
    msg = str(info.value)
    assert str(bad) in msg and branch in msg and what in msg, msg
    assert re.search(r"at entry \d+", msg)


def test_wrong_branch_type_is_an_error_before_processing(tmp_path, sim_file):
    """A float index column (or an integer kinematic) is refused from the tree metadata."""
    def edit(cols):
        per_event(cols, "Electron", "clusterIdx",
                  ak.values_astype(cols["Electron"].clusterIdx, np.float32))
        per_event(cols, "Electron", "pt", ak.values_astype(cols["Electron"].pt, np.int32))

    bad = rewrite_tree(sim_file, tmp_path / "types.root", edit=edit)
    with pytest.raises(runner.BadInputError) as info:
        run(bad)
    msg = str(info.value)
    assert "Electron_clusterIdx has type float32, expected integer" in msg
    assert "Electron_pt has type int32, expected floating point" in msg


# --------------------------------------------------------------- class 4: kinematics
def test_non_finite_kinematics_are_rejected_and_counted(tmp_path, channel_file):
    """Class 4. Electron_pt = +inf and Electron_phi = NaN objects used to be selected and then
    vanish from the mass histograms (1053 selected events, 813 BDT mass entries) with no
    cutflow entry. Now they fail the object selection and are counted; every selected event
    has a mass entry."""
    def edit(cols):
        n = int(ak.sum(ak.num(cols["Electron"])))
        edit_flat(cols, "Electron", "pt", np.arange(0, n, 7), np.inf)
        edit_flat(cols, "Electron", "phi", np.arange(3, n, 11), np.nan)

    bad = rewrite_tree(channel_file, tmp_path / "kin.root", edit=edit)
    out, metrics = run(bad, calibrations=("bdt", "truth"))
    cf = out["cutflow"]
    # every selected event has a bdt mass (before: 20-25 % of them silently had none)
    assert out["mass"][{"calibration": "bdt"}].sum(flow=True).variance == cf["selected"] > 0
    n_bad = cf["rejected: non-finite Electron kinematics"]
    assert n_bad > 50
    for calib in ("bdt", "truth"):
        entries = out["mass"][{"calibration": calib}].sum(flow=True).variance
        assert entries + cf[f"no {calib} mass"] == cf["selected"]
    assert cf["no bdt mass"] == 0
    assert metrics["rejected_objects"] == {"non-finite Electron kinematics": n_bad}
    ref, _ = run(channel_file, calibrations=("bdt", "truth"))
    assert 0 < cf["selected"] < ref["cutflow"]["selected"]


@pytest.mark.parametrize(
    "case",
    [("zmumugamma", "Muon", "pt", np.inf), ("zmumugamma", "Photon", "eta", np.nan),
     ("hgamgam", "Photon", "phi", -np.inf), ("zmumugamma", "Muon", "mass", np.nan)],
    ids=lambda c: f"{c[0]}-{c[1]}_{c[2]}={c[3]}",
)
def test_non_finite_kinematics_in_other_channels(tmp_path, channel_file, case):
    proc, coll, field, value = case

    def edit(cols):
        n = int(ak.sum(ak.num(cols[coll])))
        edit_flat(cols, coll, field, np.arange(0, n, 5), value)

    bad = rewrite_tree(channel_file, tmp_path / "kin.root", edit=edit)
    out, _ = run(bad, proc=proc, calibrations=("bdt", "truth"))
    cf = out["cutflow"]
    assert cf[f"rejected: non-finite {coll} kinematics"] > 10
    assert out["mass"][{"calibration": "bdt"}].sum(flow=True).variance == cf["selected"] > 0


# --------------------------------------------------------------- class 7: cell branches
@pytest.mark.parametrize("branch", ["CaloCell_e", "CaloCell_layer", "Cluster_nCell",
                                    "CaloCell_clusterIdx", "Cluster_eTileGap", "Track_z0",
                                    "Cluster_rEta"])
def test_missing_cell_branch_is_an_error_naming_it(tmp_path, sim_file, branch):
    """Class 7. A missing CaloCell_e or CaloCell_layer crashed inside numba (TypingError:
    getitem(none, ...)), a missing Cluster_nCell with an AttributeError. Now: checked with
    the other branches before processing, named with the file, for the default calibrations
    too."""
    from calocoffea.bdt.columns import required_branches

    bad = rewrite_tree(sim_file, tmp_path / f"no_{branch}.root", drop=(branch,))
    bdt_input = branch in required_branches("electron", ("bdt",))
    shapes_input = branch in required_branches("electron", ("bdt_shapes",))
    for calibs in (None, ("bdt", "cnn") if not shapes_input or bdt_input else ("bdt_shapes",)):
        with pytest.raises(runner.BadInputError) as info:
            run(bad, calibrations=calibs)
        assert branch in str(info.value) and str(bad) in str(info.value)
    # a branch only the CNN or the shower-shape BDT reads is not needed without them; the
    # standard BDT is evaluated on the cluster columns of files with cells, so its inputs are
    if bdt_input:
        with pytest.raises(runner.BadInputError, match=branch):
            run(bad, calibrations=("bdt", "truth"))
    else:
        out, _ = run(bad, calibrations=("bdt", "truth"))
        assert out["cutflow"]["selected"] > 0
        if shapes_input:  # the σ models read it: not used on this file, and counted
            key = f"sigma model not used for bdt: file lacks {branch}"
            assert out["cutflow"][key] == out["cutflow"]["objects"] > 0


def test_processor_alone_names_a_missing_cell_branch(tmp_path, sim_file):
    """Also through coffea's Runner directly (no calocoffea runner, no check_files)."""
    from coffea import processor

    from calocoffea.schema import CaloNanoAODSchema
    from calocoffea.validation import InputDataError

    bad = rewrite_tree(sim_file, tmp_path / "no_layer.root", drop=("CaloCell_layer",))
    run_coffea = processor.Runner(executor=processor.IterativeExecutor(status=False),
                                  schema=CaloNanoAODSchema, chunksize=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as info:
            run_coffea({"s": {"files": {str(bad): "Events"}}}, make_processor("zee"))
    chain, e = [], info.value
    while e is not None:
        chain.append(e)
        e = e.__cause__
    assert any(isinstance(c, InputDataError) and "CaloCell_layer" in str(c) for c in chain)


def test_valid_file_is_unchanged_by_the_checks(sim_file, tmp_path):
    """The checks reject nothing on a valid file: the rewrite used to make the bad files
    passes them, with identical histograms."""
    copy = rewrite_tree(sim_file, tmp_path / "copy.root")
    a, _ = run(sim_file)
    b, _ = run(copy)
    assert a["cutflow"] == b["cutflow"]
    assert all(v == 0 for k, v in a["cutflow"].items() if k.startswith("rejected"))
    for key in ("mass", "response"):
        assert np.array_equal(a[key].view(flow=True), b[key].view(flow=True))


def test_metrics_json_counts_fallback_reasons(tmp_path, sim_file):
    fs = write_fileset(tmp_path / "fs.json", {"zee": [str(sim_file)]})
    metrics = tmp_path / "m.json"
    assert main(["run", "--processor", "zee", str(fs), "--executor", "iterative", "--out",
                 str(tmp_path / "o.hist.zip"), "--metrics", str(metrics),
                 "--no-progress"]) == 0
    m = json.loads(metrics.read_text())
    assert set(m["fallback_reasons"]) == {"invalid CNN inputs", "non-finite CNN output",
                                          "CNN ratio outside (0.2, 5)"}
    assert sum(m["fallback_reasons"].values()) == m["fallback_objects"]
