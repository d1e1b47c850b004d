"""Parsing JSON request bodies safely: clear errors, and a cap on nesting depth."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

from modelport.errors import InvalidInput

_CONTAINERS = (list, dict)


def loads(body: bytes | memoryview, max_depth: int) -> Any:
    """Parse ``body`` as JSON; malformed or too deeply nested input is ``InvalidInput``."""
    if not len(body):
        raise InvalidInput("request body is empty; expected a JSON object")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):
            raise InvalidInput(f"JSON nesting depth exceeds {max_depth}") from exc
        raise InvalidInput(f"malformed JSON: {exc}") from exc
    # Cheap bound first: depth can't exceed the number of opening brackets.
    if len(body) > max_depth and _openings(body) > max_depth:
        check_depth(value, max_depth)
    return value


_VECTOR_COUNT_BYTES = 4096
"""From this size on, numpy counts brackets faster than two ``bytes.count`` passes."""


def _openings(body: bytes | memoryview) -> int:
    """How many ``[`` and ``{`` the body holds (an upper bound on its nesting depth)."""
    if len(body) < _VECTOR_COUNT_BYTES:
        raw = bytes(body)
        return raw.count(b"[") + raw.count(b"{")
    codes = np.frombuffer(body, dtype=np.uint8)
    # "[" (0x5b) and "{" (0x7b) differ only in bit 5, and no other byte maps onto them.
    return int(np.count_nonzero((codes | 0x20) == 0x7B))


def loads_lenient(body: bytes, max_depth: int) -> Any:
    """Like :func:`loads`, but also accepts the ``NaN``/``Infinity`` tokens TF Serving takes."""
    try:
        return loads(body, max_depth)
    except InvalidInput as first:
        if b"NaN" not in body and b"Infinity" not in body:
            raise
        try:
            value = json.loads(body)
        except RecursionError as exc:
            raise InvalidInput(f"JSON nesting depth exceeds {max_depth}") from exc
        except ValueError:
            raise first from None
    check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int) -> None:
    """Raise if any list or object nests deeper than ``max_depth``; iterative, never recursive."""
    if not isinstance(value, _CONTAINERS):
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise InvalidInput(f"JSON nesting depth exceeds {max_depth}")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, _CONTAINERS))


def dumps(value: Any) -> bytes:
    """Serialize a response; numpy arrays are written natively (NaN and Inf become null)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def error_body(message: str) -> bytes:
    """The error body every JSON protocol here uses: ``{"error": "<message>"}``."""
    return orjson.dumps({"error": message})
