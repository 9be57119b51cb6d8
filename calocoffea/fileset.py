"""coffea fileset JSON: reading, writing and validation.

The format is coffea's own::

    {
      "zee_mc": {"files": {"data/zee_mc.root": "Events"}, "metadata": {"kind": "mc"}},
      "zee_data": {"files": ["data/zee_data.root"], "treename": "Events"}
    }

``files`` is either a mapping path → tree name or a list of paths (then ``treename``, default
``Events``, applies), or coffea ``dataset_tools``' preprocessed form, a mapping path →
``{"object_path": tree, "steps": [[start, stop], ...], "num_entries": n, "uuid": ...}``
(also with a dataset-level ``form``, which is not needed: the schema builds the events).
calocoffea processes whole files: the steps must tile the file from entry 0 without gaps
(:class:`FilesetError` otherwise), and the entries they cover are checked against the file
before the run (``entries`` of the normalised form). :func:`load_fileset` returns the
normalised mapping form ``{dataset: {"files": {path: tree}, "metadata": ..., "entries":
{path: n}}}``.

Local paths with glob characters (``*``, ``?``, ``[``) are expanded (sorted; a pattern that
matches nothing is an error naming it). ``root://`` files are read through fsspec-xrootd,
the ``xrootd`` extra (``pip install 'calocoffea[xrootd]'``); without it a fileset with such
a file is a one-line :class:`FilesetError` saying so. Relative local
paths are resolved against the directory of the JSON file, so a fileset can be moved together
with its data; URLs (``root://``, ``https://``, ``s3://``, ...) are left untouched and are not
checked for existence.

Local paths are then resolved to real paths (``os.path.realpath``: ``..``, ``.`` and symlinks
resolved), so that one file reached through several names is recognised as one file: inside
a dataset it is kept once (a warning names the other names); in two datasets it is an error
(:class:`FilesetError`) unless ``allow_shared_files=True`` (``calocoffea run
--allow-shared-files``), since its events would then be counted once per dataset.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_TREE = "Events"
#: Keys coffea reserves for itself in the per-dataset metadata.
_RESERVED_META = ("dataset", "filename", "treename", "entrystart", "entrystop", "fileuuid")


class FilesetError(ValueError):
    """A fileset is malformed or names missing files."""


#: Characters that make a local path a glob pattern.
GLOB_CHARS = "*?["
#: URL schemes and the module that reads them (``pip install 'calocoffea[extra]'``).
REMOTE_HANDLERS: dict[str, tuple[str, str]] = {"root": ("fsspec_xrootd", "xrootd")}


def check_remote_support(paths: list[str]) -> None:
    """FilesetError (one line) when a path's scheme needs a package that is not installed
    (``root://`` needs fsspec-xrootd, the ``xrootd`` extra)."""
    import importlib.util

    for path in paths:
        scheme = path.split("://", 1)[0].lower() if is_remote(path) else ""
        if scheme in REMOTE_HANDLERS:
            module, extra = REMOTE_HANDLERS[scheme]
            if importlib.util.find_spec(module) is None:
                raise FilesetError(
                    f"{path}: {scheme}:// files need {module.replace('_', '-')}, which is not "
                    f"installed: pip install 'calocoffea[{extra}]'")


def _expand(name: str, base_dir: str | Path | None, where: str) -> list[str]:
    """``name`` itself, or the sorted local files a glob pattern matches."""
    import glob

    if is_remote(name) or not any(c in name for c in GLOB_CHARS):
        return [name]
    pattern = Path(name.removeprefix("file://"))
    if base_dir is not None and not pattern.is_absolute():
        pattern = Path(base_dir) / pattern
    matches = sorted(p for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file())
    if not matches:
        raise FilesetError(f"{where}: pattern {name} matches no file")
    return matches


def _preprocessed(name: str, spec: Mapping[str, Any], where: str) -> tuple[str, int | None]:
    """(tree, entries covered) of a coffea ``dataset_tools`` file entry."""
    known = {"object_path", "steps", "num_entries", "uuid"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise FilesetError(f"{where}: file {name}: unknown keys {unknown}; a preprocessed "
                           f"entry has {sorted(known)}")
    tree = spec.get("object_path")
    if not isinstance(tree, str):
        raise FilesetError(f"{where}: file {name}: 'object_path' (the tree name) must be a "
                           f"string, got {tree!r}")
    steps = spec.get("steps")
    n = spec.get("num_entries")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise FilesetError(f"{where}: file {name}: num_entries must be an integer >= 0, "
                           f"got {n!r}")
    if steps is None:
        return tree, n
    if not isinstance(steps, list) or not all(
            isinstance(st, list | tuple) and len(st) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in st) for st in steps):
        raise FilesetError(f"{where}: file {name}: 'steps' must be a list of [start, stop] "
                           f"entry pairs, got {steps!r}")
    end = 0
    for start, stop in steps:
        if start != end or stop < start:
            raise FilesetError(
                f"{where}: file {name}: steps {steps} do not tile the file from entry 0 "
                f"(step [{start}, {stop}] after entry {end}); calocoffea processes whole "
                "files, so a selection of entries is refused")
        end = stop
    if n is not None and end != n:
        raise FilesetError(f"{where}: file {name}: steps end at entry {end} but the file has "
                           f"num_entries {n}; calocoffea processes whole files")
    return tree, end


def is_remote(path: str) -> bool:
    """True for URLs (anything with a ``scheme://``), which are not checked locally."""
    return "://" in path and not path.startswith("file://")


def normalize_fileset(
    fileset: Mapping[str, Any],
    base_dir: str | Path | None = None,
    check_files: bool = True,
    *,
    resolve: bool = True,
    allow_shared_files: bool = False,
) -> dict[str, dict[str, Any]]:
    """Validate ``fileset`` and return it as ``{dataset: {"files": {path: tree}, ...}}``.

    Relative local paths are resolved against ``base_dir`` when given. With
    ``check_files``, a missing local file raises :class:`FilesetError` naming it. With
    ``resolve`` (default) local paths become real paths and duplicates are removed (see the
    module docstring; ``allow_shared_files`` permits a file in several datasets).
    """
    if not isinstance(fileset, Mapping) or not fileset:
        raise FilesetError("a fileset must be a non-empty mapping of dataset name -> files")
    out: dict[str, dict[str, Any]] = {}
    for dataset, raw in fileset.items():
        where = f"dataset {dataset!r}"
        entry = {"files": raw} if isinstance(raw, list) else raw
        if not isinstance(entry, Mapping) or "files" not in entry:
            raise FilesetError(f"{where}: expected a list of files or a mapping with 'files'")
        unknown = sorted(set(entry) - {"files", "treename", "metadata", "preload", "form",
                                       "entries"})
        if unknown:
            raise FilesetError(f"{where}: unknown keys {unknown}")
        tree = entry.get("treename", DEFAULT_TREE)
        files = entry["files"]
        if isinstance(files, list):
            files = dict.fromkeys(files, tree)
        if not isinstance(files, Mapping) or not files:
            raise FilesetError(f"{where}: 'files' must be a non-empty list or mapping")
        resolved: dict[str, str] = {}
        expected: dict[str, int] = {}
        given_entries = entry.get("entries") or {}
        items: list[tuple[str, str, int | None]] = []
        for name, spec in files.items():
            if not isinstance(name, str):
                raise FilesetError(f"{where}: file entries must be strings, got {name!r}")
            if isinstance(spec, Mapping):
                treename, n = _preprocessed(name, spec, where)
            elif isinstance(spec, str):
                treename, n = spec, given_entries.get(name)
            else:
                raise FilesetError(f"{where}: file entries must be strings, got {name!r}: "
                                   f"{spec!r}")
            for path in _expand(name, base_dir, where):
                items.append((path, treename, n))
        for name, treename, n in items:
            if is_remote(name):
                resolved[name] = treename
                if n is not None:
                    expected[name] = n
                continue
            local = Path(name.removeprefix("file://"))
            if base_dir is not None and not local.is_absolute():
                local = Path(base_dir) / local
            if check_files and not local.is_file():
                raise FilesetError(f"{where}: file {local} does not exist")
            key = os.path.realpath(local) if resolve else str(local)
            if key in resolved:
                if resolved[key] != treename:
                    raise FilesetError(
                        f"{where}: {name} is the file {key} listed before with tree "
                        f"{resolved[key]!r}, now with tree {treename!r}"
                    )
                log.warning("%s: %s is %s, listed before; kept once", where, name, key)
                continue
            resolved[key] = treename
            if n is not None:
                expected[key] = n
        norm: dict[str, Any] = {"files": resolved}
        if expected:
            norm["entries"] = expected
        metadata = entry.get("metadata")
        if metadata is not None:
            if not isinstance(metadata, Mapping):
                raise FilesetError(f"{where}: 'metadata' must be a mapping")
            clash = sorted(set(metadata) & set(_RESERVED_META))
            if clash:
                raise FilesetError(f"{where}: metadata keys {clash} are reserved by coffea")
            norm["metadata"] = dict(metadata)
        if "preload" in entry:
            norm["preload"] = list(entry["preload"])
        out[str(dataset)] = norm
    if resolve and not allow_shared_files:
        check_shared_files(out)
    return out


def check_shared_files(fileset: Mapping[str, Any]) -> None:
    """Raise :class:`FilesetError` when one (real) local file is in two datasets."""
    owner: dict[str, str] = {}
    for dataset, entry in fileset.items():
        for path in entry["files"]:
            if is_remote(path):
                continue
            key = os.path.realpath(path)
            if key in owner and owner[key] != dataset:
                raise FilesetError(
                    f"file {key} is in datasets {owner[key]!r} and {dataset!r}: its events "
                    "would be counted twice; pass allow_shared_files=True "
                    "(--allow-shared-files) if that is intended"
                )
            owner[key] = dataset


def resolve_fileset(fileset: Mapping[str, Any], allow_shared_files: bool = False
                    ) -> dict[str, dict[str, Any]]:
    """Any accepted fileset form, normalised (:func:`normalize_fileset`, files not checked)
    with real local paths, each file once per dataset (see the module docstring); what
    :func:`calocoffea.execution.runner.run` does to every fileset."""
    return normalize_fileset(fileset, check_files=False, allow_shared_files=allow_shared_files)


def load_fileset(path: str | Path, check_files: bool = True, allow_shared_files: bool = False
                 ) -> dict[str, dict[str, Any]]:
    """Read a fileset JSON file and normalise it (see :func:`normalize_fileset`); with
    ``check_files``, also that its URLs can be read here (:func:`check_remote_support`)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise FilesetError(f"fileset {path} not found") from err
    except json.JSONDecodeError as err:
        raise FilesetError(f"fileset {path} is not valid JSON: {err}") from err
    try:
        fileset = normalize_fileset(raw, base_dir=path.parent, check_files=check_files,
                                    allow_shared_files=allow_shared_files)
        if check_files:
            check_remote_support(fileset_files(fileset))
    except FilesetError as err:
        raise FilesetError(f"{path}: {err}") from err
    return fileset


def write_fileset(path: str | Path, fileset: Mapping[str, Any]) -> Path:
    """Write ``fileset`` (any accepted form) as JSON; returns the path."""
    from calocoffea.execution.outputs import atomic_write_text

    norm = normalize_fileset(fileset, check_files=False, resolve=False)
    return atomic_write_text(path, json.dumps(norm, indent=2) + "\n")


def fileset_files(fileset: Mapping[str, Any]) -> list[str]:
    """All file paths of a normalised fileset, in order."""
    return [f for entry in fileset.values() for f in entry["files"]]
