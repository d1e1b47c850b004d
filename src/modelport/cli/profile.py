"""``modelport profile-data DATA --out MODEL_DIR/profile.json``: a drift reference.

Profiles a training file's rows as the model's input (``--input``, or the served model's first
input with ``--url``/``--model``); with a served model, its answers to those rows profile its
first output too. A model whose ``config.yaml`` has ``logging: {drift: true}`` reads
``profile.json`` from its directory at load (``drift.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from modelport import evaluate
from modelport.cli.hints import DefaultsShown
from modelport.client import Client
from modelport.datasets import DATASETS, Dataset, load_dataset
from modelport.drift import Profile
from modelport.errors import InvalidInput


def add_parser(commands: Any, name: str) -> None:
    cmd = commands.add_parser(
        name,
        help="write a drift reference profile from a training file",
        formatter_class=DefaultsShown,
    )
    cmd.add_argument("data", help=f"{', '.join(DATASETS)}, FILE.npz (x), FILE.npy or FILE.csv")
    cmd.add_argument("--out", type=Path, required=True, help="the profile file to write")
    cmd.add_argument("--input", default="input", help="the input tensor's name (without --url)")
    cmd.add_argument("--url", help="host:port of a server: profile the model's answers too")
    cmd.add_argument("--model", help="the served model (with --url)")
    cmd.add_argument("--batch-size", type=int, default=256, help="rows per request (with --url)")


def run(args: argparse.Namespace) -> int:
    if (args.url is None) != (args.model is None):
        raise InvalidInput("--url and --model go together")
    x = _rows(args.data)
    tensors = {args.input: x}
    if args.url is not None:
        with Client(args.url) as client:
            meta = client.metadata(args.model)
            data = Dataset(args.data, x, np.zeros(len(x)), "classification")
            answers, _ = evaluate.run(client, args.model, data, args.batch_size)
        tensors = {meta.inputs[0].name: x, meta.outputs[0].name: answers}
    profile = Profile.of(tensors)
    if not profile.tensors:
        raise InvalidInput(f"{args.data}: no numeric tensor to profile")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    profile.save(args.out)
    shown = ", ".join(f"{n} ({t.features} features)" for n, t in profile.tensors.items())
    print(f"profiled {profile.rows} rows: {shown}; wrote {args.out}")
    return 0


def _rows(data: str) -> np.ndarray:
    try:
        if data.endswith(".npy"):
            return np.asarray(np.load(data, allow_pickle=False))
        if data.endswith(".npz"):
            with np.load(data, allow_pickle=False) as found:
                return np.asarray(found["x"])
        return load_dataset(data).x
    except (ValueError, KeyError) as exc:
        raise InvalidInput(f"cannot read data {data!r}: {exc}") from exc
