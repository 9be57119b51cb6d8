"""Training workflow of the DeepCalo CNN: build the sample, train, export to ONNX with its
model card, and optionally evaluate on held-out files (``calocoffea train cnn``, whose command
line is :mod:`calocoffea.app.commands.train_cnn`). torch is imported only when training."""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class CNNTrainingConfig:
    """What ``calocoffea train cnn`` does: train a ``config`` preset ("lite" or "full") for
    ``particle`` on the ``train`` files, export it to ``out`` (default
    ``models/deepcalo_<particle>.onnx``) and evaluate it on the held-out ``test`` files.
    ``eval_only`` re-evaluates an existing ``out``. See docs/model.md."""

    particle: str
    train: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    out: Path | None = None
    config: str = "lite"
    seed: int = 1
    threads: int = 1
    epochs: int | None = None
    #: peak learning rate of the one-cycle schedule (None: the config's ``lr_max``); a
    #: fine-tune (``init_from``) wants a lower one than a training from scratch
    lr_max: float | None = None
    #: weight of the data-like sample's mean loss in the ensemble loss (None: the config's
    #: ``data_weight``, 1 as in thesis eq. 5.9); needs ``data_train``
    data_weight: float | None = None
    max_objects: int | None = None
    max_minutes: float | None = None
    mislabel_k: float | None = None
    sigma: bool = False
    cache_dir: Path | None = None
    bdt_models: str | None = None
    eval_only: bool = False
    #: ensemble training (thesis eq. 5.9): data-like Z→ee files whose electrons, labelled
    #: with E_label,data (eq. 5.6), join the MC sample; the loss sums the per-sample means
    data_train: list[str] = field(default_factory=list)
    #: thesis §5.4: a type scalar (0 MC, 1 data) as an extra network input
    type_scalar: bool = False
    #: thesis §7.4: map the MC scalars onto the marginals of these data-like Z→ee files
    equalise_to: list[str] = field(default_factory=list)
    #: thesis §7.4 time channel: "none", "concat" or "gate" (``model.TIME_MODES``)
    time_channels: str = "none"
    #: fine-tune: start from the network (and preprocessing) of this ``.pt``, which every
    #: training writes beside its ``.onnx`` (not shipped)
    init_from: Path | None = None
    #: The command line recorded in the model card (None: not recorded).
    reproduce: str | None = None

    def out_path(self) -> Path:
        return Path(self.out) if self.out else Path("models") / f"deepcalo_{self.particle}.onnx"


def input_spec(particle: str, n_channels: int) -> list[dict]:
    """The card's ``inputs`` entry: names, shapes (None = batch), units, columns."""
    from calocoffea.cnn.inputs import IMAGE_SHAPE, N_TRACKS, SCALARS, TRACK_VARS

    cols = [{"name": n, "unit": u, "description": d} for n, u, d in SCALARS[particle]]
    tcols = [{"name": n, "unit": u, "description": d} for n, u, d in TRACK_VARS]
    description = "layer energies 0-3 on the 56x11 eta x phi grid (calocoffea.cnn.images)"
    if n_channels > 4:
        description = ("layer energies 0-3 (GeV), then layer times 0-3 (ns, |energy|-weighted "
                       "cell time, 0 for an empty pixel) on the 56x11 eta x phi grid "
                       "(calocoffea.cnn.images)")
    return [
        {"name": "images", "shape": [None, n_channels, *IMAGE_SHAPE], "dtype": "float32",
         "units": "GeV" if n_channels == 4 else "GeV (energies), ns (times)",
         "description": description},
        {"name": "scalars", "shape": [None, len(cols)], "dtype": "float32", "columns": cols},
        {"name": "tracks", "shape": [None, N_TRACKS, len(tcols)], "dtype": "float32",
         "description": "tracks within dR < 0.4 sorted by pT*exp(-dR/0.1), zero-padded",
         "columns": tcols},
    ]


def _bdt_calibration(bdt_models: str | None):
    """The standard calibration of ``bdt_models`` (None: the shipped one)."""
    from calocoffea.bdt.standard import load_standard_calibration

    return load_standard_calibration(Path(bdt_models) if bdt_models else None)


def evaluate_model(model_path: Path, files: list[str], particle: str, cache_dir,
              bdt_models: str | None = None) -> dict:
    from calocoffea.cnn.inference import load_model
    from calocoffea.cnn.training.dataset import build_sample
    from calocoffea.cnn.training.evaluate import format_table, resolution_table

    bdt = None
    if bdt_models is not None:
        from calocoffea.bdt.standard import load_standard_calibration

        bdt = load_standard_calibration(Path(bdt_models))
    model = load_model(model_path)
    s = build_sample(files, particle, cache_dir=cache_dir, bdt=bdt, with_time=model.with_time)
    feed = {"images": s.images.astype("float32"), "scalars": s.scalars, "tracks": s.tracks}
    ratio = model.predict(feed)["ratio"]
    e_cnn = ratio * s.e_acc
    table = resolution_table(e_cnn, s.e_bdt, s.e_true, s.eta, s.mu)
    table["files"] = [str(f) for f in files]
    table["bdt_energy"] = (
        "file pt*cosh(eta)" if bdt is None else
        f"recomputed with {bdt_models}/bdt_*.onnx from the file's cluster columns"
    )
    if bdt_models is not None:
        from calocoffea.cnn.training.export import sha256_file

        table["bdt_models_sha256"] = {
            p.name: sha256_file(p) for p in sorted(Path(bdt_models).glob("bdt_*.onnx"))
        }
    log.info("held-out %s resolution, CNN vs BDT:\n%s", particle, format_table(table))
    # second reference: E_acc corrected by its median response in (|eta|, E_T) bins, fitted on
    # this very sample (favours the reference); independent of the BDT models
    from calocoffea.bdt.evaluation import MedianResponseCorrection

    ref = MedianResponseCorrection.fit(s.e_acc, s.eta, s.e_true).energy(s.e_acc, s.eta)
    ref_table = resolution_table(e_cnn, ref, s.e_true, s.eta, s.mu)
    log.info("CNN vs E_acc median-response reference:\n%s", format_table(ref_table))
    table["vs_median_response_reference"] = ref_table
    return table


def train_cnn(cfg: CNNTrainingConfig) -> dict:
    """Train (or with ``eval_only`` re-evaluate) as ``cfg`` says; returns the model card
    (also written beside the ``.onnx``). ValueError for an inconsistent ``cfg``."""
    from calocoffea.resources import data_dir

    out = cfg.out_path()
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else data_dir() / "cache"
    if cfg.eval_only:
        if not cfg.test:
            raise ValueError("eval_only needs held-out files (CNNTrainingConfig.test is empty)")
        from calocoffea.cnn.training.export import write_card

        card = json.loads(out.with_suffix(".json").read_text())
        card["test"] = evaluate_model(out, cfg.test, cfg.particle, cache_dir, cfg.bdt_models)
        write_card(out, card)
        return card
    if not cfg.train:
        raise ValueError("no training files (CNNTrainingConfig.train is empty)")

    import numpy as np

    from calocoffea.cnn.training.dataset import build_sample, mislabel_mask
    from calocoffea.cnn.training.export import write_card
    from calocoffea.cnn.training.model import preset, with_time_mode

    model_cfg = with_time_mode(preset(cfg.config), cfg.time_channels)
    if cfg.epochs is not None:
        model_cfg.epochs = cfg.epochs
    if cfg.lr_max is not None:
        if not cfg.lr_max > 0:
            raise ValueError(f"lr_max must be positive, got {cfg.lr_max}")
        model_cfg.lr_max = cfg.lr_max
    if cfg.data_weight is not None:
        if not cfg.data_train:
            raise ValueError("data_weight weighs the data-like sample: it needs data_train")
        if not cfg.data_weight > 0:
            raise ValueError(f"data_weight must be positive, got {cfg.data_weight}")
        model_cfg.data_weight = cfg.data_weight
    model_cfg.sigma_output = bool(cfg.sigma)
    model_cfg.type_scalar = bool(cfg.type_scalar)
    if (cfg.data_train or cfg.type_scalar or cfg.equalise_to) and cfg.particle != "electron":
        raise ValueError("data labels (E_label,data) and equalisation use Z→ee data-like "
                         "files: electrons only")
    if cfg.type_scalar and not cfg.data_train:
        raise ValueError("type_scalar needs data_train files (MC and data objects)")
    t0 = time.time()
    with_time = model_cfg.time_mode != "none"
    sample = build_sample(cfg.train, cfg.particle, max_objects=cfg.max_objects,
                          cache_dir=cache_dir, with_time=with_time)
    n_read = len(sample)
    if cfg.mislabel_k is not None:
        sample = sample.subset(np.flatnonzero(mislabel_mask(sample, cfg.mislabel_k)))
    log.info("training sample: %d %ss (%d before the mislabel cut), read in %.0f s",
             len(sample), cfg.particle, n_read, time.time() - t0)
    info = {"files": [str(f) for f in cfg.train], "mislabel_k": cfg.mislabel_k,
            "max_objects_per_file": cfg.max_objects}
    data_samples = []
    if cfg.data_train or cfg.equalise_to:
        from calocoffea.cnn.training.labels import LABEL_MASS_WINDOW, read_zee_labelled

        bdt = _bdt_calibration(cfg.bdt_models)
        for f in dict.fromkeys([*cfg.data_train, *cfg.equalise_to]):
            data_samples.append((f, read_zee_labelled(f, bdt, max_objects=cfg.max_objects,
                                                      with_time=with_time)[0]))
    if cfg.equalise_to:
        from calocoffea.cnn.inputs import scalar_names
        from calocoffea.cnn.training.dataset import concat
        from calocoffea.cnn.training.preprocessing import apply_equalisation, equalisation_maps

        names = scalar_names(cfg.particle)
        target = concat([s for f, s in data_samples if f in cfg.equalise_to])
        maps = equalisation_maps(sample.scalars, target.scalars, names)
        sample.scalars = apply_equalisation(sample.scalars, names, maps).astype(np.float32)
        info["equalisation"] = {"to": list(cfg.equalise_to), **maps}
    if cfg.data_train:
        from calocoffea.cnn.training.dataset import concat

        data = concat([s for f, s in data_samples if f in cfg.data_train])
        sample = concat([sample, data])
        info["ensemble"] = {
            "data_files": list(cfg.data_train), "n_data_objects": len(data),
            "label": "E_label,data (thesis eq. 5.6) from the partner's standard energy, "
                     f"{LABEL_MASS_WINDOW[0]} <= m_ee <= {LABEL_MASS_WINDOW[1]} GeV",
            "loss": "thesis eq. 5.9: mean loss of the MC objects + mean loss of the data "
                    "objects in each batch",
            "type_scalar": cfg.type_scalar,
        }
        log.info("ensemble sample: %d MC + %d data-like electrons", len(sample) - len(data),
                 len(data))
    init_state = None
    if cfg.init_from is not None:
        import torch

        init_state = torch.load(Path(cfg.init_from), weights_only=False)
        if init_state.get("config", {}).get("type_scalar", False) != model_cfg.type_scalar:
            raise ValueError(f"{cfg.init_from}: type_scalar differs from this training's")
        if init_state.get("config", {}).get("time_mode", "none") != model_cfg.time_mode:
            raise ValueError(f"{cfg.init_from}: time_mode differs from this training's")
        info["init_from"] = {"file": str(cfg.init_from),
                             "sha256_of_onnx": init_state.get("onnx_sha256")}
    card = train_and_export(
        sample, model_cfg, out, seed=cfg.seed, threads=cfg.threads, max_minutes=cfg.max_minutes,
        training_info=info, reproduce=cfg.reproduce, init_state=init_state,
    )
    if cfg.test:
        card["test"] = evaluate_model(out, cfg.test, cfg.particle, cache_dir, cfg.bdt_models)
        write_card(out, card)
    return card


def train_and_export(sample, cfg, out: Path, *, seed: int, threads: int = 2,
                     max_minutes: float | None = None, training_info: dict | None = None,
                     reproduce: str | None = None, init_state: dict | None = None) -> dict:
    """Train on ``sample``, export ``out`` (.onnx) and write its card; returns the card."""

    import numpy as np
    import onnxruntime as ort
    import torch

    from calocoffea.cnn.inputs import TRACK_VARS, scalar_names
    from calocoffea.cnn.training.export import export_onnx, write_card
    from calocoffea.cnn.training.model import count_flops
    from calocoffea.cnn.training.train import predict, train

    particle = sample.particle
    res = train(sample, cfg, seed=seed, threads=threads, max_minutes=max_minutes,
                init_state=init_state)
    n_s, n_t = len(scalar_names(particle)), len(TRACK_VARS)
    outputs = export_onnx(res.model, out, n_s, n_t)
    from calocoffea.cnn.training.export import sha256_file

    # the torch state for fine-tuning (CNNTrainingConfig.init_from); not shipped
    torch.save({"net": res.model.net.state_dict(), "preprocessing": res.preprocessing,
                "config": cfg.to_dict(), "onnx_sha256": sha256_file(out)},
               Path(out).with_suffix(".pt"))
    # ONNX vs torch on (up to) 1000 objects, recorded in the card
    check = sample.subset(np.arange(min(1000, len(sample))))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    onnx_ratio = sess.run(["ratio"], {"images": check.images.astype(np.float32),
                                      "scalars": check.scalars, "tracks": check.tracks})[0]
    torch_ratio, _ = predict(res.model, check)
    max_rel = float(np.max(np.abs(onnx_ratio - torch_ratio) / np.abs(torch_ratio)))
    card = {
        "model": "DeepCalo CNN (calocoffea.cnn.training)",
        "particle": particle,
        "target": "ratio = E_true / E_acc; calibrated energy = ratio * scalars[:, e_acc] (GeV)",
        "inputs": input_spec(particle, cfg.image_channels),
        "outputs": outputs,
        "output_description": {
            "ratio": "E_true/E_acc estimate, median bias correction per |eta| bin included",
            "sigma_prime": "log sigma^2 of eq. 4.4 in ratio units (only with --sigma)",
        },
        "preprocessing": {"in_graph": True, **res.preprocessing},
        "bias_correction": {"in_graph": True, **res.bias_correction},
        "sigma_calibration": ({"in_graph": True, **res.sigma_calibration}
                              if res.sigma_calibration else None),
        "config": cfg.to_dict(),
        "flops_per_object": count_flops(cfg, n_s, n_t),
        "n_parameters": int(sum(p.numel() for p in res.model.net.parameters())),
        "training": {
            **(training_info or {}), "n_objects": len(sample), "n_train": res.n_train,
            "n_val": res.n_val, "seed": seed, "threads": threads,
            "seconds": round(res.seconds, 1), "epochs_run": len(res.history),
            "stopped_early": res.stopped_early, "history": res.history,
            "torch": torch.__version__, "platform": platform.platform(), "device": "cpu",
        },
        "validation": res.validation,
        "onnx_vs_torch_max_rel_diff_1000": max_rel,
        "reproduce": reproduce,
    }
    write_card(out, card)
    return card
