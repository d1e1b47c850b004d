"""Request ids, access lines and JSON logs.

Every request carries an id: the client's (``x-request-id`` header or gRPC metadata, else a
V2 body's ``id``) when it is a safe token (letters, digits and ``._:/+=-``, 1 to 128
characters: it is written into a response header), else one made here (this process's
random prefix and a counter). The id goes back in the ``x-request-id`` header or trailing
metadata.

With ``--access-log``, one line per request goes to stdout, as text or (``--log-format
json``) as a JSON object: time, request id, protocol, route, model, version, status, error
code, bytes in and out, queue, compute and total time, client address and API key name.
Lines are buffered and written at most ``FLUSH_S`` later (or once ``BUFFER_BYTES`` gather),
so a request never waits on the terminal. ``JsonFormatter`` gives the application's own log
records the same shape.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import BinaryIO

import orjson

HEADER = "x-request-id"
FLUSH_S = 0.2
BUFFER_BYTES = 64 * 1024
_SAFE = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
_PREFIX = os.urandom(4).hex()
_COUNTER = itertools.count(1)


def request_id(*given: str | None) -> str:
    """The first safe id among ``given`` (header, then body), else a new one."""
    for candidate in given:
        if candidate and _SAFE.fullmatch(candidate):
            return candidate
    return f"{_PREFIX}-{next(_COUNTER):x}"


@dataclass(slots=True)
class AccessRecord:
    request_id: str
    protocol: str
    route: str
    status: int | str
    duration_ms: float
    model: str = ""
    version: str = ""
    error: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    queue_ms: float = 0.0
    compute_ms: float = 0.0
    client: str = ""
    key: str = ""


class AccessLog:
    """Access lines, buffered, to ``stream`` (stdout's bytes by default)."""

    def __init__(self, json_lines: bool, stream: BinaryIO | None = None) -> None:
        self._json = json_lines
        self._stream = stream or sys.stdout.buffer
        self._buffer: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None

    def write(self, record: AccessRecord) -> None:
        line = self._json_line(record) if self._json else self._text_line(record)
        self._buffer.append(line)
        self._size += len(line)
        if self._size >= BUFFER_BYTES:
            self.flush()
        elif self._timer is None:
            self._schedule()

    def _schedule(self) -> None:
        try:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_S, self.flush)
        except RuntimeError:  # no loop in this thread (a gRPC pool thread): write now
            self.flush()

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        lines, self._buffer, self._size = self._buffer, [], 0
        if lines:
            self._stream.write(b"".join(lines))
            self._stream.flush()

    @staticmethod
    def _json_line(record: AccessRecord) -> bytes:
        head = b'{"time":"%s","kind":"access",' % utc_stamp().encode()
        return head + orjson.dumps(record)[1:] + b"\n"  # orjson writes dataclasses natively

    @staticmethod
    def _text_line(r: AccessRecord) -> bytes:
        target = f"{r.model}/{r.version or '-'}" if r.model else "-"
        error = f" {r.error}" if r.error else ""
        return (
            f"{utc_stamp()} {r.client or '-'} {r.key or '-'} {r.protocol} {r.route} {target} "
            f"{r.status}{error} in={r.bytes_in} out={r.bytes_out} queue={r.queue_ms:.3f}ms "
            f"compute={r.compute_ms:.3f}ms total={r.duration_ms:.3f}ms id={r.request_id}\n"
        ).encode()


class JsonFormatter(logging.Formatter):
    """One JSON object per log record: time, level, logger, message (and the traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {
            "time": utc_stamp(record.created),
            "kind": "log",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(fields).decode()


_stamp: tuple[int, str] = (-1, "")
"""The last second formatted (one strftime per second, not per line)."""


def utc_stamp(seconds: float | None = None) -> str:
    """UTC, ISO 8601, milliseconds: ``2026-12-02T21:30:12.345Z`` (now, or at ``seconds``).
    Safe from any thread: the cached second is read and replaced as one tuple."""
    global _stamp
    at = time.time() if seconds is None else seconds
    whole, cached = int(at), _stamp
    if cached[0] != whole:
        cached = _stamp = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{cached[1]}.{int(at % 1 * 1000):03d}Z"
