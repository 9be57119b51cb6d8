"""onnxruntime inference of the DeepCalo CNN inside coffea processors.

coffea's Runner unpickles the processor for every chunk, so a session held by the processor
would be rebuilt per chunk. Sessions therefore live in a per-process cache keyed by
(resolved path, sha256, intra-op threads, providers); processors only hold the model path.

Each model ``X.onnx`` has a JSON card ``X.json`` beside it (written by
``calocoffea.cnn.training.export``): its sha256 must match the file, and at load time the
graph's inputs and outputs must be those of the card (names, shapes, float type) and the
card's inputs what :mod:`calocoffea.cnn.inputs` builds; a probe batch checks that every output
has one value per object. At run time every batch's outputs are checked again (shape), and
each object's ratio r = E/E_acc must be finite and inside :data:`RATIO_RANGE`; objects
outside fall back to the standard calibration, counted per reason (:data:`FALLBACK_REASONS`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calocoffea.resources import cnn_model_path

log = logging.getLogger(__name__)

#: Objects per onnxruntime call on the CPU. Small batches keep each convolution's
#: activations (~80 kB per object and layer) in cache: on the 2-core development VM the
#: shipped electron CNN runs at 22-23k objects/s per core with 32-64 objects per call, 17-21k
#: with 1024 and 12-16k with 4096 (benchmarks/README.md, "batch scan").
DEFAULT_CPU_BATCH_SIZE = 64
#: Objects per call on a GPU provider, where large batches amortise the kernel launches.
DEFAULT_GPU_BATCH_SIZE = 4096
#: Batches are zero-padded to a multiple of this many rows: onnxruntime's CPU kernels round
#: the rows of a ragged batch differently (1 ulp), which made CNN energies, and so histogram
#: bins, depend on the chunk size; padded batches give bit-identical per-object results
#: (tests/test_reliability_determinism.py).
PAD_ROWS = 16
#: Physical range of the CNN output r = E/E_acc (exclusive). E_acc sums layers 1-3 only: the
#: presampler, the energy lost in front of the calorimeter and the leakage make r ≈ 1.0-1.3
#: in the barrel and up to ≈ 2 in the crack (thesis fig. 3.6); r outside (0.2, 5) is no
#: calibration but a model failure (e.g. an input far outside the training range).
RATIO_RANGE: tuple[float, float] = (0.2, 5.0)
#: Fallback reason codes of :func:`cnn_energy` (``reasons=True``) and their cutflow names.
FALLBACK_INPUTS, FALLBACK_NONFINITE, FALLBACK_RANGE = 1, 2, 3
FALLBACK_REASONS: dict[int, str] = {
    FALLBACK_INPUTS: "invalid CNN inputs",
    FALLBACK_NONFINITE: "non-finite CNN output",
    FALLBACK_RANGE: f"CNN ratio outside ({RATIO_RANGE[0]:g}, {RATIO_RANGE[1]:g})",
}
#: Preferred execution providers, in order; CPU is always the last resort.
PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")

_SESSIONS: dict[tuple, Model] = {}
_HASHES: dict[tuple, str] = {}


class ModelError(RuntimeError):
    """A model file or card is missing, corrupt or inconsistent, or inputs do not match."""


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def card_path(model_path: str | Path) -> Path:
    """The JSON model card beside ``model_path`` (same stem)."""
    return Path(model_path).with_suffix(".json")


def card_with_time(card: dict) -> bool:
    """True when ``card`` declares a time-channel model: its images carry the four layer times
    after the four layer energies (8 channels)."""
    from calocoffea.cnn.inputs import image_channels

    spec = next((i for i in card.get("inputs", []) if i.get("name") == "images"), None)
    return spec is not None and spec["shape"][1] == image_channels(True)


def load_card(model_path: str | Path) -> dict:
    """Read and check the model card of ``model_path`` (raises :class:`ModelError`)."""
    cp = card_path(model_path)
    if not cp.is_file():
        raise ModelError(f"model card {cp} not found (expected beside {model_path})")
    try:
        card = json.loads(cp.read_text())
    except json.JSONDecodeError as err:
        raise ModelError(f"model card {cp} is not valid JSON: {err}") from err
    for key in ("inputs", "outputs", "sha256"):
        if key not in card:
            raise ModelError(f"model card {cp} has no {key!r} entry")
    return card


@dataclass
class Model:
    """A loaded model: onnxruntime session, its card and the provider in use."""

    path: Path
    card: dict
    session: object
    provider: str

    @property
    def input_names(self) -> list[str]:
        return [i["name"] for i in self.card["inputs"]]

    @property
    def output_names(self) -> list[str]:
        return list(self.card["outputs"])

    @property
    def with_time(self) -> bool:
        """True for a time-channel model (:func:`card_with_time`; checked against the graph
        at load time)."""
        return card_with_time(self.card)

    def validate(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check names and per-object shapes against the card; returns float32 arrays."""
        expected = self.input_names
        if sorted(feed) != sorted(expected):
            raise ModelError(
                f"{self.path.name}: expected inputs {expected}, found {sorted(feed)}"
            )
        out = {}
        n = None
        for spec in self.card["inputs"]:
            name = spec["name"]
            arr = np.ascontiguousarray(feed[name], dtype=np.float32)
            want = tuple(spec["shape"][1:])
            if arr.ndim != len(want) + 1 or tuple(arr.shape[1:]) != want:
                raise ModelError(
                    f"{self.path.name}: input {name!r} expected shape (n, "
                    f"{', '.join(map(str, want))}), found {arr.shape}"
                )
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise ModelError(
                    f"{self.path.name}: inputs disagree on the number of objects "
                    f"({n} vs {arr.shape[0]} for {name!r})"
                )
            out[name] = arr
        return out

    @property
    def default_batch_size(self) -> int:
        """:data:`DEFAULT_CPU_BATCH_SIZE` on the CPU provider, else
        :data:`DEFAULT_GPU_BATCH_SIZE`."""
        if self.provider == "CPUExecutionProvider":
            return DEFAULT_CPU_BATCH_SIZE
        return DEFAULT_GPU_BATCH_SIZE

    def predict(self, feed: dict[str, np.ndarray], batch_size: int | None = None
                ) -> dict[str, np.ndarray]:
        """Run the model in batches of ``batch_size`` objects (default
        :attr:`default_batch_size`), zero-padded to :data:`PAD_ROWS` rows so that an object's
        result does not depend on its batch; returns {output name: (n,) float32}."""
        batch_size = int(batch_size) if batch_size is not None else self.default_batch_size
        feed = self.validate(feed)
        n = len(next(iter(feed.values())))
        names = self.output_names
        outs: dict[str, list[np.ndarray]] = {k: [] for k in names}
        for start in range(0, n, max(int(batch_size), 1)):
            batch = {k: v[start : start + batch_size] for k, v in feed.items()}
            m = len(next(iter(batch.values())))
            pad = -m % PAD_ROWS
            if pad:
                batch = {k: np.concatenate([v, np.zeros((pad, *v.shape[1:]), v.dtype)])
                         for k, v in batch.items()}
            res = self.session.run(names, batch)
            rows = m + pad
            for k, raw in zip(names, res, strict=True):
                r = np.asarray(raw)
                # one value per object: an (n, 2) output flattened would interleave two
                # columns into one list of energies
                if r.shape not in ((rows,), (rows, 1)):
                    raise ModelError(
                        f"{self.path.name}: output {k!r} has shape {r.shape} for a batch of "
                        f"{rows} objects, expected ({rows},) or ({rows}, 1)"
                    )
                outs[k].append(r.astype(np.float32, copy=False).reshape(-1)[:m])
        return {
            k: (np.concatenate(v) if v else np.zeros(0, np.float32)) for k, v in outs.items()
        }


def _providers(requested: tuple[str, ...] | None) -> list[str]:
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    wanted = requested or PREFERRED_PROVIDERS
    chosen = [p for p in wanted if p in available]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def load_model(
    model_path: str | Path,
    intra_op_threads: int = 1,
    providers: tuple[str, ...] | None = None,
) -> Model:
    """The cached :class:`Model` for ``model_path`` in this process (built on first use).

    Raises :class:`ModelError` if the file or its card is missing, the sha256 differs from
    the card or onnxruntime cannot parse the file.
    """
    path = Path(model_path).resolve()
    if not path.is_file():
        raise ModelError(f"model file {path} not found")
    sha = _sha256(path)
    key = (str(path), sha, int(intra_op_threads), providers)
    model = _SESSIONS.get(key)
    if model is not None:
        return model
    card = load_card(path)
    if card["sha256"] != sha:
        raise ModelError(
            f"{path}: sha256 {sha[:12]}… does not match its card ({card['sha256'][:12]}…); "
            "the file is corrupt or the card belongs to another model"
        )
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(intra_op_threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    chosen = _providers(providers)
    from calocoffea.cnn.quantize import session_kwargs

    extra = session_kwargs(path, card)
    try:
        session = ort.InferenceSession(str(path), opts, providers=chosen, **extra)
    except Exception as err:
        if chosen == ["CPUExecutionProvider"]:
            raise ModelError(f"onnxruntime cannot load {path}: {err}") from err
        # a GPU provider listed but unusable (driver, libraries): fall back to CPU
        try:
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"],
                                           **extra)
        except Exception as err2:
            raise ModelError(f"onnxruntime cannot load {path}: {err2}") from err2
    _check_graph(path, card, session)
    provider = session.get_providers()[0]
    log.info("onnxruntime session for %s on %s (pid %d, %d intra-op threads)",
             path.name, provider, os.getpid(), intra_op_threads)
    model = Model(path, card, session, provider)
    _SESSIONS[key] = model
    return model


def _shape_text(shape) -> str:
    return "(" + ", ".join("n" if d is None or isinstance(d, str) else str(d) for d in shape) + ")"


def _check_graph(path: Path, card: dict, session) -> None:
    """Raise :class:`ModelError` when the graph's inputs differ from the card's, or the card's
    from what :mod:`calocoffea.cnn.inputs` builds for its particle (checked at load time, so a
    wrong model never reaches the first chunk)."""
    found = {i.name: list(i.shape) for i in session.get_inputs()}
    declared = {i["name"]: list(i["shape"]) for i in card["inputs"]}

    def describe(specs: dict) -> str:
        return ", ".join(f"{k} {_shape_text(v)}" for k, v in specs.items())

    def same(a: list, b: list) -> bool:
        # None/str dims are dynamic (the batch axis)
        if len(a) != len(b):
            return False
        return all(x == y or not isinstance(x, int) or not isinstance(y, int)
                   for x, y in zip(a, b, strict=True))

    if set(found) != set(declared) or not all(same(found[k], declared[k]) for k in found):
        raise ModelError(
            f"{path}: graph inputs differ from its card: expected (card) {describe(declared)}; "
            f"found (graph) {describe(found)}"
        )
    _check_outputs(path, card, session)
    particle = card.get("particle")
    if particle is None:
        _probe(path, card, session)
        return
    from calocoffea.cnn.inputs import (
        IMAGE_SHAPE,
        N_TRACKS,
        SCALARS,
        TRACK_VARS,
        image_channels,
    )

    if particle not in SCALARS:
        raise ModelError(f"{path}: card particle {particle!r} is not one of {sorted(SCALARS)}")
    # energy channels only, or energies then times (a time-channel model)
    channels = declared.get("images", [None, None])[1:2]
    with_time = channels == [image_channels(True)]
    contract = {
        "images": [None, image_channels(with_time), *IMAGE_SHAPE],
        "scalars": [None, len(SCALARS[particle])],
        "tracks": [None, N_TRACKS, len(TRACK_VARS)],
    }
    if set(declared) != set(contract) or not all(
        same(declared[k], contract[k]) for k in contract
    ):
        raise ModelError(
            f"{path}: inputs do not match what calocoffea.cnn.inputs builds for a {particle}: "
            f"expected {describe(contract)}; found {describe(declared)}"
        )
    _probe(path, card, session)


#: Output the calibration reads (the card may list more, e.g. :data:`SIGMA_OUTPUT`).
RATIO_OUTPUT = "ratio"


def _check_outputs(path: Path, card: dict, session) -> None:
    """Card outputs present in the graph, ``ratio`` among them, each a float tensor of
    shape (n,) or (n, 1)."""
    graph = {o.name: o for o in session.get_outputs()}
    declared = list(card["outputs"])
    missing = [name for name in declared if name not in graph]
    if missing:
        raise ModelError(
            f"{path}: card output(s) {missing} not in the graph, whose outputs are "
            f"{sorted(graph)}"
        )
    if RATIO_OUTPUT not in declared:
        raise ModelError(f"{path}: card outputs {declared} lack {RATIO_OUTPUT!r} (E/E_acc)")
    for name in declared:
        out = graph[name]
        if out.type not in ("tensor(float)", "tensor(double)", "tensor(float16)"):
            raise ModelError(f"{path}: output {name!r} is a {out.type}, expected float")
        shape = list(out.shape)
        fixed = [d for d in shape[1:] if isinstance(d, int)]
        if len(shape) not in (1, 2) or any(d != 1 for d in fixed):
            raise ModelError(
                f"{path}: output {name!r} has shape {_shape_text(shape)}, expected (n,) or "
                "(n, 1): one value per object"
            )


def _probe(path: Path, card: dict, session) -> None:
    """Run one zero batch of :data:`PAD_ROWS` objects: every card output must have one value
    per object (catches symbolic output shapes that the graph cannot state)."""
    feed = {}
    for spec in card["inputs"]:
        dims = [PAD_ROWS] + [d if isinstance(d, int) else 1 for d in spec["shape"][1:]]
        feed[spec["name"]] = np.zeros(dims, np.float32)
    names = list(card["outputs"])
    try:
        res = session.run(names, feed)
    except Exception as err:
        raise ModelError(f"{path}: the model fails on a probe batch: {err}") from err
    for name, r in zip(names, res, strict=True):
        if np.shape(r) not in ((PAD_ROWS,), (PAD_ROWS, 1)):
            raise ModelError(
                f"{path}: output {name!r} has shape {np.shape(r)} for {PAD_ROWS} objects, "
                f"expected ({PAD_ROWS},) or ({PAD_ROWS}, 1): one value per object"
            )


#: Output of the uncertainty head: σ' = log σ_r² of thesis eq. 4.4 in ratio units
#: (σ_r of r = E/E_acc), calibrated in the graph per |η| × E_T bin (card
#: ``sigma_calibration``); σ_E = E_acc · exp(σ'/2) (GeV).
SIGMA_OUTPUT = "sigma_prime"
#: Reasons why an object has no CNN σ_E (:attr:`CNNPrediction.sigma_code`) and their cutflow
#: names (``cutflow["no cnn sigma: <reason>"]``).
SIGMA_NO_OUTPUT, SIGMA_FALLBACK, SIGMA_NONFINITE = 1, 2, 3
SIGMA_REASONS: dict[int, str] = {
    SIGMA_NO_OUTPUT: f"model has no {SIGMA_OUTPUT} output",
    SIGMA_FALLBACK: "CNN fallback (standard energy)",
    SIGMA_NONFINITE: "non-finite or non-positive sigma",
}


@dataclass
class CNNPrediction:
    """Per-object CNN results, flat in event order: ``energy`` (GeV; the standard
    calibration where ``fallback``), ``fallback`` (bool), ``code`` (uint8 fallback reason,
    0 = CNN used), ``sigma`` (σ_E in GeV, NaN where unavailable) and ``sigma_code`` (uint8,
    0 = σ_E available, else a key of :data:`SIGMA_REASONS`)."""

    energy: np.ndarray
    fallback: np.ndarray
    code: np.ndarray
    sigma: np.ndarray
    sigma_code: np.ndarray


def has_sigma(model: Model) -> bool:
    """Whether the model's card lists the uncertainty output :data:`SIGMA_OUTPUT`."""
    return SIGMA_OUTPUT in model.output_names


def cnn_predict(
    objects,
    events,
    particle: str,
    model_path: str | Path | None = None,
    *,
    batch_size: int | None = None,
    intra_op_threads: int = 1,
) -> CNNPrediction:
    """CNN energy, fallback reasons and per-object σ_E (GeV) of ``objects``
    (see :func:`cnn_energy`). σ_E = E_acc · exp(σ'/2) from the :data:`SIGMA_OUTPUT` output;
    NaN, with its reason in ``sigma_code``, for fallback objects, for a non-finite or
    non-positive σ_E and for every object of a model without that output."""
    import awkward as ak

    from calocoffea.cnn.inputs import inputs_from_events

    path = Path(model_path) if model_path is not None else cnn_model_path(particle)
    model = load_model(path, intra_op_threads=intra_op_threads)
    card_particle = model.card.get("particle")
    if card_particle is not None and card_particle != particle:
        raise ModelError(f"{path.name} is a {card_particle} model, asked for {particle}")
    with_sigma = has_sigma(model)
    # images are built batch by batch, just before onnxruntime reads them (still in cache:
    # ~3 % faster inference than from blocks of 1024 images); a chunk's images never sit in
    # memory all at once
    inputs = inputs_from_events(objects, events, particle, defer_images=True,
                                with_time=model.with_time)
    step = max(int(batch_size), 1) if batch_size is not None else model.default_batch_size
    ratios, sigmas = [], []
    for lo in range(0, len(inputs), step):
        res = model.predict(inputs.feed(lo, lo + step), batch_size=step)
        ratios.append(res[RATIO_OUTPUT])
        if with_sigma:
            sigmas.append(res[SIGMA_OUTPUT])
    ratio = np.concatenate(ratios) if ratios else np.zeros(0, np.float32)
    e_acc = inputs.scalars[:, 0].astype(np.float64)
    pt = ak.to_numpy(ak.flatten(objects.pt, axis=1)).astype(np.float64)
    eta = ak.to_numpy(ak.flatten(objects.eta, axis=1)).astype(np.float64)
    standard = pt * np.cosh(eta)
    code = np.zeros(len(ratio), np.uint8)
    with np.errstate(invalid="ignore"):
        code[~((ratio > RATIO_RANGE[0]) & (ratio < RATIO_RANGE[1]))] = FALLBACK_RANGE
    code[~np.isfinite(ratio)] = FALLBACK_NONFINITE
    code[~inputs.valid] = FALLBACK_INPUTS
    fallback = code > 0
    energy = np.where(fallback, standard, ratio * e_acc)
    sigma_code = np.zeros(len(ratio), np.uint8)
    if with_sigma:
        sp = (np.concatenate(sigmas) if sigmas else np.zeros(0, np.float32)).astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            sigma = e_acc * np.exp(0.5 * sp)
        sigma_code[~(np.isfinite(sigma) & (sigma > 0))] = SIGMA_NONFINITE
    else:
        sigma = np.full(len(ratio), np.nan)
        sigma_code[:] = SIGMA_NO_OUTPUT
    sigma_code[fallback & (sigma_code != SIGMA_NO_OUTPUT)] = SIGMA_FALLBACK
    sigma = np.where(sigma_code > 0, np.nan, sigma)
    return CNNPrediction(energy, fallback, code, sigma, sigma_code)


def cnn_energy(
    objects,
    events,
    particle: str,
    model_path: str | Path | None = None,
    *,
    batch_size: int | None = None,
    intra_op_threads: int = 1,
    reasons: bool = False,
):
    """CNN-calibrated energy (GeV) of each object, flattened in event order, and the
    ``fallback`` mask (bool) of objects whose CNN inputs are invalid (no cells, non-finite,
    E_acc ≤ 0, |η| ≥ 2.47) or whose output ratio is non-finite or outside
    :data:`RATIO_RANGE`; with ``reasons=True`` also the reason code of each object (uint8,
    0 = no fallback, else a key of :data:`FALLBACK_REASONS`).

    For fallback objects the returned energy is the standard calibration
    ``pt·cosh(η)`` so that the array is always usable; callers may also branch on the mask.
    objects: jagged Electron/Photon collection aligned with ``events``
    (:class:`calocoffea.schema.CaloNanoAODSchema`). :func:`cnn_predict` also gives σ_E.
    """
    pred = cnn_predict(objects, events, particle, model_path, batch_size=batch_size,
                       intra_op_threads=intra_op_threads)
    if reasons:
        return pred.energy, pred.fallback, pred.code
    return pred.energy, pred.fallback
