"""The request log's files: records (dicts) to file content and back, in JSON lines or Parquet.

A JSONL file holds both kinds of record, one per line. Parquet holds one kind per file (its
schema is a table's): ``requests-*.parquet`` with nested columns (``inputs.<name>.data`` a
flat list beside its ``shape``) and ``labels-*.parquet`` whose ``labels`` column is JSON text
(a label may be a class name, a number or a bool). Parquet needs pyarrow
(``modelport[parquet]``), imported only when a log asks for it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

FORMATS = ("jsonl", "parquet")
Record = dict[str, Any]


def encode(records: list[Record], form: str) -> list[tuple[str, bytes]]:
    """The files (name prefix and suffix, content) that hold ``records``."""
    if form == "jsonl":
        lines = [orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY) for r in records]
        return [("requests-{}.jsonl", b"\n".join(lines) + b"\n")]
    kinds: dict[str, list[Record]] = {}
    for record in records:
        kinds.setdefault(record["kind"], []).append(record)
    return [(f"{kind}s-{{}}.parquet", _parquet(rows)) for kind, rows in sorted(kinds.items())]


def require(form: str) -> None:
    """Fail at load, not at the first flush, when the format's library is missing."""
    if form == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "logging.format: parquet needs pyarrow: pip install 'modelport[parquet]'",
                name="pyarrow",
            ) from exc


def read(folder: Path) -> Iterator[Record]:
    """Every record under ``folder`` (JSONL and Parquet files), oldest file first."""
    files = sorted([*folder.rglob("*.jsonl"), *folder.rglob("*.parquet")], key=_file_order)
    for path in files:
        if path.suffix == ".jsonl":
            yield from (orjson.loads(line) for line in path.read_bytes().splitlines() if line)
        else:
            yield from _parquet_records(path)


def _file_order(path: Path) -> tuple[str, str]:
    """By the time in the name (``<kind>-<UTC time>-<n>``), then the name."""
    parts = path.stem.split("-", 1)
    return (parts[1] if len(parts) == 2 else path.stem, path.name)


def _parquet(records: list[Record]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_flat(r) for r in records]
    table = pa.Table.from_struct_array(pa.array(rows))
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def _flat(record: Record) -> Record:
    flat = dict(record)
    if "labels" in flat:
        flat["labels"] = orjson.dumps(flat["labels"]).decode()
    for key in ("inputs", "outputs"):
        if key in flat:
            flat[key] = {n: t | {"data": np.ravel(t["data"])} for n, t in flat[key].items()}
    return flat


def _parquet_records(path: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    for record in pq.read_table(path).to_pylist():
        if isinstance(record.get("labels"), str):
            record["labels"] = orjson.loads(record["labels"])
        yield {key: value for key, value in record.items() if value is not None}
