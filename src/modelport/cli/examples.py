"""``modelport examples NAME --out REPO``: train a worked example into a model repository."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from modelport import examples


def add_parser(commands: Any, name: str) -> None:
    cmd = commands.add_parser(name, help="train a worked example into a model repository")
    cmd.add_argument("example", choices=sorted(examples.EXAMPLES), help="which example")
    cmd.add_argument("--out", type=Path, default=Path("models"), help="repository to write into")
    cmd.add_argument("--seed", type=int, default=0, help="random seed for the training run")


def run(args: argparse.Namespace) -> int:
    print(f"training example {args.example!r} into {args.out} ...", flush=True)
    result = examples.build(args.example, args.out, seed=args.seed)
    print(f"wrote {result['path']}")
    parity = result.get("parity_max_abs_error")
    print(
        f"held-out accuracy {result['accuracy']:.4f} on {result['test_samples']} samples; "
        f"trained in {result['train_seconds']:.1f} s"
        + (f"; ONNX vs training framework max abs error {parity:.1e}" if parity is not None else "")
    )
    return 0
