"""Static int8 quantisation of the DeepCalo CNN (onnxruntime's quantisation tools) and the
choice of precision for the processors.

QDQ format, signed int8 activations and per-channel symmetric int8 weights (onnxruntime's
S8S8 QDQ on x86-64), calibrated with min/max ranges on training objects. What is quantised
is chosen per node (:class:`QuantisationConfig`); by default only the 2-D convolutions of the
image trunk after the first one. The first convolution reads raw GeV cell energies spanning
four decades (int8 of a min/max range zeroes most pixels: eIQR75 +3 to +8 % per |η| bin),
and the dense layers of the scalar, track and top networks cost 1-2 % of resolution each
(benchmarks/README.md, "int8"); the preprocessing and the bias and σ calibrations at the
graph's ends stay in float32.

The int8 model is written as ``<stem>.int8.onnx`` with a card (``<stem>.int8.json``) that
records the float model's sha256, the calibration objects and the resolution guard: the int8
eIQR75 on held-out MC within :data:`GUARD_RELATIVE` of the float model's in every |η| bin
(:func:`guard`). :func:`resolve_precision` picks the model the processors run: int8 by
default where an int8 model beside the float one passed its guard, and asking explicitly for
an int8 model that is missing, stale or failed is an error (never a silent downgrade).
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from calocoffea.cnn.inference import ModelError

log = logging.getLogger(__name__)

#: Largest relative change of eIQR75 per |η| bin the int8 model may have (issue #23).
GUARD_RELATIVE = 0.005
#: Fewest held-out objects a |η| bin needs for its guard entry to count.
GUARD_MIN_OBJECTS = 50
#: Objects per calibration batch and batches used.
CALIBRATION_BATCH = 256
CALIBRATION_BATCHES = 16
#: Precisions the processors and ``--precision`` know.
PRECISIONS: tuple[str, ...] = ("int8", "fp32")
#: Objects per onnxruntime call when the guard evaluates both models.
GUARD_BATCH = 256


#: onnxruntime graph transformers an int8 session runs without. QDQPropagationTransformer
#: moves the QuantizeLinear in front of a convolution up through the MaxPool before it, so
#: that the pooling runs on uint8 NCHW tensors, for which onnxruntime has only a slow
#: generic kernel (measured, batch 64, one thread: 855 µs per call against 81 µs in float32,
#: 26 % of the int8 model's time); pooling in float32 and quantising after it gives the
#: same numbers (max commutes with a monotonic quantisation) and makes the shipped int8
#: choice 1.11x the float model instead of 0.88x (benchmarks/README.md, "int8").
INT8_DISABLED_OPTIMIZERS: tuple[str, ...] = ("QDQPropagationTransformer",)


def session_kwargs(model_path: str | Path, card: dict | None = None) -> dict:
    """Extra ``onnxruntime.InferenceSession`` arguments for ``model_path``: int8 models
    (card ``precision`` "int8", or a ``*.int8.onnx`` name without a card) get
    :data:`INT8_DISABLED_OPTIMIZERS`; float models none."""
    if card is None:
        cp = Path(model_path).with_suffix(".json")
        try:
            card = json.loads(cp.read_text()) if cp.is_file() else {}
        except json.JSONDecodeError:
            card = {}
    precision = card.get("precision") or ("int8" if str(model_path).endswith(".int8.onnx")
                                          else "fp32")
    return {"disabled_optimizers": list(INT8_DISABLED_OPTIMIZERS)} if precision == "int8" \
        else {}


class PrecisionError(ModelError):
    """The requested precision cannot be used (int8 model missing, stale or failed)."""


@dataclass(frozen=True)
class QuantisationConfig:
    """What is quantised and how (the defaults are the shipped choice, see the module
    docstring); recorded in the int8 card."""

    #: node types considered for quantisation
    op_types: tuple[str, ...] = ("Conv",)
    #: leave the first 2-D convolution (raw GeV image inputs) in float32
    skip_input_conv: bool = True
    #: leave 1-D convolutions (the track network) in float32
    skip_1d_conv: bool = True
    #: onnxruntime CalibrationMethod name: MinMax, Percentile or Entropy
    method: str = "MinMax"
    per_channel: bool = True
    #: "int8" (S8S8) or "uint8" (U8S8) activations
    activations: str = "int8"
    reduce_range: bool = False
    #: "QDQ" or "QOperator"
    quant_format: str = "QDQ"


def int8_path(float_path: str | Path) -> Path:
    """``<dir>/<stem>.int8.onnx`` of a float model."""
    p = Path(float_path)
    return p.with_name(f"{p.stem}.int8.onnx")


class _Reader:
    """onnxruntime CalibrationDataReader over fixed batches of the three graph inputs."""

    def __init__(self, batches: list[dict[str, np.ndarray]]):
        self.batches = batches
        self._it = iter(batches)

    def get_next(self):
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self.batches)


def calibration_batches(images: np.ndarray, scalars: np.ndarray, tracks: np.ndarray, *,
                        seed: int = 1, batch: int = CALIBRATION_BATCH,
                        n_batches: int = CALIBRATION_BATCHES) -> list[dict[str, np.ndarray]]:
    """Feeds of randomly chosen (seeded) objects for the calibration."""
    rng = np.random.default_rng(seed)
    n = min(len(scalars), batch * n_batches)
    idx = np.sort(rng.choice(len(scalars), n, replace=False))
    return [{"images": images[idx[k:k + batch]].astype(np.float32),
             "scalars": scalars[idx[k:k + batch]].astype(np.float32),
             "tracks": tracks[idx[k:k + batch]].astype(np.float32)}
            for k in range(0, n, batch) if len(idx[k:k + batch]) == batch]


def select_nodes(model_path: str | Path, config: QuantisationConfig) -> list[str]:
    """Names of the nodes of ``model_path`` that ``config`` quantises (graph order)."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    ranks = {t.name: len(t.dims) for t in graph.initializer}
    names, first_2d = [], True
    for node in graph.node:
        if node.op_type not in config.op_types:
            continue
        if node.op_type == "Conv":
            rank = ranks.get(node.input[1], 4)
            if rank == 3 and config.skip_1d_conv:
                continue
            if rank == 4 and first_2d:
                first_2d = False
                if config.skip_input_conv:
                    continue
        names.append(node.name)
    return names


def quantize_model(float_path: str | Path, batches: list[dict[str, np.ndarray]],
                   out: str | Path | None = None,
                   config: QuantisationConfig | None = None) -> tuple[Path, list[str]]:
    """Write the static int8 model of ``float_path`` (default :func:`int8_path`); returns
    its path and the names of the quantised nodes."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    config = config or QuantisationConfig()
    float_path = Path(float_path)
    out = Path(out) if out is not None else int8_path(float_path)
    if not batches:
        raise ValueError("no calibration objects")
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        # shape inference and the float graph optimisations first (onnxruntime's advice)
        quant_pre_process(str(float_path), str(pre), skip_symbolic_shape=True)
        nodes = select_nodes(pre, config)
        if not nodes:
            raise ValueError(f"{float_path.name}: no node to quantise with {config}")
        tmp_out = Path(tmp) / "int8.onnx"
        act = QuantType.QInt8 if config.activations == "int8" else QuantType.QUInt8
        quantize_static(
            str(pre), str(tmp_out), _Reader(batches),
            quant_format=getattr(QuantFormat, config.quant_format),
            per_channel=config.per_channel, reduce_range=config.reduce_range,
            activation_type=act, weight_type=QuantType.QInt8,
            op_types_to_quantize=list(config.op_types), nodes_to_quantize=nodes,
            calibrate_method=getattr(CalibrationMethod, config.method),
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out.replace(out)
    log.info("wrote %s (quantised nodes: %s)", out, ", ".join(nodes))
    return out, nodes


def predict_ratio(model_path: str | Path, images: np.ndarray, scalars: np.ndarray,
                  tracks: np.ndarray, batch: int = GUARD_BATCH) -> np.ndarray:
    """The model's ``ratio`` output (E/E_acc) for pre-built inputs, one intra-op thread."""
    import onnxruntime as ort

    from calocoffea.cnn.inference import PAD_ROWS, RATIO_OUTPUT

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"],
                                **session_kwargs(model_path))
    out = []
    for lo in range(0, len(scalars), batch):
        feed = {"images": images[lo:lo + batch].astype(np.float32),
                "scalars": scalars[lo:lo + batch].astype(np.float32),
                "tracks": tracks[lo:lo + batch].astype(np.float32)}
        m = len(feed["scalars"])
        pad = -m % PAD_ROWS
        if pad:
            feed = {k: np.concatenate([v, np.zeros((pad, *v.shape[1:]), v.dtype)])
                    for k, v in feed.items()}
        out.append(np.asarray(sess.run([RATIO_OUTPUT], feed)[0]).reshape(-1)[:m])
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def guard(e_float: np.ndarray, e_int8: np.ndarray, e_true: np.ndarray, eta: np.ndarray
          ) -> dict:
    """eIQR75 of E/E_true per |η| bin (calocoffea.binning) for the float and the int8
    energies (GeV), their relative difference, and whether every bin is within
    :data:`GUARD_RELATIVE`. Bins with fewer than :data:`GUARD_MIN_OBJECTS` objects are
    listed without a value; the guard fails when no bin has enough."""
    from calocoffea.binning import ABS_ETA_EDGES, abs_eta_bin
    from calocoffea.metrics import eiqr

    arrays = [np.asarray(a, np.float64) for a in (e_float, e_int8, e_true, eta)]
    if len({len(a) for a in arrays}) != 1:
        raise ValueError(f"guard: arrays of different lengths {[len(a) for a in arrays]}")
    e_float, e_int8, e_true, eta = arrays
    b = abs_eta_bin(np.abs(eta))
    rows = []
    for k in range(len(ABS_ETA_EDGES) - 1):
        m = b == k
        if m.sum() < GUARD_MIN_OBJECTS:
            rows.append({"bin": k, "n": int(m.sum()), "eiqr75_float": None,
                         "eiqr75_int8": None, "relative": None})
            continue
        f = eiqr(e_float[m] / e_true[m], 75)
        q = eiqr(e_int8[m] / e_true[m], 75)
        rows.append({"bin": k, "n": int(m.sum()), "eiqr75_float": f, "eiqr75_int8": q,
                     "relative": q / f - 1.0})
    measured = [r["relative"] for r in rows if r["relative"] is not None]
    return {"abs_eta_edges": list(ABS_ETA_EDGES), "bins": rows, "limit": GUARD_RELATIVE,
            "max_abs_relative": max((abs(r) for r in measured), default=None),
            "passed": bool(measured) and all(abs(r) <= GUARD_RELATIVE for r in measured)}


def write_int8_card(int8: Path, float_path: Path, guard_result: dict, calibration: dict, *,
                    config: QuantisationConfig | None = None, nodes: list[str] | None = None
                    ) -> Path:
    """The int8 model's card: the float card with precision, provenance and the guard."""
    from calocoffea.cnn.training.export import sha256_file, write_card

    config = config or QuantisationConfig()
    card = json.loads(float_path.with_suffix(".json").read_text())
    card.update({
        "precision": "int8",
        "quantisation": {
            "method": f"onnxruntime quantize_static, {config.quant_format}, "
                      f"{'S8S8' if config.activations == 'int8' else 'U8S8'}, "
                      f"{'per-channel' if config.per_channel else 'per-tensor'} symmetric "
                      f"weights, {config.method} calibration",
            "config": asdict(config), "quantised_nodes": list(nodes or []),
            "float_model": float_path.name,
            "float_sha256": sha256_file(float_path), "calibration": calibration,
        },
        "guard": guard_result,
    })
    return write_card(int8, card)


def build_int8(float_path: str | Path, train, test, out_dir: str | Path,
               config: QuantisationConfig | None = None, *, seed: int = 1) -> tuple[Path, dict]:
    """Quantise ``float_path`` with objects of the ``train`` sample
    (:class:`calocoffea.cnn.training.dataset.Sample`), run the guard on the ``test`` sample
    and write ``<out_dir>/<stem>.int8.onnx`` and its card; returns (path, card). The files
    are written whether or not the guard passes (the card says which)."""
    from calocoffea.cnn.training.export import sha256_file

    config = config or QuantisationConfig()
    float_path = Path(float_path)
    out = int8_path(Path(out_dir) / float_path.name)
    batches = calibration_batches(train.images, train.scalars, train.tracks, seed=seed)
    if not batches:
        raise ValueError(f"{len(train)} training objects: fewer than one calibration batch "
                         f"({CALIBRATION_BATCH})")
    out, nodes = quantize_model(float_path, batches, out, config)
    r_float = predict_ratio(float_path, test.images, test.scalars, test.tracks)
    r_int8 = predict_ratio(out, test.images, test.scalars, test.tracks)
    e_acc = test.e_acc
    result = guard(r_float * e_acc, r_int8 * e_acc, test.e_true, test.eta)
    result["n_test"] = len(test)
    result["test_files"] = list(test.files)
    result["max_abs_ratio_difference"] = float(np.max(np.abs(r_int8 / r_float - 1.0)))
    calibration = {"files": list(train.files), "n_objects": len(batches) * CALIBRATION_BATCH,
                   "seed": seed, "float_sha256": sha256_file(float_path)}
    card_file = write_int8_card(out, float_path, result, calibration, config=config,
                                nodes=nodes)
    card = json.loads(card_file.read_text())
    log.info("%s: guard %s (largest |relative eIQR75 change| %.4f, limit %.4f)", out.name,
             "passed" if result["passed"] else "FAILED", result["max_abs_relative"] or np.nan,
             GUARD_RELATIVE)
    return out, card


def int8_problem(float_path: str | Path) -> str | None:
    """Why the int8 model beside ``float_path`` cannot be used (missing, no card, not int8,
    made from another float model, guard failed), or None when it can."""
    from calocoffea.cnn.inference import _sha256

    float_path = Path(float_path)
    q = int8_path(float_path)
    if not q.is_file():
        return f"no int8 model {q}"
    cp = q.with_suffix(".json")
    if not cp.is_file():
        return f"int8 model {q} has no card {cp.name}"
    try:
        card = json.loads(cp.read_text())
    except json.JSONDecodeError as err:
        return f"int8 card {cp} is not valid JSON: {err}"
    if card.get("precision") != "int8":
        return f"card {cp} says precision {card.get('precision')!r}, not 'int8'"
    g = card.get("guard") or {}
    if not g.get("passed"):
        worst = g.get("max_abs_relative")
        detail = f" (largest |relative eIQR75 change| {worst:.4f})" if worst is not None else ""
        return (f"int8 model {q.name} failed its resolution guard{detail}: limit "
                f"{g.get('limit', GUARD_RELATIVE)} per |eta| bin")
    want = (card.get("quantisation") or {}).get("float_sha256")
    if float_path.is_file() and want != _sha256(float_path.resolve()):
        return (f"int8 model {q.name} was made from another float model (float sha256 "
                f"{str(want)[:12]}… in its card, {float_path.name} has "
                f"{_sha256(float_path.resolve())[:12]}…)")
    return None


def resolve_precision(float_path: str | Path, precision: str | None = None
                      ) -> tuple[Path, str]:
    """(model file, precision) the CNN runs with: ``"fp32"`` is ``float_path``; ``"int8"``
    its :func:`int8_path`, which must exist and have passed its guard (else
    :class:`PrecisionError`); None (default) int8 where usable, else fp32 (logged)."""
    float_path = Path(float_path)
    if precision is not None and precision not in PRECISIONS:
        raise PrecisionError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    if precision == "fp32":
        return float_path, "fp32"
    problem = int8_problem(float_path)
    if precision == "int8":
        if problem is not None:
            raise PrecisionError(f"--precision int8 requested but {problem}")
        return int8_path(float_path), "int8"
    if problem is None:
        return int8_path(float_path), "int8"
    log.info("CNN in fp32: %s", problem)
    return float_path, "fp32"
