"""``modelport predict MODEL --url URL --input FILE``: one request from a file, answer as JSON.

Files: ``.npy``; ``.json`` (a nested list, ``{"input": ...}``, or ``{"<input>": ...}`` for
several inputs); ``.csv`` (one row per sample); ``.png``/``.jpg`` (resized to the model's
square input, e.g. 28x28 for the digits model, grey, ink bright).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from modelport.cli.hints import DefaultsShown
from modelport.client import Client
from modelport.datasets import read_csv, read_image
from modelport.errors import InvalidInput
from modelport.tensor import datatype
from modelport.types import ModelMetadata

IMAGES = (".png", ".jpg", ".jpeg")


def add_parser(commands: Any, name: str) -> None:
    cmd = commands.add_parser(
        name,
        help="send one file to a served model and print the answer",
        formatter_class=DefaultsShown,
    )
    cmd.add_argument("model", help="the served model's name")
    cmd.add_argument("--url", default="127.0.0.1:8000", help="host:port of the server")
    cmd.add_argument(
        "--protocol",
        choices=["rest", "grpc"],
        default="rest",
        help="V2 REST, or V2 gRPC (give the gRPC port, 8001 by default)",
    )
    cmd.add_argument("--input", type=Path, required=True, help=".npy, .json, .csv, .png or .jpg")


def run(args: argparse.Namespace) -> int:
    with Client(args.url, protocol=args.protocol) as client:
        meta = client.metadata(args.model)
        inputs = _inputs(args.input, meta)
        outputs = client.infer(args.model, inputs)
    answer: dict[str, Any] = {"outputs": outputs}
    first = outputs[meta.outputs[0].name]
    if first.ndim == 2 and first.shape[1] > 1 and first.dtype.kind == "f":
        answer["class"] = first.argmax(axis=1)
    print(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY).decode())
    return 0


def _inputs(path: Path, meta: ModelMetadata) -> dict[str, np.ndarray]:
    values = _read(path, meta)
    named = values if isinstance(values, dict) else {meta.inputs[0].name: values}
    return {name: _cast(meta, name, value) for name, value in named.items()}


def _read(path: Path, meta: ModelMetadata) -> Any:
    try:
        return _parse(path, meta)
    except ValueError as exc:  # orjson's, numpy's and the CSV reader's errors for bad content
        raise InvalidInput(f"cannot read {path}: {exc}") from exc


def _parse(path: Path, meta: ModelMetadata) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix == ".json":
        obj = orjson.loads(path.read_bytes())
        return obj["input"] if isinstance(obj, dict) and set(obj) == {"input"} else obj
    if suffix == ".csv":
        return read_csv(path)
    if suffix in IMAGES:
        return read_image(path, _square_side(meta))
    raise SystemExit(
        f"modelport: unknown input file type {suffix!r}; use .npy/.json/.csv/.png/.jpg"
    )


def _square_side(meta: ModelMetadata) -> int:
    size = math.prod(d for d in meta.inputs[0].shape[1:] if d > 0)
    side = math.isqrt(size)
    if side * side != size:
        raise SystemExit(f"modelport: input {meta.inputs[0].name} is not a square image")
    return side


def _cast(meta: ModelMetadata, name: str, value: Any) -> np.ndarray:
    """The value in the input's datatype and shape (a single sample gets its batch dim)."""
    spec = meta.require_input(name)
    array = np.asarray(value).astype(datatype(spec.datatype).numpy)
    trailing = spec.shape[1:]
    if spec.shape and spec.shape[0] == -1 and -1 not in trailing:
        size = math.prod(trailing)
        if array.size % size:
            raise InvalidInput(
                f"input '{name}' takes rows of {list(trailing)} ({size} values); "
                f"the file holds {array.size} values"
            )
        array = array.reshape((-1, *trailing))
    return array
