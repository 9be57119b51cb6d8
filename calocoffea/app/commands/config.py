"""``calocoffea config dump|check``: the TOML run configuration of ``calocoffea run --config``.

``calocoffea config dump [--processor zee] [--out FILE]`` writes the defaults (the run
options, the channel's selection, the executor and batch options, the binnings;
:mod:`calocoffea.config`) to FILE or stdout; ``calocoffea config check FILE`` validates a
file (exit status 2 with the key, the value and what is allowed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from processors import PROCESSORS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    dump = sub.add_parser("dump", help="write the default run configuration (TOML)")
    dump.add_argument("--processor", choices=sorted(PROCESSORS), default="zee",
                      help="channel whose selection is written (default zee)")
    dump.add_argument("--out", type=Path, default=None, help="file to write (default stdout)")
    check = sub.add_parser("check", help="validate a run configuration")
    check.add_argument("file", type=Path, help="TOML run configuration")


def check_file(path: Path) -> str:
    """Validate ``path`` like ``calocoffea run --config`` does (also the selection of its
    processor); returns a one-line description. Raises ConfigError."""
    from calocoffea.config import ConfigError, build_dataclass, load_config
    from processors.base import WEIGHT_MODES

    cfg = load_config(path)
    if cfg.weights not in WEIGHT_MODES:
        raise ConfigError(f"{path}: run.weights: {cfg.weights!r} is not allowed; choose from "
                          f"{list(WEIGHT_MODES)}")
    if cfg.selection:
        if cfg.processor is None:
            raise ConfigError(f"{path}: [selection] needs run.processor (whose selection it is)")
        cls = PROCESSORS[cfg.processor].selection_class
        try:
            build_dataclass(cls, cfg.selection, "selection")
        except ConfigError as err:
            raise ConfigError(f"{path}: {err} ({cls.__name__} of {cfg.processor})") from err
    fileset = "inline [fileset]" if isinstance(cfg.fileset, dict) else cfg.fileset
    return (f"{path}: valid (processor {cfg.processor}, fileset {fileset}, executor "
            f"{cfg.options.executor})")


def run(args: argparse.Namespace) -> int:
    from calocoffea.config import ConfigError, default_config
    from calocoffea.execution.outputs import atomic_write_text

    if args.action == "dump":
        text = default_config(args.processor, PROCESSORS[args.processor].selection_class())
        if args.out is None:
            sys.stdout.write(text)
        else:
            atomic_write_text(args.out, text)
            print(f"wrote {args.out}")
        return 0
    try:
        print(check_file(args.file))
    except ConfigError as err:
        print(f"calocoffea config: {err}", file=sys.stderr)
        return 2
    return 0
