"""Evaluate a shipped tree ensemble (ONNX ``TreeEnsembleRegressor``) with XGBoost's predictor.

The BDT calibrations and the σ_E models ship as ONNX files (the one artefact, its sha256 in the
model card). onnxruntime's ``TreeEnsembleRegressor`` walks each object through every tree in
turn: 14–19 ns per tree and object on one core of this project's machines, which made the tree
ensembles 41 % of the Z→ee processor's time (benchmarks/README.md). XGBoost's CPU predictor
walks blocks of rows through each tree and runs the same trees several times faster. So the
ONNX trees are rebuilt, node for node, as an in-memory XGBoost model and evaluated there.

Why a hand-written translation: onnxmltools converts XGBoost to ONNX but nothing converts back.
It is a relabelling, not a re-implementation: ONNX ``BRANCH_LT`` (x < threshold → true node) is
XGBoost's split (x < split_condition → left child), ``nodes_missing_value_tracks_true`` is
``default_left``, leaf weights become leaf values and ``base_values`` is added after the sum of
the trees (onnxruntime's order). The thresholds and leaf values stay float32 bit for bit; what
may differ is the float32 summation order, ≲ 1e-6 relative (tested against onnxruntime on every
shipped model: ``tests/test_forest.py``). Anything else in the graph (other operators, other
node modes, several targets, a post-transform) is refused with an error naming the file.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: XGBoost's "no parent" marker of a root node
_NO_PARENT = 2147483647


@dataclass
class Forest:
    """A tree ensemble ready to evaluate: an XGBoost booster (base score 0) plus ONNX's base."""

    path: Path
    input_name: str
    booster: object  # xgboost.Booster, nthread 1
    base: np.float32
    n_features: int
    n_trees: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Sum of the trees plus the base for the (n, n_features) float32 inputs; (n,) float32."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"{self.path.name}: inputs of shape {x.shape}, expected "
                             f"(n, {self.n_features})")
        if len(x) == 0:
            return np.zeros(0, np.float32)
        out = self.booster.inplace_predict(x, predict_type="margin", validate_features=False)
        return np.asarray(out, np.float32).reshape(-1) + self.base


def _attributes(path: Path) -> tuple[dict, int, str]:
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    nodes = list(model.graph.node)
    if len(nodes) != 1 or nodes[0].op_type != "TreeEnsembleRegressor":
        raise ValueError(f"{path}: expected a single TreeEnsembleRegressor node, found "
                         f"{[n.op_type for n in nodes]}")
    attrs = {a.name: helper.get_attribute_value(a) for a in nodes[0].attribute}
    for key in ("nodes_values_as_tensor", "target_weights_as_tensor", "base_values_as_tensor"):
        if key in attrs:
            attrs[key.removesuffix("_as_tensor")] = numpy_helper.to_array(attrs.pop(key))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    n_features = int(dims[-1].dim_value)
    if attrs.get("n_targets", 1) != 1 or attrs.get("post_transform", b"NONE") != b"NONE" or \
            attrs.get("aggregate_function", b"SUM") != b"SUM":
        raise ValueError(f"{path}: only single-target SUM ensembles without post-transform "
                         "are supported")
    modes = set(attrs["nodes_modes"])
    if not modes <= {b"BRANCH_LT", b"LEAF"}:
        raise ValueError(f"{path}: node modes {sorted(modes)}; only BRANCH_LT and LEAF are "
                         "supported")
    if any(int(t) != 0 for t in attrs.get("target_ids", [])):
        raise ValueError(f"{path}: leaf weights for a target other than 0")
    return attrs, n_features, model.graph.input[0].name


def _tree_json(tid: int, n_features: int, arrays: tuple[list, ...]) -> dict:
    """One XGBoost JSON tree of the node lists (left, right, parents, split index, split
    condition or leaf value, default left, is leaf)."""
    left, right, parents, split_idx, cond, default_left, is_leaf = arrays
    m = len(left)
    return {
        "base_weights": [c if f else 0.0 for c, f in zip(cond, is_leaf, strict=True)],
        "categories": [], "categories_nodes": [], "categories_segments": [],
        "categories_sizes": [], "default_left": default_left, "id": tid,
        "left_children": left, "loss_changes": [0.0] * m, "parents": parents,
        "right_children": right, "split_conditions": cond, "split_indices": split_idx,
        "split_type": [0] * m, "sum_hessian": [1.0] * m,
        "tree_param": {"num_deleted": "0", "num_feature": str(n_features),
                       "num_nodes": str(m), "size_leaf_vector": "1"},
    }


def _xgb_trees(attrs: dict, n_features: int, path: Path) -> list[dict]:
    """XGBoost JSON trees of the ONNX attributes. Fast path (numpy): the node ids of each
    tree are 0..m−1, every child numbered after its parent and every right child right after
    its left sibling (XGBoost's predictor goes to left + 1 for the right branch: measured, a
    toy model of depth 10 numbered depth-first took wrong leaves); otherwise a breadth-first
    renumbering that allocates the two children of a node as a pair, tree by tree."""
    tree_ids = np.asarray(attrs["nodes_treeids"], np.int64)
    node_ids = np.asarray(attrs["nodes_nodeids"], np.int64)
    order = np.lexsort((node_ids, tree_ids))
    tree_ids, node_ids = tree_ids[order], node_ids[order]
    features = np.asarray(attrs["nodes_featureids"], np.int64)[order]
    thresholds = np.asarray(attrs["nodes_values"], np.float32)[order]
    is_leaf = (np.asarray(attrs["nodes_modes"]) == b"LEAF")[order]
    true_ids = np.asarray(attrs["nodes_truenodeids"], np.int64)[order]
    false_ids = np.asarray(attrs["nodes_falsenodeids"], np.int64)[order]
    missing = np.asarray(attrs.get("nodes_missing_value_tracks_true",
                                   np.zeros(len(order))), np.int64)[order]
    n = len(order)
    starts = np.flatnonzero(np.r_[True, np.diff(tree_ids) != 0])
    sizes = np.diff(np.r_[starts, n])
    first = np.repeat(starts, sizes)
    local = np.arange(n) - first
    size_of = np.repeat(sizes, sizes)
    branch = ~is_leaf
    # XGBoost's predictor steps to a right child as left child + 1: the pairs must be adjacent
    fast = np.array_equal(node_ids, local) and all(
        np.all((c[branch] > local[branch]) & (c[branch] < size_of[branch]))
        for c in (true_ids, false_ids)) and np.array_equal(false_ids[branch],
                                                           true_ids[branch] + 1)
    if not fast:
        return _xgb_trees_slow(attrs, n_features, path)
    # leaf weights, summed per (tree, node) in float32
    uniq = tree_ids[starts]
    t_tree = np.asarray(attrs["target_treeids"], np.int64)
    t_node = np.asarray(attrs["target_nodeids"], np.int64)
    pos = np.searchsorted(uniq, t_tree)
    if np.any(pos >= len(uniq)) or np.any(uniq[np.minimum(pos, len(uniq) - 1)] != t_tree):
        raise ValueError(f"{path}: leaf weights for a tree without nodes")
    gidx = starts[pos] + t_node
    if np.any(t_node >= sizes[pos]) or np.any(~is_leaf[gidx]):
        raise ValueError(f"{path}: leaf weights on a node that is not a leaf")
    value = np.zeros(n, np.float32)
    np.add.at(value, gidx, np.asarray(attrs["target_weights"], np.float32))
    left = np.where(is_leaf, -1, true_ids)
    right = np.where(is_leaf, -1, false_ids)
    parents = np.full(n, _NO_PARENT, np.int64)
    parents[first[branch] + true_ids[branch]] = local[branch]
    parents[first[branch] + false_ids[branch]] = local[branch]
    n_parents = np.bincount(np.r_[first[branch] + true_ids[branch],
                                  first[branch] + false_ids[branch]], minlength=n)
    if np.any(n_parents[local > 0] != 1) or np.any(n_parents[local == 0] != 0):
        raise ValueError(f"{path}: a node is the child of none or of several nodes")
    cond = np.where(is_leaf, value, thresholds).astype(np.float64)
    split_idx = np.where(is_leaf, 0, features)
    default_left = np.where(is_leaf, 0, missing)
    lists = [a.tolist() for a in (left, right, parents, split_idx, cond, default_left, is_leaf)]
    return [_tree_json(tid, n_features, tuple(x[s:s + m] for x in lists))
            for tid, (s, m) in enumerate(zip(starts.tolist(), sizes.tolist(), strict=True))]


def _xgb_trees_slow(attrs: dict, n_features: int, path: Path) -> list[dict]:
    tree_ids = np.asarray(attrs["nodes_treeids"], np.int64)
    node_ids = np.asarray(attrs["nodes_nodeids"], np.int64)
    features = np.asarray(attrs["nodes_featureids"], np.int64)
    thresholds = np.asarray(attrs["nodes_values"], np.float32)
    modes = np.asarray(attrs["nodes_modes"])
    true_ids = np.asarray(attrs["nodes_truenodeids"], np.int64)
    false_ids = np.asarray(attrs["nodes_falsenodeids"], np.int64)
    missing = np.asarray(attrs.get("nodes_missing_value_tracks_true",
                                   np.zeros(len(node_ids))), np.int64)
    leaf = {}
    for t, n, w in zip(attrs["target_treeids"], attrs["target_nodeids"],
                       np.asarray(attrs["target_weights"], np.float32), strict=True):
        leaf[(int(t), int(n))] = leaf.get((int(t), int(n)), np.float32(0)) + np.float32(w)
    order = np.argsort(tree_ids, kind="stable")
    bounds = np.flatnonzero(np.diff(tree_ids[order])) + 1
    trees = []
    for tid, rows in enumerate(np.split(order, bounds)):
        tree = int(tree_ids[rows[0]])
        row_of = {int(node_ids[r]): r for r in rows}
        children = {int(c) for r in rows if modes[r] != b"LEAF"
                    for c in (true_ids[r], false_ids[r])}
        roots = [n for n in row_of if n not in children]
        if len(roots) != 1:
            raise ValueError(f"{path}: tree {tree} has {len(roots)} roots")
        # breadth-first renumbering: XGBoost wants the root at 0 and children after parents
        index, queue = {roots[0]: 0}, [roots[0]]
        for n in queue:
            r = row_of[n]
            if modes[r] != b"LEAF":
                for c in (int(true_ids[r]), int(false_ids[r])):
                    if c not in row_of or c in index:
                        raise ValueError(f"{path}: tree {tree} node {n} has a bad child {c}")
                    index[c] = len(queue)
                    queue.append(c)
        if len(queue) != len(rows):
            raise ValueError(f"{path}: tree {tree} has nodes unreachable from its root")
        m = len(queue)
        left, right = [-1] * m, [-1] * m
        parents, split_idx = [_NO_PARENT] * m, [0] * m
        cond, default_left, is_leaf = [0.0] * m, [0] * m, [True] * m
        for n in queue:
            i, r = index[n], row_of[n]
            if modes[r] == b"LEAF":
                cond[i] = float(leaf.get((tree, n), np.float32(0)))
                continue
            li, ri = index[int(true_ids[r])], index[int(false_ids[r])]
            left[i], right[i] = li, ri
            parents[li] = parents[ri] = i
            split_idx[i] = int(features[r])
            cond[i] = float(thresholds[r])
            default_left[i] = int(missing[r])
            is_leaf[i] = False
        trees.append(_tree_json(tid, n_features, (left, right, parents, split_idx, cond,
                                                  default_left, is_leaf)))
    return trees


def forest_from_onnx(path: Path) -> Forest:
    """Rebuild the ONNX tree ensemble at ``path`` as an XGBoost model (one thread)."""
    import xgboost as xgb

    path = Path(path)
    attrs, n_features, input_name = _attributes(path)
    trees = _xgb_trees(attrs, n_features, path)
    base = np.float32(np.asarray(attrs.get("base_values", [0.0]), np.float32).sum())
    model = {"learner": {
        "attributes": {}, "feature_names": [], "feature_types": [],
        "gradient_booster": {"model": {
            "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": str(len(trees))},
            "iteration_indptr": list(range(len(trees) + 1)),
            "tree_info": [0] * len(trees), "trees": trees}, "name": "gbtree"},
        "learner_model_param": {"base_score": "0E0", "boost_from_average": "0",
                                "num_class": "0", "num_feature": str(n_features),
                                "num_target": "1"},
        "objective": {"name": "reg:squarederror", "reg_loss_param": {"scale_pos_weight": "1"}},
    }, "version": [int(v) for v in xgb.__version__.split(".")[:3]]}
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(json.dumps(model).encode()))
    except xgb.core.XGBoostError as err:
        raise ValueError(f"{path}: XGBoost refused the rebuilt trees: {err}") from err
    booster.set_param({"nthread": 1})
    log.debug("%s: %d trees rebuilt for XGBoost", path.name, len(trees))
    return Forest(path=path, input_name=input_name, booster=booster, base=base,
                  n_features=n_features, n_trees=len(trees))


@functools.lru_cache(maxsize=32)
def _cached(path: str, mtime_ns: int, size: int) -> Forest:
    return forest_from_onnx(Path(path))


def load_forest(path: Path) -> Forest:
    """The per-process cached :class:`Forest` of the ONNX file ``path`` (a retrained file, with
    a new mtime or size, is rebuilt)."""
    p = Path(path).resolve()
    st = p.stat()
    return _cached(str(p), st.st_mtime_ns, st.st_size)
