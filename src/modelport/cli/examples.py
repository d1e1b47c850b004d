"""``modelport examples NAME --out REPO``: train a worked example into a model repository."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from modelport import examples
from modelport.cli.hints import DefaultsShown


def add_parser(commands: Any, name: str) -> None:
    needs = "; ".join(f"{n}: modelport[{extra}]" for n, extra in sorted(examples.NEEDS.items()))
    cmd = commands.add_parser(
        name,
        help="train a worked example into a model repository",
        formatter_class=DefaultsShown,
        epilog=f"Extras each example needs: {needs}. "
        "The others need modelport[examples] (scikit-learn), as `make serve` installs.",
    )
    cmd.add_argument("example", choices=sorted(examples.EXAMPLES), help="which example")
    cmd.add_argument("--out", type=Path, default=Path("models"), help="repository to write into")
    cmd.add_argument("--seed", type=int, default=0, help="random seed for the training run")
    cmd.add_argument(
        "--framework",
        choices=["xgboost", "lightgbm"],
        help="fraud only: which booster to train (default: XGBoost when installed, else LightGBM)",
    )


def run(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {"seed": args.seed}
    if args.framework:
        if args.example not in examples.FRAMEWORK_CHOICE:
            print(f"modelport: --framework applies to {examples.FRAMEWORK_CHOICE}", file=sys.stderr)
            return 2
        options["framework"] = args.framework
    print(f"training example {args.example!r} into {args.out} ...", flush=True)
    try:
        result = examples.build(args.example, args.out, **options)
    except ImportError as exc:
        extra = args.framework or examples.NEEDS.get(args.example, "examples")
        print(
            f"modelport: example {args.example!r} needs {exc.name or exc}, which is not "
            f"installed: pip install 'modelport[{extra}]'",
            file=sys.stderr,
        )
        return 2
    for path in (result["path"], result.get("also")):
        if path:
            print(f"wrote {path}")
    if "windows" in result:
        return _windows(result)
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


def _windows(result: dict[str, Any]) -> int:
    """The drift example: per window, the shift sent, ROC AUC of the labelled answers and
    the inputs' PSI from the log, and what /metrics said live at the window's end."""
    print("window                     shift  ROC AUC  PSI input  | live ROC AUC  live PSI")
    for window, shift, live in zip(
        result["windows"], result["shifts"], result["live"], strict=False
    ):
        psi = window["drift"].get("input", {}).get("psi", float("nan"))
        print(
            f"{window['start']}  {shift:4.2f}  {window.get('roc_auc', float('nan')):7.4f}"
            f"  {psi:9.3f}  | {live.get('live_roc_auc', float('nan')):12.4f}"
            f"  {live.get('psi', float('nan')):8.3f}"
        )
    return 0
