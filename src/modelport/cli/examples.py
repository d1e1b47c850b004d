"""``modelport examples NAME --out REPO``: train a worked example into a model repository."""

from __future__ import annotations

import argparse
import sys
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
    try:
        result = examples.build(args.example, args.out, seed=args.seed)
    except ImportError as exc:
        extra = examples.NEEDS.get(args.example, "examples")
        print(
            f"modelport: example {args.example!r} needs {exc.name or exc}: "
            f"pip install 'modelport[{extra}]'",
            file=sys.stderr,
        )
        return 2
    for path in (result["path"], result.get("also")):
        if path:
            print(f"wrote {path}")
    scores = result.get("scores") or {"accuracy": result["accuracy"]}
    shown = ", ".join(f"{name} {value:.4f}" for name, value in scores.items())
    print(
        f"held-out {shown} on {result['test_samples']} samples; "
        f"trained in {result['train_seconds']:.1f} s"
    )
    parity = result.get("parity_max_abs_error")
    if parity is not None:
        print(f"ONNX vs training framework: max abs error {parity:.1e}")
    return 0
