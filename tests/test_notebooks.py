"""The notebooks run top to bottom on a small sample (they are stored without outputs)."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def nb_env(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("nb")
    old = dict(os.environ)
    os.environ["CALOCOFFEA_NB_EVENTS"] = "2000"
    os.environ["CALOCOFFEA_NB_DIR"] = str(workdir)
    yield workdir
    os.environ.clear()
    os.environ.update(old)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["01_quickstart.ipynb", "02_resolution_and_fits.ipynb"])
def test_notebook_runs(name, nb_env):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), (
        f"{name} must be stored without outputs"
    )
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(nb_env)}}
    ).execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
