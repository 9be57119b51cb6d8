"""coffea fileset JSON: reading, writing and validation.

The format is coffea's own::

    {
      "zee_mc": {"files": {"data/zee_mc.root": "Events"}, "metadata": {"kind": "mc"}},
      "zee_data": {"files": ["data/zee_data.root"], "treename": "Events"}
    }

``files`` is either a mapping path → tree name or a list of paths (then ``treename``, default
``Events``, applies). :func:`load_fileset` returns the normalised mapping form. Relative local
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
        unknown = sorted(set(entry) - {"files", "treename", "metadata", "preload"})
        if unknown:
            raise FilesetError(f"{where}: unknown keys {unknown}")
        tree = entry.get("treename", DEFAULT_TREE)
        files = entry["files"]
        if isinstance(files, list):
            files = dict.fromkeys(files, tree)
        if not isinstance(files, Mapping) or not files:
            raise FilesetError(f"{where}: 'files' must be a non-empty list or mapping")
        resolved: dict[str, str] = {}
        for name, treename in files.items():
            if not isinstance(name, str) or not isinstance(treename, str):
                raise FilesetError(f"{where}: file entries must be strings, got {name!r}")
            if is_remote(name):
                resolved[name] = treename
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
        norm: dict[str, Any] = {"files": resolved}
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
    """Read a fileset JSON file and normalise it (see :func:`normalize_fileset`)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise FilesetError(f"fileset {path} not found") from err
    except json.JSONDecodeError as err:
        raise FilesetError(f"fileset {path} is not valid JSON: {err}") from err
    try:
        return normalize_fileset(raw, base_dir=path.parent, check_files=check_files,
                                 allow_shared_files=allow_shared_files)
    except FilesetError as err:
        raise FilesetError(f"{path}: {err}") from err


def write_fileset(path: str | Path, fileset: Mapping[str, Any]) -> Path:
    """Write ``fileset`` (any accepted form) as JSON; returns the path."""
    from calocoffea.execution.outputs import atomic_write_text

    norm = normalize_fileset(fileset, check_files=False, resolve=False)
    return atomic_write_text(path, json.dumps(norm, indent=2) + "\n")


def fileset_files(fileset: Mapping[str, Any]) -> list[str]:
    """All file paths of a normalised fileset, in order."""
    return [f for entry in fileset.values() for f in entry["files"]]
