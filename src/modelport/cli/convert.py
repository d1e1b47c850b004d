"""``modelport convert SRC --to onnx [--out REPO/MODEL/N]``: convert with a parity check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelport.cli.hints import DefaultsShown, missing_module

if TYPE_CHECKING:
    from modelport import conversion


def add_parser(commands: Any, name: str) -> None:
    cmd = commands.add_parser(
        name,
        help="convert a model to ONNX and prove it answers the same",
        formatter_class=DefaultsShown,
    )
    cmd.add_argument("source", type=Path, help="model file or SavedModel directory")
    cmd.add_argument("--to", choices=["onnx"], default="onnx", help="target format")
    cmd.add_argument(
        "--out", type=Path, help="new version directory REPO/MODEL/N (default: next version)"
    )
    cmd.add_argument("--sample", type=Path, help=".npz of inputs by name (default: generated)")
    cmd.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance")
    cmd.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance")
    cmd.add_argument("--opset", type=int, default=17, help="ONNX opset where the converter asks")


def run(args: argparse.Namespace) -> int:
    from modelport import conversion  # onnx and the converters: only for this command

    out = args.out or conversion.next_version(args.source)
    if out is None:
        print(
            "modelport: give --out REPO/MODEL/N (the source is not in a repository)",
            file=sys.stderr,
        )
        return 2
    try:
        report = conversion.convert(
            args.source, out, _sample(args.sample), args.atol, args.rtol, args.opset
        )
    except conversion.ParityError as exc:
        _print_errors(exc.report)
        print(f"modelport: parity check failed, nothing written: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"modelport: cannot convert {args.source}: {missing_module(exc)}", file=sys.stderr)
        return 1
    except (ValueError, RuntimeError) as exc:
        print(f"modelport: cannot convert {args.source}: {exc}", file=sys.stderr)
        return 1
    _print_errors(report)
    print(f"wrote {out / 'model.onnx'} and {out / 'conversion.json'} ({report.seconds:.1f} s)")
    return 0


def _sample(path: Path | None) -> dict[str, np.ndarray] | None:
    if path is None:
        return None
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def _print_errors(report: conversion.Report) -> None:
    print(f"{report.runtime} → ONNX, parity on {report.samples} samples:")
    for name, errors in report.outputs.items():
        shown = ", ".join(f"{key} {value:.3g}" for key, value in errors.items())
        print(f"  {name}: {shown}")
