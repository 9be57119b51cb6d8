"""Run configuration files (TOML, read with ``tomllib``): everything a ``calocoffea run`` needs.

Layout (``calocoffea config dump`` writes it with the defaults)::

    [run]                  # processor, output, calibrations, CNN model, event weights
    processor = "zee"
    out = "out.hist.zip"
    fileset = "fileset.json"   # or a [fileset.<dataset>] table per dataset (coffea's form)
    weights = "sign"
    [selection]            # the fields of the channel's selection dataclass
    [selection.electron]   # (calocoffea.selection: ZeeSelection, ObjectCuts, ...)
    [executor]             # calocoffea.execution.runner.RunOptions
    [executor.batch]       # calocoffea.execution.clusters.BatchOptions (slurm / condor)
    [binning]              # the analysis binnings (calocoffea.binning, channels mass bins)

Relative paths (fileset, its files, out, metrics, model, bdt_models) are relative to the
directory of the configuration file. Keys left out keep their defaults; TOML has no null, so
an option that is None by default is written commented out. Every key is validated:
:class:`ConfigError` names the key (``executor.workers``), the value and what is allowed
(the allowed values, the known keys, or the expected type).

The binnings are recorded, not configurable: the histograms (:mod:`calocoffea.histograms`)
and the fits use the built-in ones, so a ``[binning]`` value other than the built-in one
is refused with the value that is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from calocoffea import binning
from calocoffea.channels import CALIBRATIONS, CHANNELS
from calocoffea.execution.clusters import CLUSTERS
from calocoffea.execution.runner import EXECUTORS, RunOptions

#: Keys of ``[run]`` that are paths (resolved against the configuration file's directory).
PATH_KEYS: tuple[str, ...] = ("out", "metrics", "model", "bdt_models")
#: String options with a closed set of values: dotted key -> allowed values.
CHOICES: dict[str, tuple[str, ...]] = {
    "run.processor": tuple(CHANNELS),
    "executor.executor": EXECUTORS,
    "executor.cluster": CLUSTERS,
}


class ConfigError(ValueError):
    """A run configuration is unreadable or has a key or value that is not allowed."""


@dataclasses.dataclass
class RunConfig:
    """A validated run configuration (module docstring). ``fileset`` is a path or an inline
    coffea fileset mapping; ``selection`` holds the raw values of the channel's selection
    dataclass (built with :func:`build_dataclass`); ``base_dir`` is the directory relative
    paths are resolved against."""

    processor: str | None = None
    fileset: str | dict[str, Any] | None = None
    out: str | None = None
    metrics: str | None = None
    calibrations: list[str] | None = None
    model: str | None = None
    bdt_models: str | None = None
    weights: str = "sign"
    selection: dict[str, Any] = dataclasses.field(default_factory=dict)
    options: RunOptions = dataclasses.field(default_factory=RunOptions)
    base_dir: Path = dataclasses.field(default_factory=Path)

    def path(self, key: str) -> Path | None:
        """The path of ``[run] key`` (``out``, ``metrics``, ``model``, ``bdt_models``,
        ``fileset`` when a path) relative to the configuration file, or None."""
        value = getattr(self, key)
        if value is None or isinstance(value, dict):
            return None
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p


def builtin_binning() -> dict[str, Any]:
    """The analysis binnings in force (``[binning]`` of a configuration): |η|, E_T and ⟨μ⟩
    edges, the response binning and each channel's mass binning (bins, low GeV, high GeV)."""
    return {
        "abs_eta_edges": [float(x) for x in binning.ABS_ETA_EDGES],
        "et_edges_gev": [float(x) for x in binning.ET_EDGES],
        "mu_edges": [float(x) for x in binning.MU_EDGES],
        "response": [binning.RESPONSE_BINS[0], *map(float, binning.RESPONSE_BINS[1:])],
        "mass": {name: [c.mass_bins[0], float(c.mass_bins[1]), float(c.mass_bins[2])]
                 for name, c in CHANNELS.items()},
    }


# ---------------------------------------------------------------------------- dataclasses
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _convert(value: Any, tp: Any, where: str) -> Any:
    """``value`` (from TOML) as type ``tp`` of a dataclass field, or ConfigError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        errors = []
        for a in args:
            try:
                return _convert(value, a, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else
                          f"{where}: {value!r} is not a {' or '.join(map(_type_name, args))}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table of {tp.__name__} fields "
                              f"{[f.name for f in dataclasses.fields(tp)]}, got {value!r}")
        return build_dataclass(tp, value, where)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected an array, got {value!r}")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}")
            return tuple(_convert(v, a, f"{where}[{k}]")
                         for k, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        out = [_convert(v, item, f"{where}[{k}]") for k, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        _, vt = typing.get_args(tp) or (str, Any)
        return {str(k): _convert(v, vt, f"{where}.{k}") for k, v in value.items()}
    raise ConfigError(f"{where}: cannot read a value of type {_type_name(tp)}")  # pragma: no cover


def build_dataclass(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """An instance of dataclass ``cls`` from a TOML table: every key must be a field
    (ConfigError naming the key and the known fields), every value of the field's type;
    missing fields keep their defaults (nested dataclass fields start from theirs)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    defaults = cls() if all(f.default is not dataclasses.MISSING
                            or f.default_factory is not dataclasses.MISSING
                            for f in fields.values()) else None
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{where}.{name}"
        tp = hints[name]
        if dataclasses.is_dataclass(tp) and isinstance(value, Mapping) and defaults is not None:
            # a partial table: the other fields keep the defaults (None ones stay unset)
            base = {k: v for k, v in dataclasses.asdict(getattr(defaults, name)).items()
                    if v is not None}
            value = {**base, **value}  # noqa: PLW2901
        kwargs[name] = _convert(value, tp, key)
        allowed = CHOICES.get(key)
        if allowed is not None and kwargs[name] not in allowed:
            raise ConfigError(f"{key}: {value!r} is not allowed; choose from {list(allowed)}")
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from err


# ---------------------------------------------------------------------------- reading
_SECTIONS = ("run", "fileset", "selection", "executor", "binning")
_RUN_KEYS = ("processor", "fileset", "out", "metrics", "calibrations", "model", "bdt_models",
             "weights")


def parse_config(data: Mapping[str, Any], base_dir: str | Path = ".") -> RunConfig:
    """A :class:`RunConfig` from the parsed TOML ``data`` (see :func:`load_config`)."""
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown}; allowed: {list(_SECTIONS)}")
    for section in _SECTIONS:
        if section in data and not isinstance(data[section], Mapping) and section != "fileset":
            raise ConfigError(f"{section}: expected a table, got {data[section]!r}")
    run = dict(data.get("run", {}))
    bad = sorted(set(run) - set(_RUN_KEYS))
    if bad:
        raise ConfigError(f"run: unknown key(s) {bad}; allowed: {list(_RUN_KEYS)}")
    cfg = RunConfig(base_dir=Path(base_dir))
    for key in ("processor", "out", "metrics", "model", "bdt_models", "weights"):
        if key in run:
            value = _convert(run[key], str, f"run.{key}")
            allowed = CHOICES.get(f"run.{key}")
            if allowed is not None and value not in allowed:
                raise ConfigError(f"run.{key}: {value!r} is not allowed; choose from "
                                  f"{list(allowed)}")
            setattr(cfg, key, value)
    if "calibrations" in run:
        calibs = _convert(run["calibrations"], list[str], "run.calibrations")
        wrong = [c for c in calibs if c not in CALIBRATIONS]
        if wrong or not calibs:
            raise ConfigError(f"run.calibrations: {wrong or calibs!r} not allowed; choose from "
                              f"{list(CALIBRATIONS)}")
        cfg.calibrations = calibs
    if "fileset" in run and "fileset" in data:
        raise ConfigError("fileset: given both as run.fileset and as a [fileset] table; "
                          "keep one")
    if "fileset" in run:
        cfg.fileset = _convert(run["fileset"], str, "run.fileset")
    elif "fileset" in data:
        if not isinstance(data["fileset"], Mapping):
            raise ConfigError(f"fileset: expected a table of datasets, got {data['fileset']!r}")
        cfg.fileset = {str(k): v for k, v in data["fileset"].items()}
    selection = data.get("selection", {})
    cfg.selection = dict(selection)
    executor = dict(data.get("executor", {}))
    cfg.options = build_dataclass(RunOptions, executor, "executor")
    try:
        cfg.options.check()
    except ValueError as err:
        raise ConfigError(f"executor: {err}") from err
    try:
        cfg.options.batch.check()  # also when the cluster is not a batch one (yet)
    except ValueError as err:
        raise ConfigError(f"executor.batch: {err}") from err
    if "binning" in data:
        _check_binning(data["binning"])
    return cfg


def _check_binning(given: Mapping[str, Any]) -> None:
    builtin = builtin_binning()
    for key, value in given.items():
        if key not in builtin:
            raise ConfigError(f"binning: unknown key {key!r}; allowed: {sorted(builtin)}")
        expected = builtin[key]
        if key == "mass":
            if not isinstance(value, Mapping):
                raise ConfigError(f"binning.mass: expected a table per channel, got {value!r}")
            for name, bins in value.items():
                if name not in expected:
                    raise ConfigError(f"binning.mass: unknown channel {name!r}; allowed: "
                                      f"{sorted(expected)}")
                if list(bins) != expected[name]:
                    raise ConfigError(f"binning.mass.{name}: {bins!r} is not allowed; the "
                                      f"histograms use the built-in binning {expected[name]}")
        elif not isinstance(value, list) or [float(v) for v in value] != [
                float(v) for v in expected]:
            raise ConfigError(f"binning.{key}: {value!r} is not allowed; the histograms and "
                              f"fits use the built-in binning {expected}")


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a TOML run configuration (module docstring); ConfigError names the
    file and the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise ConfigError(f"configuration {path} not found") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    try:
        return parse_config(data, base_dir=path.resolve().parent)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err


# ---------------------------------------------------------------------------- writing
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        import json

        return json.dumps(value)  # a TOML basic string is a JSON string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()
                               if v is not None) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")  # pragma: no cover


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


#: Tables written as ``[section.key]`` sub-tables (the others are inline tables).
_SUBTABLES = {"selection": None, "executor": ("batch",), "binning": ("mass",)}


#: Comments written after a key by :func:`config_to_toml`.
_HINTS: dict[str, str] = {
    **{key: "one of " + ", ".join(values) for key, values in CHOICES.items()},
    "run.calibrations": "subset of " + ", ".join(CALIBRATIONS) + " (default: every one "
                        "available; cnn and bdt_shapes dropped for files without cells)",
    "run.weights": "sign (of genWeight in MC) or unit",
}


def _table(lines: list[str], name: str, data: Mapping[str, Any]) -> None:
    lines.append(f"\n[{name}]")
    section = name.split(".", maxsplit=1)[0]
    keys = _SUBTABLES.get(section, ())
    subtables = []
    for key, value in data.items():
        nested = isinstance(value, Mapping) and name == section and (keys is None or key in keys)
        if nested:
            subtables.append((key, value))
        else:
            text = (f"# {_toml_key(key)} =" if value is None
                    else f"{_toml_key(key)} = {_toml_value(value)}")
            hint = _HINTS.get(f"{name}.{key}")
            lines.append(f"{text}  # {hint}" if hint else text)
    for key, value in subtables:
        _table(lines, f"{name}.{_toml_key(key)}", value)


def config_to_toml(cfg: RunConfig, selection: Any = None) -> str:
    """TOML text of ``cfg`` (``selection``: the selection dataclass instance to write; else
    ``cfg.selection``), in the layout :func:`load_config` reads."""
    run = {"processor": cfg.processor,
           "fileset": cfg.fileset if isinstance(cfg.fileset, str) else None,
           "out": cfg.out, "metrics": cfg.metrics, "calibrations": cfg.calibrations,
           "model": cfg.model, "bdt_models": cfg.bdt_models, "weights": cfg.weights}
    lines = ["# calocoffea run configuration (calocoffea run --config FILE; flags override it)",
             "# relative paths are relative to this file's directory"]
    _table(lines, "run", run)
    if isinstance(cfg.fileset, dict):
        lines.append("")
        for name, entry in cfg.fileset.items():
            _table(lines, f"fileset.{_toml_key(name)}", entry if isinstance(entry, Mapping)
                   else {"files": entry})
    sel = dataclasses.asdict(selection) if selection is not None else dict(cfg.selection)
    _table(lines, "selection", sel)
    options = dataclasses.asdict(cfg.options)
    _table(lines, "executor", options)
    _table(lines, "binning", builtin_binning())
    return "\n".join(lines).lstrip("\n") + "\n"


def default_config(processor: str = "zee", selection: Any = None) -> str:
    """The defaults as TOML (``calocoffea config dump``); ``selection`` is the channel's
    default selection dataclass."""
    cfg = RunConfig(processor=processor, fileset="fileset.json", out="out.hist.zip")
    return config_to_toml(cfg, selection)


__all__ = ["ConfigError", "RunConfig", "build_dataclass",
           "builtin_binning", "config_to_toml", "default_config", "load_config",
           "parse_config"]
