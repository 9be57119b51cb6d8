"""The ONNX tree ensembles rebuilt for XGBoost's predictor give onnxruntime's numbers."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from calocoffea.bdt.forest import forest_from_onnx, load_forest
from calocoffea.resources import models_dir

SHIPPED = sorted(p.name for p in models_dir().glob("*.onnx")
                 if p.name.startswith(("bdt_", "sigma_")))


def _ort(path, x):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0].reshape(-1)


def _inputs_at_thresholds(path, n, rng):
    """Inputs whose every feature sits on one of the model's own thresholds, just below or
    just above it, or is NaN: every node's two branches and its missing-value direction are
    taken by some object."""
    node = onnx.load(str(path)).graph.node[0]
    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    feat = np.asarray(a["nodes_featureids"])
    thr = np.asarray(a["nodes_values"], np.float32)
    branch = np.asarray(a["nodes_modes"]) != b"LEAF"
    n_features = int(feat[branch].max()) + 1
    x = np.zeros((n, n_features), np.float32)
    for j in range(n_features):
        t = thr[branch & (feat == j)]
        x[:, j] = rng.choice(t, n) if len(t) else 0.0
    third = n // 3
    x[:third] = np.nextafter(x[:third], np.float32(-np.inf))
    x[third:2 * third] = np.nextafter(x[third:2 * third], np.float32(np.inf))
    x[rng.random(x.shape) < 0.02] = np.nan
    return x


def test_every_shipped_tree_model_is_rebuilt():
    kinds = {name.split("_")[0] for name in SHIPPED}
    assert kinds == {"bdt", "sigma"} and len(SHIPPED) >= 12


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_agrees_with_onnxruntime(name):
    path = models_dir() / name
    forest = forest_from_onnx(path)
    x = _inputs_at_thresholds(path, 6000, np.random.default_rng(11))
    if x.shape[1] < forest.n_features:  # features no split uses
        x = np.hstack([x, np.zeros((len(x), forest.n_features - x.shape[1]), np.float32)])
    got, ref = forest.predict(x), _ort(path, x)
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=0)
    # the objects spread over many leaves: the comparison is not of one constant
    assert np.unique(ref).size > 1000


def test_rebuilt_trees_match_the_xgboost_booster_they_were_exported_from(tmp_path):
    xgb = pytest.importorskip("xgboost")
    from calocoffea.bdt.training import export_onnx

    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 6)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan  # XGBoost learns default directions for these
    y = np.nan_to_num(x[:, 0]) + np.sin(np.nan_to_num(x[:, 1])) + 0.1 * rng.normal(size=3000)
    # deep trees: the right child is not next to the left one in onnxmltools' numbering
    booster = xgb.train({"max_depth": 10, "eta": 0.3, "nthread": 1, "seed": 1,
                         "base_score": 0.7}, xgb.DMatrix(x, label=y), 40)
    path = tmp_path / "toy.onnx"
    export_onnx(booster, 6, path, name="toy")
    got = forest_from_onnx(path).predict(x)
    want = booster.predict(xgb.DMatrix(x))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(got, _ort(path, x), rtol=1e-6, atol=0)


def test_a_graph_that_is_not_a_tree_ensemble_is_refused_naming_the_file(tmp_path):
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 3])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ValueError, match=r"relu\.onnx.*TreeEnsembleRegressor"):
        forest_from_onnx(path)


def test_wrong_input_width_is_refused_and_cache_follows_the_file(tmp_path):
    src = models_dir() / "sigma_bdt_electron.onnx"
    path = tmp_path / src.name
    path.write_bytes(src.read_bytes())
    forest = load_forest(path)
    assert load_forest(path) is forest
    with pytest.raises(ValueError, match=r"sigma_bdt_electron\.onnx"):
        forest.predict(np.zeros((4, forest.n_features + 1), np.float32))
    assert forest.predict(np.zeros((0, forest.n_features), np.float32)).shape == (0,)
    other = models_dir() / "sigma_bdt_photon.onnx"
    path.write_bytes(other.read_bytes())  # replaced: a new size, rebuilt
    assert load_forest(path) is not forest


def test_trees_numbered_in_another_order_give_the_same_predictions(tmp_path):
    """Node ids permuted within every tree (a valid ONNX ensemble that XGBoost did not
    number) take the breadth-first renumbering and still give onnxruntime's numbers."""
    src = models_dir() / "sigma_bdt_shapes_photon.onnx"
    model = onnx.load(str(src))
    node = model.graph.node[0]
    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    rng = np.random.default_rng(2)
    trees = np.asarray(a["nodes_treeids"])
    ids = np.asarray(a["nodes_nodeids"])
    perm = {}
    for t in np.unique(trees):
        nodes = ids[trees == t]
        for old, new in zip(nodes, rng.permutation(nodes) + 1000, strict=True):
            perm[(int(t), int(old))] = int(new)
    remap = {
        "nodes_nodeids": [perm[(int(t), int(n))] for t, n in zip(trees, ids, strict=True)],
        "nodes_truenodeids": [perm.get((int(t), int(n)), 0) if m != b"LEAF" else 0
                              for t, n, m in zip(trees, a["nodes_truenodeids"],
                                                 a["nodes_modes"], strict=True)],
        "nodes_falsenodeids": [perm.get((int(t), int(n)), 0) if m != b"LEAF" else 0
                               for t, n, m in zip(trees, a["nodes_falsenodeids"],
                                                  a["nodes_modes"], strict=True)],
        "target_nodeids": [perm[(int(t), int(n))]
                           for t, n in zip(a["target_treeids"], a["target_nodeids"],
                                           strict=True)],
    }
    for attr in node.attribute:
        if attr.name in remap:
            del attr.ints[:]
            attr.ints.extend(remap[attr.name])
    path = tmp_path / "permuted.onnx"
    onnx.save(model, str(path))
    x = _inputs_at_thresholds(src, 3000, np.random.default_rng(4))
    forest = forest_from_onnx(path)
    x = np.hstack([x, np.zeros((len(x), forest.n_features - x.shape[1]), np.float32)])
    np.testing.assert_allclose(forest.predict(x), _ort(path, x), rtol=1e-6, atol=0)
    np.testing.assert_allclose(forest.predict(x), _ort(src, x), rtol=1e-6, atol=0)
