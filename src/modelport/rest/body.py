"""Request bodies: the checks made before reading one, reading it under a size limit, and
decompression with the decompressed size counted against the same limit."""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from starlette.types import Receive

from modelport.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType, shown

_REFUSED_TYPES = (
    "multipart/",
    "application/x-python-serialize",
    "application/python-pickle",
    "application/x-pickle",
    "application/pickle",
)


async def read_body(headers: Mapping[str, str], receive: Receive, limit: int) -> bytes:
    """The whole (decompressed) body from ASGI ``receive``, refused with 413 as soon as it
    is known to exceed ``limit`` (``headers`` keys are lower-case)."""
    check_head(headers, limit)
    return decompress(await read_raw(receive, limit), headers, limit)


def check_head(headers: Mapping[str, str], limit: int) -> None:
    """What can be refused before a byte of the body is read: its type and declared size."""
    lowered = headers.get("content-type", "").strip().lower()
    if lowered.startswith(_REFUSED_TYPES):
        kind = lowered.split(";")[0]
        raise UnsupportedMediaType(
            f"content type {shown(kind)} is not accepted; send JSON or binary"
        )
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(too_large(int(declared), limit))


async def read_raw(receive: Receive, limit: int) -> bytes:
    """The body as sent, from ASGI ``receive``; 413 once more than ``limit`` bytes came."""
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidInput("the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(too_large(size, limit))
        chunks.append(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def too_large(size: int, limit: int) -> str:
    return f"request body of {size} bytes exceeds the limit of {limit} bytes"


def decompress(body: bytes, headers: Mapping[str, str], limit: int) -> bytes:
    """The body inflated as its Content-Encoding says (gzip or deflate), within ``limit``."""
    encoding = headers.get("content-encoding")
    if encoding is None:
        return body
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate", "x-gzip"):
        raise UnsupportedMediaType(
            f"unsupported Content-Encoding {shown(encoding)}; use gzip or deflate"
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
