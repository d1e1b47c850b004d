"""Command line: the only place that parses argv, configures logging, or prints."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from modelport.cli import convert, evaluate, examples, predict, profile, serve
from modelport.cli.hints import missing_module
from modelport.errors import ModelportError
from modelport.version import __version__

COMMANDS = {
    "serve": serve,
    "examples": examples,
    "predict": predict,
    "evaluate": evaluate,
    "convert": convert,
    "profile-data": profile,
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="modelport", description="Serve ML models over every protocol your clients speak."
    )
    root.add_argument("--version", action="version", version=f"modelport {__version__}")
    commands = root.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        module.add_parser(commands, name)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        result: int = COMMANDS[args.command].run(args)
    except ImportError as exc:  # an optional extra that is not installed
        print(f"modelport: {missing_module(exc)}", file=sys.stderr)
        return 1
    except (ModelportError, OSError) as exc:  # a server's answer, a file, a connection
        print(f"modelport: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1
    return result
