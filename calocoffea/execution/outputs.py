"""Saving and loading processor outputs and metrics: safe formats, atomic writes, path checks.

Formats of :func:`save_output`, chosen by the file name:

- ``*.zip`` (default of ``calocoffea run``, e.g. ``out.hist.zip``): a zip archive holding the
  histograms in uhi's serialisation (``uhi.io.zip``: a JSON description per histogram and
  its bin contents, variances and edges as ``.npy`` arrays, read back with
  ``allow_pickle=False``) and ``calocoffea.json``, the rest of the output (cutflow, meta);
- ``*.json`` (e.g. ``out.hist.json``): the same content as one JSON document (uhi's JSON
  writer; exact, since Python writes floats with their shortest round-trip representation,
  but ~500 times larger than the zip for the ``response`` histogram);
- ``*.coffea`` / ``*.pkl``: a pickle (``coffea.util.save``), for code that needs arbitrary
  Python objects. Loading a pickle can execute code embedded in the file, so
  :func:`load_output` reads one only with ``trust_pickle=True`` (``--trust-pickle`` on the
  command line).

Content: the processors' output keyed by dataset, ``{dataset: {"response", "mass",
"cutflow", "meta"}}`` (docs/architecture.md, data contract); :func:`dataset_outputs` returns
that mapping for any output, also the single-dataset form ``{"response", "mass", ...}`` of
files written before outputs were keyed by dataset.

Loading never looks at the name: the first bytes say which format a file is (a pickle
renamed ``.hist.zip`` is still refused). Both safe formats round-trip exactly: bin contents,
variances, flow bins, axis types, names, labels, traits and metadata.

Every file is written by :func:`atomic_write`: a new temporary file in the destination
directory (``O_CREAT | O_EXCL | O_NOFOLLOW``: never an existing file or a planted symlink),
flushed and fsynced, renamed over the destination with ``os.replace`` (which replaces a
symlink at the destination instead of following it), and the directory fsynced. A failed or
interrupted write removes its temporary file and leaves the destination as it was.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import secrets
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

#: ``format`` entry of a calocoffea output file and its version.
FORMAT = "calocoffea-output"
FORMAT_VERSION = 1
#: Name of the member of the zip format that holds everything but the histograms.
MANIFEST = "calocoffea.json"
#: File name endings of the pickle format (coffea.util.save).
PICKLE_SUFFIXES = (".coffea", ".pkl", ".pickle")
_ZIP_MAGIC = b"PK\x03\x04"


class OutputPathError(ValueError):
    """An output path would overwrite an input or another output, or is not a file path."""


class UntrustedPickleError(ValueError):
    """A pickled output was to be loaded without ``trust_pickle=True``."""


class OutputFormatError(ValueError):
    """A file is not a calocoffea output in a known format, or is damaged."""


# ---------------------------------------------------------------------------- atomic writes
def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None], mode: int = 0o644
                 ) -> Path:
    """Write ``path`` atomically: ``write(f)`` fills a temporary file opened with
    ``O_EXCL | O_NOFOLLOW`` in the same directory, which is fsynced and renamed over
    ``path``; the directory is fsynced after the rename. On any exception (also
    KeyboardInterrupt) the temporary file is removed and ``path`` is left unchanged.
    The parent directory is created if needed. Returns ``path``."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    flags_dir = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0))
    dfd = os.open(directory, flags_dir)
    try:
        for _ in range(100):
            tmp = f".{path.name}.{secrets.token_hex(8)}.tmp"
            try:
                fd = os.open(tmp, flags, mode, dir_fd=dfd)
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 100 collisions of 64 random bits
            raise FileExistsError(errno.EEXIST, "no free temporary name", str(directory))
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with _suppress_missing():
                os.unlink(tmp, dir_fd=dfd)
            raise
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return path


class _suppress_missing:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, FileNotFoundError)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write` of a UTF-8 text."""
    data = text.encode()
    return atomic_write(path, lambda f: f.write(data))


def remove_output(path: str | Path) -> bool:
    """Remove a previous output file (a symlink itself, never its target); True if one was
    there. Used before a run so that a failed or interrupted rerun cannot leave the previous
    output looking like its result."""
    path = Path(path)
    if path.is_symlink() or path.exists():
        if path.is_dir() and not path.is_symlink():
            raise OutputPathError(f"output {path} is a directory")
        path.unlink()
        return True
    return False


# ---------------------------------------------------------------------------- path checks
def real(path: str | Path) -> str:
    """``os.path.realpath`` of a local path (symlinks, ``..`` and relative parts resolved)."""
    return os.path.realpath(os.fspath(path))


def check_output_paths(outputs: Mapping[str, str | Path | None],
                       inputs: Iterable[str | Path] = ()) -> None:
    """Raise :class:`OutputPathError` when an output (``{role: path}``, None skipped) is a
    directory, is the same file as an input, or as another output (compared after
    :func:`real`, so ``../x``, ``a/../x`` and symlinks to ``x`` are all ``x``)."""
    from calocoffea.fileset import is_remote

    seen: dict[str, str] = {}
    for path in inputs:
        if not is_remote(str(path)):
            seen.setdefault(real(path), f"input {path}")
    for role, path in outputs.items():
        if path is None:
            continue
        if Path(path).is_dir():
            raise OutputPathError(f"{role} {path} is a directory, expected a file path")
        key = real(path)
        if key in seen:
            raise OutputPathError(
                f"{role} {path} is the same file as the {seen[key]}; refusing to overwrite it"
            )
        seen[key] = f"{role} {path}"


# ---------------------------------------------------------------------------- encoding
def _is_hist(value: Any) -> bool:
    import hist

    return isinstance(value, hist.Hist)


def _encode(value: Any, hists: dict[str, Any], where: str) -> Any:
    """JSON-ready tree of ``value``; histograms are replaced by ``{"@hist": name}`` and
    collected in ``hists``."""
    import numpy as np

    if _is_hist(value):
        name = f"h{len(hists)}"
        hists[name] = value
        return {"@hist": name}
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: key {key!r} is not a string")
            if key.startswith("@"):
                raise TypeError(f"{where}: key {key!r} starts with '@' (reserved)")
            out[key] = _encode(item, hists, f"{where}[{key!r}]")
        return out
    if isinstance(value, set | frozenset):
        return {"@set": [_encode(v, hists, where) for v in sorted(value)]}
    if isinstance(value, list | tuple):
        return [_encode(v, hists, f"{where}[{k}]") for k, v in enumerate(value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"@float": repr(value)}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(
        f"{where}: {type(value).__name__} cannot be saved in the safe formats (histograms, "
        "dicts, lists, sets, numbers, strings); use a .coffea (pickle) output for it"
    )


def _decode(value: Any, hists: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"@hist"}:
            return hists[value["@hist"]]
        if set(value) == {"@set"}:
            return {_decode(v, hists) for v in value["@set"]}
        if set(value) == {"@float"}:
            return float(value["@float"])
        return {k: _decode(v, hists) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, hists) for v in value]
    return value


def _manifest(tree: Any, hists: Mapping[str, Any]) -> dict[str, Any]:
    # "format" first: is_calocoffea_output reads only the beginning of a JSON output
    return {"format": FORMAT, "version": FORMAT_VERSION, "histograms": sorted(hists),
            "content": tree}


def output_format(path: str | Path) -> str:
    """``"zip"``, ``"json"`` or ``"pickle"`` from the file name of an output to write."""
    name = Path(path).name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith(".json"):
        return "json"
    if name.endswith(PICKLE_SUFFIXES):
        return "pickle"
    raise OutputPathError(
        f"{path}: unknown output format; use a name ending in .hist.zip (default), "
        ".hist.json or .coffea (pickle)"
    )


def save_output(output: Mapping[str, Any], path: str | Path) -> Path:
    """Write a processor output atomically in the format its name asks for (module
    docstring). Returns ``path``."""
    import uhi.io.json
    import uhi.io.zip

    fmt = output_format(path)
    if fmt == "pickle":
        import cloudpickle
        import lz4.frame

        # what coffea.util.save writes (lz4-compressed cloudpickle), but atomically
        data = lz4.frame.compress(cloudpickle.dumps(output))
        return atomic_write(path, lambda f: f.write(data))
    hists: dict[str, Any] = {}
    tree = _encode(dict(output), hists, "output")
    if fmt == "json":
        doc = _manifest(tree, {k: k for k in hists})
        doc["hists"] = {name: h for name, h in hists.items()}
        text = json.dumps(doc, default=uhi.io.json.default, allow_nan=False)
        return atomic_write_text(path, text)

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, h in hists.items():
                uhi.io.zip.write(zf, name, h)
            zf.writestr(MANIFEST, json.dumps(_manifest(tree, hists), allow_nan=False))

    return atomic_write(path, write)


def sniff(path: str | Path) -> str:
    """Format of an existing file from its first bytes: ``"zip"``, ``"json"`` or
    ``"pickle"`` (anything else, e.g. coffea.util.save's lz4 frames)."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.lstrip().startswith(b"{"):
        return "json"
    return "pickle"


def is_calocoffea_output(path: str | Path) -> bool:
    """True for a file :func:`save_output` wrote in a safe format (manifest checked), or a
    pickle with a :data:`PICKLE_SUFFIXES` name (not opened)."""
    path = Path(path)
    try:
        fmt = sniff(path)
        if fmt == "pickle":
            return path.name.lower().endswith(PICKLE_SUFFIXES)
        if fmt == "zip":
            with zipfile.ZipFile(path) as zf:
                doc = json.loads(zf.read(MANIFEST))
        else:
            with open(path, "rb") as f:
                head = f.read(200).decode(errors="replace")
            return f'"format": "{FORMAT}"' in head
        return isinstance(doc, dict) and doc.get("format") == FORMAT
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False


def load_output(path: str | Path, *, trust_pickle: bool = False) -> dict[str, Any]:
    """Read a processor output written by :func:`save_output` (or ``coffea.util.save``).

    The safe formats (zip, JSON) contain no code. A pickle is read only with
    ``trust_pickle=True``, else :class:`UntrustedPickleError`: unpickling runs whatever code
    the file's author put in it. Raises :class:`OutputFormatError` for other files.
    """
    import hist

    path = Path(path)
    fmt = sniff(path)
    if fmt == "pickle":
        if not trust_pickle:
            raise UntrustedPickleError(
                f"{path} is a pickle (coffea.util.save), and loading a pickle can execute code "
                "embedded in it; pass --trust-pickle (trust_pickle=True) only for files you "
                "made yourself, or re-save it as .hist.zip"
            )
        from coffea.util import load

        out = load(str(path))
        if not isinstance(out, dict):
            raise OutputFormatError(f"{path}: pickled {type(out).__name__}, not a dict")
        return out
    try:
        if fmt == "json":
            import uhi.io.json

            doc = json.loads(path.read_text())
            _check_manifest(path, doc)
            # uhi's hook turns lists under array keys into numpy arrays: applied to the
            # histograms only, never to the cutflow and meta (a meta key "values" stays a list)
            hists = {name: hist.Hist(_arrays(ir, uhi.io.json.object_hook))
                     for name, ir in doc.get("hists", {}).items()}
        else:
            import uhi.io.zip

            with zipfile.ZipFile(path) as zf:
                doc = json.loads(zf.read(MANIFEST))
                _check_manifest(path, doc)
                hists = {name: hist.Hist(uhi.io.zip.read(zf, name))
                         for name in doc["histograms"]}
        return _decode(doc["content"], hists)
    except (OutputFormatError, UntrustedPickleError):
        raise
    except (KeyError, ValueError, TypeError, zipfile.BadZipFile, OSError, EOFError) as err:
        raise OutputFormatError(
            f"{path}: not a readable calocoffea output ({type(err).__name__}: {err})"
        ) from err


def _arrays(value: Any, hook: Callable[[dict], dict]) -> Any:
    """``json.loads(..., object_hook=hook)`` applied afterwards to one sub-tree."""
    if isinstance(value, dict):
        return hook({k: _arrays(v, hook) for k, v in value.items()})
    if isinstance(value, list):
        return [_arrays(v, hook) for v in value]
    return value


def _check_manifest(path: Path, doc: Any) -> None:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise OutputFormatError(f"{path}: not a calocoffea output (no format {FORMAT!r})")
    if doc.get("version") != FORMAT_VERSION:
        raise OutputFormatError(
            f"{path}: output format version {doc.get('version')!r}, this calocoffea reads "
            f"{FORMAT_VERSION}"
        )


# ---------------------------------------------------------------------------- datasets
#: Keys of one dataset's processor output.
DATASET_KEYS = ("response", "mass", "cutflow", "meta")
#: Dataset name of an output whose events named none (``events.metadata["dataset"]``).
UNNAMED_DATASET = "unnamed"


def is_dataset_output(value: Any) -> bool:
    """True for one dataset's output ``{"mass": ..., "meta": {...}, ...}``."""
    return (isinstance(value, Mapping) and "mass" in value
            and isinstance(value.get("meta"), Mapping) and not isinstance(value["mass"], Mapping))


def dataset_outputs(output: Mapping[str, Any], where: str = "output") -> dict[str, dict]:
    """``{dataset: output of that dataset}`` of a processor output keyed by dataset; a
    single-dataset output (the form before outputs were keyed by dataset) becomes one
    dataset named after its ``meta["dataset"]`` (or ``meta["datasets"]``). Raises
    :class:`OutputFormatError` naming ``where`` and the offending key otherwise."""
    if is_dataset_output(output):
        meta = output["meta"]
        name = meta.get("dataset") or meta.get("datasets") or UNNAMED_DATASET
        if isinstance(name, list | tuple):
            name = "+".join(str(n) for n in name) or UNNAMED_DATASET
        return {str(name): dict(output)}
    if not isinstance(output, Mapping) or not output:
        raise OutputFormatError(f"{where}: expected {{dataset: {{'mass', 'meta', ...}}}}, got "
                                f"{type(output).__name__ if output else 'nothing'}")
    out: dict[str, dict] = {}
    for name, value in output.items():
        if not is_dataset_output(value):
            keys = sorted(value) if isinstance(value, Mapping) else type(value).__name__
            raise OutputFormatError(
                f"{where}: entry {name!r} is not a dataset's output (keys {keys}; expected "
                f"{list(DATASET_KEYS)})")
        out[str(name)] = dict(value)
    return out


def single_dataset(output: Mapping[str, Any], where: str = "output") -> dict:
    """The output of the one dataset of ``output``; :class:`OutputFormatError` naming the
    datasets when there are several."""
    datasets = dataset_outputs(output, where)
    if len(datasets) != 1:
        raise OutputFormatError(f"{where}: {len(datasets)} datasets {sorted(datasets)}, "
                                "expected one")
    return next(iter(datasets.values()))


def select_datasets(output: Mapping[str, Any], names: Iterable[str] | None = None,
                    where: str = "output") -> dict[str, dict]:
    """:func:`dataset_outputs`, restricted to ``names`` (all when None); an unknown name
    raises :class:`KeyError` listing the datasets there are."""
    datasets = dataset_outputs(output, where)
    if names is None:
        return datasets
    names = list(names)
    unknown = [n for n in names if n not in datasets]
    if unknown:
        raise KeyError(f"{where}: no dataset {unknown}; datasets are {sorted(datasets)}")
    return {n: datasets[n] for n in names}


# ---------------------------------------------------------------------------- metrics
def write_metrics(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Write the metrics dict as JSON (atomically)."""
    return atomic_write_text(
        path, json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n"
    )


def write_json(data: Any, path: str | Path, **kwargs: Any) -> Path:
    """``json.dumps(data, **kwargs)`` written atomically."""
    return atomic_write_text(path, json.dumps(data, **kwargs))
