"""Reliability of the CNN model loading (issue 9): missing, corrupt and mismatched models fail
when the processor is built, naming the file and the expected and found inputs.

Models are tiny hand-made ONNX graphs (``ratio = mean(scalars) + 0·mean(images) + 0·mean(tracks)``)
with a card written by :func:`calocoffea.cnn.training.export.write_card`, so no training is
needed. Lower-level checks of :mod:`calocoffea.cnn.inference` live in tests/test_inference.py.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from calocoffea.app.cli import main
from calocoffea.cnn import inference
from calocoffea.cnn.inference import ModelError
from calocoffea.cnn.inputs import IMAGE_SHAPE, N_TRACKS, TRACK_VARS, scalar_names
from calocoffea.cnn.training.export import write_card
from calocoffea.fileset import write_fileset
from processors.zee import ZeeProcessor

N_SCALARS = len(scalar_names("electron"))
GOOD_INPUTS = {
    "images": [None, 4, *IMAGE_SHAPE],
    "scalars": [None, N_SCALARS],
    "tracks": [None, N_TRACKS, len(TRACK_VARS)],
}


def write_model(path: Path, graph_inputs: dict, card_inputs: dict | None = None,
                particle: str = "electron") -> Path:
    """An ONNX graph with ``graph_inputs`` {name: shape (None = batch)} and output ``ratio``
    (n,), plus its card declaring ``card_inputs`` (default: the graph's)."""
    import onnx
    from onnx import TensorProto, helper

    nodes, terms = [], []
    main_input = "scalars" if "scalars" in graph_inputs else next(iter(graph_inputs))
    for k, (name, shape) in enumerate(graph_inputs.items()):
        axes = list(range(1, len(shape)))
        # opset 17: ReduceMean still takes ``axes`` as an attribute
        nodes.append(helper.make_node("ReduceMean", [name], [f"r{k}"], axes=axes, keepdims=0))
        if name == main_input:
            terms.append(f"r{k}")
        else:
            nodes.append(helper.make_node("Mul", [f"r{k}", "zero"], [f"z{k}"]))
            terms.append(f"z{k}")
    nodes.append(helper.make_node("Sum", terms, ["ratio"]))
    graph = helper.make_graph(
        nodes,
        "handmade",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", *s[1:]])
         for n, s in graph_inputs.items()],
        [helper.make_tensor_value_info("ratio", TensorProto.FLOAT, ["n"])],
        initializer=[helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    card_inputs = graph_inputs if card_inputs is None else card_inputs
    write_card(path, {
        "particle": particle,
        "inputs": [{"name": n, "shape": s, "dtype": "float32"} for n, s in card_inputs.items()],
        "outputs": ["ratio"],
    })
    return path


@pytest.fixture
def good_model(tmp_path) -> Path:
    return write_model(tmp_path / "good.onnx", GOOD_INPUTS)


def test_consistent_handmade_model_loads_and_predicts(good_model):
    """Guards the checks below against false alarms: a consistent model is accepted."""
    proc = ZeeProcessor(calibrations=("bdt", "cnn"), model_path=good_model)
    assert proc.calibrations == ("bdt", "cnn")
    model = inference.load_model(good_model)
    rng = np.random.default_rng(0)
    feed = {k: rng.normal(size=(5, *s[1:])).astype(np.float32) for k, s in GOOD_INPUTS.items()}
    np.testing.assert_allclose(model.predict(feed)["ratio"], feed["scalars"].mean(axis=1),
                               rtol=1e-5)


def test_missing_model_fails_at_construction(tmp_path):
    missing = tmp_path / "absent" / "deepcalo_electron.onnx"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        ZeeProcessor(calibrations=("bdt", "cnn"), model_path=missing)
    # a model without its card is as unusable as no model
    lonely = tmp_path / "lonely.onnx"
    shutil.copy(write_model(tmp_path / "x.onnx", GOOD_INPUTS), lonely)
    with pytest.raises(ModelError, match=r"model card .*lonely\.json not found"):
        ZeeProcessor(calibrations=("bdt", "cnn"), model_path=lonely)


def test_corrupt_model_fails_at_construction(good_model):
    data = bytearray(good_model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    good_model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"good\.onnx: sha256 .* does not match its card"):
        ZeeProcessor(calibrations=("bdt", "cnn"), model_path=good_model)
    # garbage whose card was re-hashed: onnxruntime refuses it, named
    good_model.write_bytes(b"\x08\x07garbage, not a protobuf" * 20)
    card_file = good_model.with_suffix(".json")
    card = json.loads(card_file.read_text())
    card["sha256"] = inference._sha256(good_model.resolve())
    card_file.write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"onnxruntime cannot load .*good\.onnx"):
        ZeeProcessor(calibrations=("bdt", "cnn"), model_path=good_model)


def test_graph_inputs_differing_from_card_name_expected_and_found(tmp_path):
    graph = {"pixels": [None, 3, *IMAGE_SHAPE], "scalars": [None, N_SCALARS]}
    path = write_model(tmp_path / "other.onnx", graph, card_inputs=GOOD_INPUTS)
    with pytest.raises(ModelError) as info:
        ZeeProcessor(calibrations=("bdt", "cnn"), model_path=path)
    msg = str(info.value)
    assert "other.onnx" in msg
    assert "expected (card) images (n, 4, 56, 11), scalars (n, 16), tracks (n, 15, 10)" in msg
    assert "found (graph) pixels (n, 3, 56, 11), scalars (n, 16)" in msg


@pytest.mark.parametrize(
    ("inputs", "found"),
    [
        ({**GOOD_INPUTS, "scalars": [None, 12]}, "scalars (n, 12)"),
        # 4 energy channels, or 8 with the layer times: 6 is neither
        ({**GOOD_INPUTS, "images": [None, 6, *IMAGE_SHAPE]}, "images (n, 6, 56, 11)"),
        ({k: v for k, v in GOOD_INPUTS.items() if k != "tracks"}, "scalars (n, 16)"),
    ],
    ids=["12 scalars", "6 channels", "no tracks"],
)
def test_model_inputs_differing_from_features_name_expected_and_found(tmp_path, inputs, found):
    """Graph and card agree, but not with what calocoffea.cnn.inputs feeds an electron model."""
    path = write_model(tmp_path / "mismatch.onnx", inputs)
    with pytest.raises(ModelError) as info:
        inference.load_model(path)
    msg = str(info.value)
    assert "mismatch.onnx" in msg and "for a electron" in msg
    assert "expected images (n, 4, 56, 11), scalars (n, 16), tracks (n, 15, 10)" in msg
    assert found in msg.split("found", 1)[1]


def test_photon_card_for_electron_processor(tmp_path):
    path = write_model(tmp_path / "photon.onnx",
                       {**GOOD_INPUTS, "scalars": [None, len(scalar_names("photon"))]},
                       particle="photon")
    inference.load_model(path)  # consistent photon model
    bad = write_model(tmp_path / "muon.onnx", GOOD_INPUTS, particle="muon")
    with pytest.raises(ModelError, match="particle 'muon'"):
        inference.load_model(bad)


def test_cli_run_with_bad_model_exits_2_naming_inputs(tmp_path, synthetic_nanoaod, capsys):
    path = write_model(tmp_path / "bad.onnx", {**GOOD_INPUTS, "scalars": [None, 12]})
    fs = write_fileset(tmp_path / "fs.json", {"s": [str(synthetic_nanoaod)]})
    rc = main(["run", "--processor", "zee", str(fs), "--out", str(tmp_path / "o.coffea"),
               "--calibrations", "bdt,cnn", "--model", str(path), "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "bad.onnx" in err and "scalars (n, 12)" in err and "scalars (n, 16)" in err
    assert not (tmp_path / "o.coffea").exists()


# ------------------------------------------------------------------ outputs (issue 16)
def write_output_model(path: Path, kind: str, card_outputs: list[str] | None = None,
                       value: float = 1.0) -> Path:
    """A model with the good inputs and an odd ``ratio`` output: ``"two columns"`` (n, 2),
    ``"constant"`` (every ratio = ``value``), ``"column"`` (n, 1), ``"symbolic"`` (n, m) with
    m = 2 at run time, ``"renamed"`` (the graph's output is ``energy``)."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("ReduceMean", ["scalars"], ["r"], axes=[1], keepdims=0)]
    init = [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("value", TensorProto.FLOAT, [], [value]),
            helper.make_tensor("axis1", TensorProto.INT64, [1], [1])]
    for k, name in enumerate(("images", "tracks")):
        nodes += [helper.make_node("ReduceMean", [name], [f"m{k}"],
                                   axes=list(range(1, len(GOOD_INPUTS[name]))), keepdims=0),
                  helper.make_node("Mul", [f"m{k}", "zero"], [f"z{k}"])]
    nodes += [helper.make_node("Sum", ["r", "z0", "z1"], ["s"]),  # (n,)
              helper.make_node("Unsqueeze", ["s", "axis1"], ["col"])]  # (n, 1)
    out_name, shape = "ratio", ["n"]
    if kind == "two columns":
        nodes.append(helper.make_node("Concat", ["col", "col"], ["ratio"], axis=1))
        shape = ["n", 2]
    elif kind == "symbolic":
        # (n, 16) through a data-dependent Tile: the graph cannot state the second axis
        init += [helper.make_tensor("one", TensorProto.INT64, [1], [1]),
                 helper.make_tensor("two", TensorProto.INT64, [1], [2])]
        nodes += [helper.make_node("Shape", ["scalars"], ["sh"]),
                  helper.make_node("Slice", ["sh", "one", "two"], ["d"]),
                  helper.make_node("Concat", ["one", "d"], ["reps"], axis=0),
                  helper.make_node("Tile", ["col", "reps"], ["ratio"])]
        shape = ["n", "m"]
    elif kind == "column":
        nodes.append(helper.make_node("Identity", ["col"], ["ratio"]))
        shape = ["n", 1]
    elif kind == "constant":
        nodes += [helper.make_node("Mul", ["s", "zero"], ["c0"]),
                  helper.make_node("Add", ["c0", "value"], ["ratio"])]
    elif kind == "renamed":
        nodes.append(helper.make_node("Identity", ["s"], ["energy"]))
        out_name = "energy"
    graph = helper.make_graph(
        nodes, "outputs",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", *s[1:]])
         for n, s in GOOD_INPUTS.items()],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, shape)],
        initializer=init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    write_card(path, {
        "particle": "electron",
        "inputs": [{"name": n, "shape": s, "dtype": "float32"} for n, s in GOOD_INPUTS.items()],
        "outputs": card_outputs or ["ratio"],
    })
    return path


def test_ratio_with_two_columns_fails_at_load(tmp_path):
    """Class 2. An (n, 2) ratio passed the card check and interleaved two columns into one
    list of energies. Now refused when the processor is built, naming the output shape."""
    path = write_output_model(tmp_path / "two.onnx", "two columns")
    with pytest.raises(ModelError, match=r"two\.onnx: output 'ratio' has shape \(n, 2\)"):
        ZeeProcessor(calibrations=("bdt", "cnn"), model_path=path)


def test_symbolic_output_shape_is_caught_by_the_probe(tmp_path):
    path = write_output_model(tmp_path / "sym.onnx", "symbolic")
    with pytest.raises(ModelError, match=r"output 'ratio' has shape \(16, 16\) for 16 objects"):
        inference.load_model(path)


def test_card_output_missing_from_graph_fails_at_load(tmp_path):
    """The card names ``ratio``, the graph only has ``energy``: before, four failed retries
    of the first chunk; now an error when the processor is built."""
    path = write_output_model(tmp_path / "renamed.onnx", "renamed")
    with pytest.raises(ModelError, match=r"card output\(s\) \['ratio'\] not in the graph, "
                                         r"whose outputs are \['energy'\]"):
        ZeeProcessor(calibrations=("bdt", "cnn"), model_path=path)
    path = write_output_model(tmp_path / "nocard.onnx", "renamed", card_outputs=["energy"])
    with pytest.raises(ModelError, match=r"lack 'ratio'"):
        inference.load_model(path)


def test_column_output_n_by_1_is_accepted(tmp_path):
    """(n, 1) is one value per object: accepted, and gives the same ratios as (n,)."""
    path = write_output_model(tmp_path / "col.onnx", "column")
    model = inference.load_model(path)
    rng = np.random.default_rng(1)
    feed = {k: rng.normal(1, 0.1, (21, *s[1:])).astype(np.float32)
            for k, s in GOOD_INPUTS.items()}
    np.testing.assert_allclose(model.predict(feed)["ratio"], feed["scalars"].mean(axis=1),
                               rtol=1e-5)


@pytest.mark.parametrize(("value", "reason"), [
    (1e30, "CNN ratio outside (0.2, 5)"), (0.0, "CNN ratio outside (0.2, 5)"),
    (-1.0, "CNN ratio outside (0.2, 5)"), (7.5, "CNN ratio outside (0.2, 5)"),
    (np.inf, "non-finite CNN output"), (np.nan, "non-finite CNN output"),
])
def test_unphysical_ratios_fall_back_and_are_counted(tmp_path, deepcalo_sim_files, value,
                                                     reason):
    """Class 2. A model returning 1e30 sent every object to the overflow bin, no fallback.
    Now every object whose ratio is not finite or outside (0.2, 5) gets the standard
    energy, counted under its reason."""
    import warnings

    from test_processors import run_local

    path = write_output_model(tmp_path / "const.onnx", "constant", value=value)
    proc = ZeeProcessor(calibrations=("bdt", "cnn", "truth"), model_path=path)
    ref = ZeeProcessor(calibrations=("bdt", "truth"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = run_local(proc, deepcalo_sim_files["zee"])
        std = run_local(ref, deepcalo_sim_files["zee"])
    cf = out["cutflow"]
    assert cf["objects"] > 0 and cf["fallback"] == cf["objects"]
    invalid = cf["fallback: invalid CNN inputs"]
    assert cf[f"fallback: {reason}"] == cf["objects"] - invalid > 0
    # the cnn histograms are then exactly the standard ones
    cnn = out["mass"][{"calibration": "cnn"}].view(flow=True)
    assert np.array_equal(cnn, std["mass"][{"calibration": "bdt"}].view(flow=True))


def test_ratio_inside_the_range_is_used(tmp_path, deepcalo_sim_files):
    """Guards the range check against false alarms: ratio 1.2 is used (no fallback beyond
    invalid inputs) and gives E = 1.2 E_acc."""
    import warnings

    from test_processors import run_local

    path = write_output_model(tmp_path / "ok.onnx", "constant", value=1.2)
    proc = ZeeProcessor(calibrations=("bdt", "cnn"), model_path=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = run_local(proc, deepcalo_sim_files["zee"])
    cf = out["cutflow"]
    assert cf["fallback"] == cf["fallback: invalid CNN inputs"] < cf["objects"]


def test_batch_output_of_wrong_length_is_an_error(tmp_path):
    """A graph that passes the load checks but returns another number of rows at run time
    (here: the probe is bypassed) stops with the output's shape, never reshaped silently."""
    path = write_output_model(tmp_path / "sym2.onnx", "symbolic")
    card = inference.load_card(path)
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model = inference.Model(path, card, session, "CPUExecutionProvider")
    feed = {k: np.zeros((5, *s[1:]), np.float32) for k, s in GOOD_INPUTS.items()}
    with pytest.raises(ModelError, match=r"output 'ratio' has shape \(16, 16\) for a batch of 16"):
        model.predict(feed)
