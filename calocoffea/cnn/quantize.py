"""Static int8 quantisation of the DeepCalo CNN (onnxruntime's quantisation tools).

QDQ format, signed int8 activations and per-channel symmetric int8 weights (onnxruntime's
recommended S8S8 QDQ on x86-64; with VNNI/AMX the int8 GEMMs of MLAS run several times
faster than float32), calibrated with min/max ranges on training objects. The
preprocessing and the bias and σ calibrations at the graph's ends stay in float32 (they are
elementwise and cheap, and their ranges — raw GeV inputs, the ratio output — are not
int8-friendly): only Conv, MatMul and Gemm nodes are quantised.

The int8 model is written beside the float one as ``<stem>.int8.onnx`` with a card
(``<stem>.int8.json``) that records the float model's sha256, the calibration objects and the
resolution guard: the int8 eIQR75 on held-out MC within :data:`GUARD_RELATIVE` of the float
model's in every |η| bin (:func:`guard`).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Largest relative change of eIQR75 per |η| bin the int8 model may have (issue #23).
GUARD_RELATIVE = 0.005
#: Objects per calibration batch and batches used.
CALIBRATION_BATCH = 256
CALIBRATION_BATCHES = 16
#: Node types quantised (the rest stays float32).
QUANTISED_OPS = ("Conv", "MatMul", "Gemm")


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


def quantize_model(float_path: str | Path, batches: list[dict[str, np.ndarray]],
                   out: str | Path | None = None) -> Path:
    """Write the static int8 QDQ model of ``float_path`` (default :func:`int8_path`)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    float_path = Path(float_path)
    out = Path(out) if out is not None else int8_path(float_path)
    if not batches:
        raise ValueError("no calibration objects")
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        # shape inference and the float graph optimisations first (onnxruntime's advice)
        quant_pre_process(str(float_path), str(pre), skip_symbolic_shape=True)
        tmp_out = Path(tmp) / "int8.onnx"
        quantize_static(
            str(pre), str(tmp_out), _Reader(batches), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            op_types_to_quantize=list(QUANTISED_OPS),
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out.replace(out)
    log.info("wrote %s", out)
    return out


def guard(e_float: np.ndarray, e_int8: np.ndarray, e_true: np.ndarray, eta: np.ndarray
          ) -> dict:
    """eIQR75 of E/E_true per |η| bin (calocoffea.binning) for the float and the int8
    energies, their relative difference, and whether every bin is within
    :data:`GUARD_RELATIVE`."""
    from calocoffea.binning import ABS_ETA_EDGES, abs_eta_bin
    from calocoffea.metrics import eiqr

    b = abs_eta_bin(np.abs(eta))
    rows = []
    for k in range(len(ABS_ETA_EDGES) - 1):
        m = b == k
        if m.sum() < 50:
            rows.append({"bin": k, "n": int(m.sum()), "eiqr75_float": None,
                         "eiqr75_int8": None, "relative": None})
            continue
        f = eiqr(e_float[m] / e_true[m], 75)
        q = eiqr(e_int8[m] / e_true[m], 75)
        rows.append({"bin": k, "n": int(m.sum()), "eiqr75_float": f, "eiqr75_int8": q,
                     "relative": q / f - 1.0})
    measured = [r["relative"] for r in rows if r["relative"] is not None]
    return {"abs_eta_edges": list(ABS_ETA_EDGES), "bins": rows, "limit": GUARD_RELATIVE,
            "passed": bool(measured) and all(abs(r) <= GUARD_RELATIVE for r in measured)}


def write_int8_card(int8: Path, float_path: Path, guard_result: dict, calibration: dict
                    ) -> Path:
    """The int8 model's card: the float card with precision, provenance and the guard."""
    from calocoffea.cnn.training.export import sha256_file, write_card

    card = json.loads(float_path.with_suffix(".json").read_text())
    card.update({
        "precision": "int8",
        "quantisation": {
            "method": "onnxruntime quantize_static, QDQ, S8S8, per-channel symmetric weights, "
                      "MinMax calibration",
            "quantised_ops": list(QUANTISED_OPS), "float_model": float_path.name,
            "float_sha256": sha256_file(float_path), "calibration": calibration,
        },
        "guard": guard_result,
    })
    return write_card(int8, card)
