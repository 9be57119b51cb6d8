"""The layout rules of docs/architecture.md, and a wheel that works outside the repository."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "calocoffea"
#: The application layer: the only part of calocoffea allowed to import processors/.
APP = LIBRARY / "app"


def _imports(path: Path) -> set[str]:
    """Absolute module names imported anywhere in ``path`` (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _library_modules() -> list[Path]:
    return [p for p in LIBRARY.rglob("*.py")
            if APP not in p.parents and p.name != "__main__.py"]


def test_library_never_imports_the_application_layer_or_processors():
    assert len(_library_modules()) > 40  # the walk found the library
    bad = {}
    for path in _library_modules():
        wrong = sorted(n for n in _imports(path)
                       if n == "processors" or n.startswith(("processors.", "calocoffea.app")))
        if wrong:
            bad[str(path.relative_to(ROOT))] = wrong
    assert not bad, f"library modules importing the app layer or processors/: {bad}"


def test_import_walk_detects_a_wrong_way_import(tmp_path):
    """The walk above sees imports inside functions too (where the lazy ones are)."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from calocoffea.app.demo import run_demo\n"
                      "    import processors.zee\n")
    assert {"calocoffea.app.demo", "processors.zee"} <= _imports(module)


def test_every_package_is_listed_for_the_wheel():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in ROOT.glob("calocoffea/**/__init__.py")}
    found |= {"processors", "calocoffea.models"}
    assert found == listed


def test_each_constant_has_one_definition():
    """m_Z, Γ_Z, m_H, the particle list, the image shape, the |η| ranges and the channel table
    are assigned at module level in exactly one library module."""
    names = {"MZ_GEV", "GAMMA_Z_GEV", "MH_GEV", "PARTICLES", "IMAGE_SHAPE", "ETA_MAX", "CRACK",
             "ABS_ETA_EDGES", "CHANNELS", "N_LAYERS", "MASS_BINS", "CHANNEL_PARTICLE",
             "CHANNEL_TITLE"}
    where: dict[str, list[str]] = {n: [] for n in names}
    for path in [*_library_modules(), *APP.rglob("*.py"), *(ROOT / "processors").glob("*.py")]:
        for node in ast.parse(path.read_text()).body:
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AnnAssign) else [])
            for target in targets:
                if isinstance(target, ast.Name) and target.id in names:
                    where[target.id].append(str(path.relative_to(ROOT)))
    counts = {n: len(v) for n, v in where.items()}
    legacy = {"MASS_BINS", "CHANNEL_PARTICLE", "CHANNEL_TITLE"}
    assert all(counts[n] == 0 for n in legacy), where
    assert all(counts[n] == 1 for n in names - legacy), where


@pytest.mark.slow
def test_wheel_installed_outside_the_repository_runs_zee_with_the_cnn(tmp_path):
    """Build a wheel, install it (no dependencies) into a fresh virtual environment that sees
    this environment's third-party packages but not the source tree, and from a directory
    outside the repository: generate Z→ee, run the processor with the CNN, fit."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(ROOT)], check=True, timeout=300)
    wheel = next(wheels.glob("calocoffea-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path("
                                "'purelib'))"], check=True, capture_output=True,
                               text=True).stdout.strip())
    # third-party packages from this environment; its .pth files (the editable install's
    # finder among them) are not processed for a path added this way
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                    "-q", str(wheel)], check=True, timeout=300)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CALOCOFFEA_MODELS")}
    env["CALOCOFFEA_DATA"] = str(work / "data")
    cli = [str(py), "-m", "calocoffea"]

    def run(*args):
        res = subprocess.run([*cli, *args], cwd=work, env=env, capture_output=True, text=True,
                             timeout=600, check=False)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        return res

    where = subprocess.run([str(py), "-c", "import calocoffea, processors; "
                            "print(calocoffea.__file__, processors.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert str(ROOT) not in where and str(site) in where
    run("generate", "--process", "zee", "--kind", "mc", "--events", "1500", "--seed", "3",
        "--out", "zee.root")
    (work / "fileset.json").write_text(json.dumps({"zee": {"files": {"zee.root": "Events"}}}))
    run("run", "--processor", "zee", "fileset.json", "--executor", "iterative",
        "--calibrations", "bdt,cnn,truth", "--out", "out.hist.zip", "--metrics", "m.json",
        "--no-progress")
    metrics = json.loads((work / "m.json").read_text())
    model = Path(metrics["model"])
    assert model.name == "deepcalo_electron.onnx" and str(site) in str(model)
    card = json.loads(model.with_suffix(".json").read_text())
    assert metrics["model_sha256"] == card["sha256"]
    assert "cnn" in metrics["calibrations"]
    assert metrics["status"] == "complete"
    run("fit", "out.hist.zip", "--out", "results.json")
    results = json.loads((work / "results.json").read_text())
    assert results["channel"] == "zee"
    assert {"bdt", "cnn"} <= set(results["mass"]["inclusive"])
