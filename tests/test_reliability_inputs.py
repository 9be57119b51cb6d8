"""Reliability against bad inputs (issue 9): unreadable files, missing branches, odd clusters.

Every bad input is built here from a good file: truncated or byte-corrupted copies, a text
file with a ``.root`` name, and NanoAOD-style rewrites (uproot) with a branch dropped or with
cluster/cell arrays edited. docs/reliability.md lists what each test observed.
"""

from __future__ import annotations

import itertools
import json
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_processors import load_events, write_channel_sample

from calocoffea.app.cli import main
from calocoffea.execution import runner
from calocoffea.execution.outputs import single_dataset
from calocoffea.fileset import normalize_fileset, write_fileset
from processors import make_processor
from processors.base import StandardOnlyWarning

pytestmark = [
    pytest.mark.filterwarnings("ignore::processors.base.StandardOnlyWarning"),
    pytest.mark.filterwarnings("ignore:Performed attempt"),
]


# ------------------------------------------------------------------------------ helpers
def rewrite_tree(
    src: Path,
    dst: Path,
    drop: tuple[str, ...] = (),
    edit: Callable[[dict], None] | None = None,
    baskets: int = 1,
) -> Path:
    """Copy the ``Events`` tree of ``src`` to ``dst`` NanoAOD-style (``nX`` counters and
    ``X_field`` branches, via ``mktree``), without the branches in ``drop`` and after
    ``edit(columns)`` changed the columns in place (``columns[coll]`` is an awkward record
    array per collection, flat branches are numpy arrays); ``baskets`` consecutive
    ``extend`` calls give that many baskets per branch, in file order."""
    with uproot.open(src) as f:
        arrays = f["Events"].arrays()
    names = list(arrays.fields)
    collections = {
        n[1:] for n in names if n.startswith("n") and any(x.startswith(n[1:] + "_") for x in names)
    }
    cols: dict = {}
    groups: dict[str, dict] = {}
    for name in names:
        coll = name.split("_", 1)[0]
        if name in drop or (name.startswith("n") and name[1:] in collections):
            continue
        if coll in collections:
            groups.setdefault(coll, {})[name.split("_", 1)[1]] = arrays[name]
        else:
            cols[name] = ak.to_numpy(arrays[name])
    for coll, fields in groups.items():
        cols[coll] = ak.zip(fields)
    if edit is not None:
        edit(cols)
    types = {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in cols.items()}
    with uproot.recreate(dst) as fout:
        tree = fout.mktree("Events", types)
        edges = np.linspace(0, len(cols["event"]), baskets + 1).astype(int)
        for lo, hi in itertools.pairwise(edges):
            tree.extend({k: v[lo:hi] for k, v in cols.items()})
    return dst


def run_files(files: list[Path], proc: str = "zee", **opts):
    fileset = normalize_fileset({"sample": [str(f) for f in files]}, check_files=False)
    options = runner.RunOptions(progress=False, **{"executor": "iterative", **opts})
    processor = make_processor(proc, calibrations=("bdt", "truth"))
    out, metrics = runner.run(processor, fileset, options)
    return single_dataset(out), metrics


def assert_same_hists(a: dict, b: dict) -> None:
    for key in ("mass", "response"):
        assert a[key].axes == b[key].axes
        assert np.array_equal(a[key].view(flow=True), b[key].view(flow=True)), key


@pytest.fixture(scope="module")
def good_files(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("good")
    return [write_channel_sample(d / "a.root", 900, 31),
            write_channel_sample(d / "b.root", 700, 32)]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, good_files) -> dict[str, Path]:
    """Unreadable inputs: truncated ROOT, ROOT with garbage over its second half, text, a
    path that does not exist, a ROOT file without an ``Events`` tree."""
    d = tmp_path_factory.mktemp("bad")
    data = good_files[0].read_bytes()
    truncated = d / "truncated.root"
    truncated.write_bytes(data[: len(data) // 3])
    garbled = d / "garbled.root"
    rng = np.random.default_rng(3)
    half = len(data) // 2
    garbled.write_bytes(data[:half] + rng.integers(0, 256, len(data) - half, np.uint8).tobytes())
    text = d / "notroot.root"
    text.write_text("this is a text file, not ROOT\n" * 50)
    notree = d / "notree.root"
    with uproot.recreate(notree) as fout:
        fout["Other"] = {"x": np.arange(10)}
    return {"truncated": truncated, "garbled": garbled, "notroot": text,
            "missing": d / "never_written.root", "notree": notree}


# ------------------------------------------------------------------------------ bad files
@pytest.mark.parametrize("kind", ["truncated", "garbled", "notroot", "missing", "notree"])
def test_unreadable_file_is_an_error_naming_the_file(good_files, bad_files, kind):
    bad = bad_files[kind]
    with pytest.raises(Exception, match=re.escape(bad.name)) as info:
        run_files([good_files[0], bad, good_files[1]])
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("executor", ["iterative", "futures"])
def test_skip_bad_files_skips_lists_and_keeps_totals(good_files, bad_files, executor):
    ref, ref_metrics = run_files(good_files)
    files = [bad_files["truncated"], good_files[0], bad_files["notroot"], bad_files["garbled"],
             bad_files["missing"], bad_files["notree"], good_files[1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, metrics = run_files(files, executor=executor, workers=2, skip_bad_files=True,
                                 chunksize=400)
    assert sorted(metrics["skipped_files"]) == sorted(str(f) for f in bad_files.values())
    reasons = metrics["skipped_reasons"]
    assert sorted(reasons) == sorted(metrics["skipped_files"])
    assert "not a ROOT file" in reasons[str(bad_files["notroot"])]
    assert re.search(r"truncated: \d+ of \d+ bytes", reasons[str(bad_files["truncated"])])
    assert metrics["files"] == 2 and metrics["incomplete_files"] == {}
    # every event of the good files, exactly once, and nothing else
    assert metrics["events"] == out["cutflow"]["events"] == 900 + 700
    assert out["cutflow"] == ref["cutflow"]
    assert_same_hists(ref, out)
    assert ref_metrics["skipped_files"] == [] and ref_metrics["incomplete_files"] == {}


def test_skip_bad_files_never_hides_a_processor_bug(good_files):
    """A ValueError raised by the processor (no file named in it) still stops the run."""
    from processors.zee import ZeeProcessor

    class Buggy(ZeeProcessor):
        def process(self, events):
            raise ValueError("bug in the processor")

    fileset = normalize_fileset({"s": [str(good_files[0])]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception, match="bug in the processor"):
            runner.run(Buggy(calibrations=("bdt",)), fileset,
                       runner.RunOptions(executor="iterative", progress=False,
                                         skip_bad_files=True))


@pytest.mark.parametrize("damage", ["whole basket", "compression header"])
def test_partly_damaged_file_is_counted_not_silently_lost(tmp_path, good_files, damage):
    """The middle basket (events 233-465) of Electron_pt zeroed in a 3-basket file: the file
    opens, the chunks reading that basket fail. Default: an error naming the file. Skipping:
    the lost events are counted in ``metrics["incomplete_files"]``."""
    src = rewrite_tree(good_files[1], tmp_path / "three_baskets.root", baskets=3)
    with uproot.open(src) as f:
        branch = f["Events"]["Electron_pt"]
        seek = int(branch.member("fBasketSeek")[1])
        size = int(branch.member("fBasketBytes")[1])
        assert list(branch.member("fBasketEntry")[:4]) == [0, 233, 466, 700]
    data = bytearray(src.read_bytes())
    if damage == "compression header":  # uproot: ValueError "unrecognized compression"
        key_len = int.from_bytes(data[seek + 14 : seek + 16], "big")  # TKey fKeylen
        seek, size = seek + key_len, 9
    data[seek : seek + size] = bytes(size)
    damaged = tmp_path / "damaged.root"
    damaged.write_bytes(bytes(data))
    with pytest.raises(Exception, match=r"damaged\.root"):
        run_files([good_files[0], damaged], chunksize=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, metrics = run_files([good_files[0], damaged], chunksize=100, skip_bad_files=True)
    # chunks [200, 300), [300, 400), [400, 500) touch the damaged basket
    assert metrics["incomplete_files"] == {str(damaged): 300}
    assert metrics["events"] == out["cutflow"]["events"] == 900 + 700 - 300
    assert metrics["skipped_files"] == []


def test_cli_skip_bad_files_lists_them_in_metrics_json(tmp_path, good_files, bad_files, capsys):
    fs = write_fileset(
        tmp_path / "fs.json",
        {"zee_mc": [str(good_files[0]), str(bad_files["notroot"]), str(good_files[1])]},
    )
    metrics_path = tmp_path / "m.json"
    args = ["run", "--processor", "zee", str(fs), "--executor", "iterative", "--out",
            str(tmp_path / "out.coffea"), "--metrics", str(metrics_path), "--no-progress",
            "--calibrations", "bdt,truth"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*args, "--skip-bad-files"]) == 0
    m = json.loads(metrics_path.read_text())
    assert m["skipped_files"] == [str(bad_files["notroot"])]
    assert m["events"] == 1600 and m["files"] == 2
    assert m["status"] == "complete" and (tmp_path / "out.coffea").exists()
    # without the flag: an error, no output (the previous one is removed, not left looking
    # like this run's result), the metrics say why
    assert main(args) == 2
    assert str(bad_files["notroot"]) in capsys.readouterr().err
    assert not (tmp_path / "out.coffea").exists()
    failed = json.loads(metrics_path.read_text())
    assert failed["status"] == "failed" and str(bad_files["notroot"]) in failed["error"]


# ------------------------------------------------------------------------------ branches
@pytest.mark.parametrize(
    ("proc", "branch"),
    [
        ("zee", "Electron_pt"),
        ("zee", "Electron_charge"),
        ("zee", "Electron_cutBased"),
        ("zmumugamma", "Muon_looseId"),
        ("zmumugamma", "Photon_eta"),
        ("hgamgam", "Photon_phi"),
    ],
)
def test_missing_branch_is_an_error_naming_branch_and_file(tmp_path, good_files, proc, branch):
    bad = rewrite_tree(good_files[1], tmp_path / f"no_{branch}.root", drop=(branch,))
    for skip in (False, True):
        with pytest.raises(runner.BadInputError) as info:
            run_files([good_files[0], bad], proc=proc, skip_bad_files=skip)
        assert branch in str(info.value) and str(bad) in str(info.value)


def test_rewrite_helper_is_lossless(tmp_path, good_files):
    """The rewrite used to build bad files changes nothing by itself."""
    copy = rewrite_tree(good_files[1], tmp_path / "copy.root")
    ref, _ = run_files([good_files[1]])
    out, _ = run_files([copy])
    assert out["cutflow"] == ref["cutflow"]
    assert_same_hists(ref, out)


# ------------------------------------------------------------------------------ odd clusters
@pytest.fixture(scope="module")
def sim_file(tmp_path_factory) -> Path:
    """240 simulated Z→ee MC events with cells (E_acc-based pt)."""
    from calocoffea.sim.generate import generate_file

    path = tmp_path_factory.mktemp("relsim") / "zee.root"
    generate_file(path, "zee", kind="mc", n_events=240, seed=4242)
    return path


#: Event classes of the edited file (event index mod 6).
EDITS = {0: "nan cell energy", 1: "E_acc <= 0", 2: "no cells", 3: "|eta| outside geometry",
         4: "non-finite barycentre", 5: "untouched"}


def _edit_clusters(cols: dict) -> None:
    n = len(cols["event"])
    cls = np.arange(n) % 6
    clu, cells = cols["Cluster"], cols["CaloCell"]
    n_clu = ak.num(clu)

    def per_cluster(mask_events: np.ndarray) -> ak.Array:
        return ak.broadcast_arrays(ak.Array(mask_events), clu.eAcc)[0]

    cell_ev = ak.broadcast_arrays(ak.Array(cls), cells.e)[0]
    # 0: one layer of every cluster with NaN/inf energies
    e = ak.where((cell_ev == 0) & (cells.layer == 1), np.float32(np.nan), cells.e)
    e = ak.where((cell_ev == 0) & (cells.layer == 3), np.float32(np.inf), e)
    cells = ak.with_field(cells, e, "e")
    # 1: E_acc <= 0 (zero and negative)
    e_acc = ak.where(per_cluster(cls == 1), -ak.local_index(clu.eAcc) * 5.0, clu.eAcc)
    clu = ak.with_field(clu, ak.values_astype(e_acc, np.float32), "eAcc")
    # 2: clusters without cells
    clu = ak.with_field(clu, ak.where(per_cluster(cls == 2), 0, clu.nCell), "nCell")
    cells = cells[cell_ev != 2]
    # 3: barycentre beyond the calorimeter acceptance (|eta| = 3.1)
    eta = ak.where(per_cluster(cls == 3), np.float32(3.1) * np.sign(clu.eta), clu.eta)
    clu = ak.with_field(clu, eta, "eta")
    # 4: non-finite barycentre phi
    phi = ak.where(per_cluster(cls == 4), np.float32(np.nan), clu.phi)
    clu = ak.with_field(clu, phi, "phi")
    assert ak.all(ak.num(clu) == n_clu)
    cols["Cluster"], cols["CaloCell"] = clu, cells


@pytest.fixture(scope="module")
def edited_sim_file(tmp_path_factory, sim_file) -> Path:
    return rewrite_tree(sim_file, tmp_path_factory.mktemp("edited") / "edited.root",
                        edit=_edit_clusters)


@pytest.mark.slow
def test_odd_clusters_fall_back_and_are_counted(sim_file, edited_sim_file, deepcalo_tiny_model):
    """Non-finite cells, E_acc <= 0, no cells, |eta| beyond the geometry, NaN barycentre: no
    crash, the standard energy is used and each such selected object is in ``fallback``."""
    from processors.zee import ZeeProcessor

    proc = ZeeProcessor(model_path=deepcalo_tiny_model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StandardOnlyWarning)
        ref_ev, ev = load_events(sim_file), load_events(edited_sim_file)
        ref = single_dataset(proc.postprocess(proc.process(ref_ev)))
        out = single_dataset(proc.postprocess(proc.process(ev)))
    sel = proc.select(ev)
    assert np.array_equal(sel.mask, proc.select(ref_ev).mask)  # selection ignores clusters
    selected_events = np.nonzero(sel.mask)[0]
    edited_objects = np.repeat(selected_events % 6 != 5, proc.n_calo)
    cf, rcf = out["cutflow"], ref["cutflow"]
    assert cf["selected"] == rcf["selected"] > 20
    for cls in range(5):
        assert np.sum(selected_events % 6 == cls) > 0, EDITS[cls]
    # per-object check of the fallback flags and energies
    from calocoffea import energies as calib

    objects = ev[sel.mask].Electron[ak.from_regular(sel.calo_index)]
    ref_objects = ref_ev[sel.mask].Electron[ak.from_regular(sel.calo_index)]
    std = calib.standard_energy(objects)
    energy, fallback = calib.cnn_energy(objects, ev[sel.mask], "electron", std,
                                        model_path=deepcalo_tiny_model)
    ref_energy, ref_fallback = calib.cnn_energy(
        ref_objects, ref_ev[sel.mask], "electron", std, model_path=deepcalo_tiny_model)
    assert np.array_equal(fallback, edited_objects | ref_fallback)
    assert np.array_equal(energy[fallback], std[fallback])
    assert np.array_equal(energy[~fallback], ref_energy[~fallback])
    assert np.all(np.isfinite(energy))
    assert cf["fallback"] == int(fallback.sum()) > rcf["fallback"]
    # no event lost: every selected event has a cnn mass entry, bdt histograms unchanged
    assert out["mass"][{"calibration": "cnn"}].sum(flow=True).variance == cf["selected"]
    for key in ("mass", "response"):
        h, r = out[key][{"calibration": "bdt"}], ref[key][{"calibration": "bdt"}]
        assert np.array_equal(h.view(flow=True), r.view(flow=True))


def test_runner_reports_fallback_objects(edited_sim_file, deepcalo_tiny_model):
    fileset = normalize_fileset({"zee": [str(edited_sim_file)]})
    proc = make_processor("zee", model_path=deepcalo_tiny_model)
    out, metrics = runner.run(proc, fileset, runner.RunOptions(executor="iterative",
                                                               progress=False))
    out = single_dataset(out)
    assert metrics["fallback_objects"] == out["cutflow"]["fallback"] > 0
    assert metrics["objects"] == out["cutflow"]["objects"] >= metrics["fallback_objects"]


# ------------------------------------------------------------------------------ properties
# Schema and image builder on random files: empty events, clusters without cells, cells with
# NaN, infinite and huge energies. (tests/test_images.py::test_property_random_layouts covers
# build_images on random layouts; here the whole chain from a ROOT file is exercised.)
_cell_e = st.one_of(
    st.floats(-2.0, 200.0),
    st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -1e30, 3e38, 0.0]),
)


@st.composite
def _random_events(draw) -> list[list[tuple[float, float, list[float]]]]:
    """Events → clusters (eta, phi, cell energies)."""
    n_events = draw(st.integers(1, 5))
    events = []
    for _ in range(n_events):
        clusters = []
        for _ in range(draw(st.integers(0, 3))):
            eta = draw(st.floats(-2.4, 2.4))
            phi = draw(st.floats(-3.14, 3.14))
            clusters.append((eta, phi, draw(st.lists(_cell_e, min_size=0, max_size=6))))
        events.append(clusters)
    return events


def _write_random_file(path: Path, events) -> None:
    from calocoffea.cnn.images import window_cells

    n_clu = [len(ev) for ev in events]
    clu = [c for ev in events for c in ev]
    cells: dict[str, list] = {k: [] for k in ("layer", "eta", "phi", "deta", "dphi", "e",
                                               "clusterIdx")}
    n_cells = []
    for ev in events:
        n = 0
        for k, (eta, phi, energies) in enumerate(ev):
            # real geometry cells around the barycentre, as many as energies drawn
            wc = window_cells(eta, phi)
            idx = np.linspace(0, wc["eta"].size - 1, len(energies)).astype(int)
            for key in ("layer", "eta", "phi", "deta", "dphi"):
                cells[key].append(np.asarray(wc[key])[idx])
            cells["e"].append(np.asarray(energies, np.float64))
            cells["clusterIdx"].append(np.full(len(energies), k))
            n += len(energies)
        n_cells.append(n)
    dtypes = {"layer": np.uint8, "clusterIdx": np.int32}
    flat = {k: (np.concatenate(v) if v else np.zeros(0)).astype(dtypes.get(k, np.float32))
            for k, v in cells.items()}
    cols = {
        "run": np.ones(len(events), np.uint32),
        "luminosityBlock": np.ones(len(events), np.uint32),
        "event": np.arange(len(events), dtype=np.uint64),
        "Cluster": ak.unflatten(ak.zip({
            "eta": np.array([c[0] for c in clu], np.float32),
            "phi": np.array([c[1] for c in clu], np.float32),
            "eAcc": np.full(len(clu), 50.0, np.float32),
            "nCell": np.array([len(c[2]) for c in clu], np.int32),
        }), n_clu),
        "CaloCell": ak.unflatten(ak.zip(flat), n_cells),
    }
    types = {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in cols.items()}
    with uproot.recreate(path) as fout:
        fout.mktree("Events", types).extend(cols)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_random_events())
def test_property_schema_and_images_on_random_files(events):
    from calocoffea.cnn.images import images_from_clusters

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "random.root"
        _write_random_file(path, events)
        ev = load_events(path)
        assert len(ev) == len(events)
        assert ak.num(ev.Cluster).tolist() == [len(e) for e in events]
        # cells grouped under their cluster, in order, values unchanged (float32)
        got = ak.to_list(ev.Cluster.cells.e)
        for g_ev, w_ev in zip(got, events, strict=True):
            for g, (_, _, w) in zip(g_ev, w_ev, strict=True):
                np.testing.assert_array_equal(np.asarray(g, np.float32), np.float32(w))
        # back-references agree with the grouping
        idx = ak.flatten(ev.CaloCell.clusterIdx, axis=None)
        own = ak.flatten(ev.Cluster.cells.cluster.eta, axis=None)
        clu_eta = ak.flatten(ak.broadcast_arrays(ev.Cluster.eta, ev.Cluster.cells.e)[0],
                             axis=None)
        assert len(idx) == len(own) == sum(len(c[2]) for e in events for c in e)
        assert ak.to_list(own) == ak.to_list(clu_eta)
        images, valid = images_from_clusters(ev.Cluster)
    clusters = [c for e in events for c in e]
    assert images.shape == (len(clusters), 4, 56, 11)
    assert np.isfinite(images).all()
    for k, (_, _, energies) in enumerate(clusters):
        e32 = np.float32(energies)
        if not energies or not np.isfinite(e32).all():
            assert not valid[k] and not images[k].any()
        elif valid[k]:
            total = np.abs(images[k].astype(np.float64)).sum()
            assert total <= np.abs(e32.astype(np.float64)).sum() * (1 + 1e-5)


def test_demo_summary_lists_skipped_files(good_files, bad_files):
    from calocoffea.app.summary import sample_summary

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, metrics = run_files([good_files[0], bad_files["notroot"]], skip_bad_files=True)
    entry = sample_summary("zee", "mc", metrics, {}, good_files[0])
    assert entry["skipped_files"] == [str(bad_files["notroot"])]
    assert entry["incomplete_files"] == {} and entry["n_events"] == 900
