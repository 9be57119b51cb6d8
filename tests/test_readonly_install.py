"""A read-only installation used by an unprivileged user whose HOME is not writable (issue 16,
class 8): importing calocoffea failed (``cannot cache function '_build_windows': no locator
available``) since every numba kernel asks for an on-disk cache at import.

The test copies the package into a directory the user ``nobody`` cannot write, runs a Python
there as ``nobody`` (``setpriv``) with ``HOME=/nonexistent`` and builds an image; skipped
unless the tests run as root with setpriv and a system Python of this version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOBODY = 65534
#: run a command as nobody, without root's groups
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]

CODE = """
import sys
import numpy as np
import calocoffea
assert calocoffea.__file__.startswith(sys.argv[1]), calocoffea.__file__
from calocoffea.cnn.images import build_images, window_cells
from calocoffea.sim import generate_file  # imports the simulation kernels (_build_windows)
cells = window_cells(0.31, 1.2)
e = np.ones(cells["eta"].size, np.float32)
images, valid = build_images(e, cells["eta"], cells["phi"], cells["layer"],
                             np.array([0, e.size]), cluster_eta=np.array([0.31]),
                             cluster_phi=np.array([1.2]))
assert images.shape == (1, 4, 56, 11) and valid.all() and images.sum() > 0
print("ok", float(images.sum()))
"""


def _python_for_nobody() -> str | None:
    """A Python of this version that ``nobody`` can execute (the venv's may live under
    /root), or None."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, shutil.which(version), f"/usr/bin/{version}"):
        if not candidate or not Path(candidate).exists():
            continue
        res = subprocess.run(
            [*AS_NOBODY, candidate, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True, text=True, check=False)
        if res.returncode == 0 and res.stdout.strip() == str(sys.version_info[:2]):
            return candidate
    return None


def _nobody_can_import_from(python: str, site: str) -> bool:
    res = subprocess.run(
        [*AS_NOBODY, python, "-c", "import numpy"],
        capture_output=True, text=True, check=False, cwd="/",
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": site, "HOME": "/nonexistent"})
    return res.returncode == 0


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root to run as nobody")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_read_only_install_with_unwritable_home_imports_and_builds_images():
    python = _python_for_nobody()
    if python is None:
        pytest.skip("no Python of this version that nobody can execute")
    site = sysconfig.get_paths()["purelib"]
    if not _nobody_can_import_from(python, site):
        pytest.skip(f"nobody cannot import numpy from {site} (a directory above it is "
                    "private, e.g. a checkout under mktemp -d): nothing to test read-only")
    # pytest's tmp_path lives under a directory only root may enter
    tmp_path = Path(tempfile.mkdtemp(prefix="calocoffea-ro-"))
    try:
        _check_read_only_install(python, site, tmp_path)
    finally:
        for root, dirs, _ in os.walk(tmp_path):
            for name in dirs:
                os.chmod(Path(root) / name, 0o755)
        os.chmod(tmp_path, 0o755)
        shutil.rmtree(tmp_path)


def _check_read_only_install(python: str, site: str, tmp_path: Path) -> None:
    install = tmp_path / "site"
    for pkg in ("calocoffea", "processors"):
        shutil.copytree(REPO / pkg, install / pkg,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(REPO / "models", install / "calocoffea" / "models")
    for root, dirs, files in os.walk(install):  # read-only for everyone
        for name in files:
            os.chmod(Path(root) / name, 0o444)
        for name in dirs:
            os.chmod(Path(root) / name, 0o555)
    os.chmod(install, 0o555)
    os.chmod(tmp_path, 0o755)
    scratch = tmp_path / "tmp"  # nobody's temporary directory (the private numba cache)
    scratch.mkdir()
    os.chown(scratch, NOBODY, NOBODY)
    env = {"HOME": "/nonexistent", "PATH": "/usr/bin:/bin", "TMPDIR": str(scratch),
           "PYTHONPATH": f"{install}:{site}", "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(2):  # the second run finds the cache the first one wrote
        res = subprocess.run(
            [*AS_NOBODY, python, "-c", CODE, str(install)],
            capture_output=True, text=True, env=env, cwd=scratch, timeout=600, check=False)
        assert res.returncode == 0, res.stderr[-3000:]
        assert res.stdout.startswith("ok"), res.stdout
    cache = scratch / f"calocoffea-numba-{NOBODY}"
    assert cache.is_dir() and any(cache.rglob("*.nbi"))
    assert (cache.stat().st_mode & 0o777) == 0o700
