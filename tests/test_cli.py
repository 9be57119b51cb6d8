import subprocess
import sys

import pytest

from calocoffea.app import cli


def test_help_lists_all_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("generate", "train", "run", "fit", "plot", "demo", "bench"):
        assert name in out


def test_console_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "calocoffea", "--help"], capture_output=True, text=True, check=True
    )
    assert "generate" in out.stdout


def test_unbuilt_subcommand_exits_nonzero(monkeypatch, capsys):
    monkeypatch.setitem(cli.SUBCOMMANDS, "notyet", "placeholder")
    assert cli.main(["notyet"]) == 2
    err = capsys.readouterr().err
    assert "not built yet" in err
    assert len(err.strip().splitlines()) == 1
