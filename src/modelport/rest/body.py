"""Reading request bodies: size limits before reading, decompression with a cap."""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from starlette.types import Receive

from modelport.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

_REFUSED_TYPES = (
    "multipart/",
    "application/x-python-serialize",
    "application/python-pickle",
    "application/x-pickle",
    "application/pickle",
)


async def read_body(headers: Mapping[str, str], receive: Receive, limit: int) -> bytes:
    """The whole body from ASGI ``receive``, refused with 413 as soon as it is known to
    exceed ``limit`` (``headers`` keys are lower-case)."""
    _check_content_type(headers.get("content-type", ""))
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(_too_large(int(declared), limit))
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidInput("the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(_too_large(size, limit))
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    encoding = headers.get("content-encoding", "identity").strip().lower()
    return decompress(body, encoding, limit)


def _too_large(size: int, limit: int) -> str:
    return f"request body of {size} bytes exceeds the limit of {limit} bytes"


def _check_content_type(value: str) -> None:
    lowered = value.strip().lower()
    if lowered.startswith(_REFUSED_TYPES):
        kind = lowered.split(";")[0]
        raise UnsupportedMediaType(f"content type {kind!r} is not accepted; send JSON or binary")


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """gzip/deflate bodies, with the decompressed size counted against ``limit``."""
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate", "x-gzip"):
        raise UnsupportedMediaType(
            f"unsupported Content-Encoding {encoding!r}; use gzip or deflate"
        )
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, auto-detected
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"body is not valid {encoding} data: {exc}") from exc
    if len(data) > limit:
        raise PayloadTooLarge(f"decompressed request body exceeds the limit of {limit} bytes")
    if not inflater.eof:
        raise InvalidInput(f"{encoding} body is truncated")
    return data
