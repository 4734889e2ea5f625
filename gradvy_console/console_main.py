"""`gradvy-console [--config PATH]`: the Textual operations console."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="gradvy-console",
        description="Operations console for the Gradvy pipeline: starts (or attaches to) the "
                    "worker pool and shows it live. Press ? inside for the keys.")
    parser.add_argument("--config", help="Config file (default: $GRADVY_CONFIG, then "
                                         "./config.toml, then built-in defaults).")
    parser.add_argument("--read-only", action="store_true",
                        help="Show everything and perform nothing: no action runs and no "
                             "worker pool is started or stopped ([console] read_only).")
    args = parser.parse_args(argv)
    os.umask(0o077)   # the data dir holds personal data: private to its owner
    from .config import load_config
    from .errors import GradvyError

    try:
        config = load_config(args.config)
        if args.read_only:
            config = config.with_overrides(
                console=dataclasses.replace(config.console, read_only=True))
    except GradvyError as exc:
        sys.stderr.write(f"gradvy-console: {exc}\n")
        sys.exit(exc.exit_code)
    from .app import make_app

    make_app(config, args.config).run()
