"""Fetch coffea's ``tests/samples/nano_dy.root`` (a small real CMS NanoAOD file) for the tests.

The project commits no third-party data: this script downloads the source distribution of
the installed coffea version from PyPI with ``pip download`` and extracts the one sample
file into ``tests/data/`` (git-ignored). Idempotent: an existing file is kept.

Usage: ``python scripts/fetch_test_data.py [--dest tests/data]``; exit status 0 on success,
1 when the download or extraction fails (the reason is printed).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path

log = logging.getLogger("fetch_test_data")

#: Path of the sample inside the coffea sdist (below the top-level ``coffea-<version>/``).
SAMPLE_IN_SDIST = "tests/samples/nano_dy.root"
DEFAULT_DEST = Path(__file__).resolve().parents[1] / "tests" / "data"


class FetchError(RuntimeError):
    """The sample could not be downloaded or extracted."""


def _extract(archive: Path, dest_file: Path) -> None:
    """Copy ``SAMPLE_IN_SDIST`` from a .tar.gz or .zip sdist to ``dest_file``."""
    # per-process temporary name: parallel test workers may fetch at the same time
    tmp_out = dest_file.with_name(f".{dest_file.name}.{os.getpid()}.part")
    if archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.endswith("/" + SAMPLE_IN_SDIST)]
            if not members:
                raise FetchError(f"{SAMPLE_IN_SDIST} not found in {archive.name}")
            src = tar.extractfile(members[0])
            if src is None:
                raise FetchError(f"{members[0].name} in {archive.name} is not a regular file")
            with src, open(tmp_out, "wb") as out:
                shutil.copyfileobj(src, out)
    elif archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n.endswith("/" + SAMPLE_IN_SDIST)]
            if not names:
                raise FetchError(f"{SAMPLE_IN_SDIST} not found in {archive.name}")
            with zf.open(names[0]) as src, open(tmp_out, "wb") as out:
                shutil.copyfileobj(src, out)
    else:
        raise FetchError(f"unexpected sdist format: {archive.name}")
    tmp_out.replace(dest_file)  # atomic: concurrent test workers never see a partial file


def fetch(dest: Path = DEFAULT_DEST, coffea_version: str | None = None) -> Path:
    """Return the path of ``nano_dy.root`` in ``dest``, downloading it when missing.

    Raises :class:`FetchError` when pip cannot download the coffea sdist or the file is
    not inside it.
    """
    dest = Path(dest)
    target = dest / "nano_dy.root"
    if target.is_file() and target.stat().st_size > 0:
        return target
    dest.mkdir(parents=True, exist_ok=True)
    coffea_version = coffea_version or version("coffea")
    with tempfile.TemporaryDirectory(prefix="calocoffea-sdist-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"coffea=={coffea_version}",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
            tmp,
        ]
        log.info("running %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise FetchError(
                f"pip download coffea=={coffea_version} failed "
                f"(exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
            )
        archives = sorted(Path(tmp).iterdir())
        if not archives:
            raise FetchError(f"pip download coffea=={coffea_version} produced no file")
        _extract(archives[0], target)
    log.info("wrote %s", target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="output folder")
    parser.add_argument("--coffea-version", default=None, help="default: the installed one")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = fetch(args.dest, args.coffea_version)
    except FetchError as err:
        print(f"fetch_test_data: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
