"""The bare-ASGI limit's work behind granian (a Rust HTTP server), embedded in this process's
event loop: over its RSGI interface, or over ASGI with ``bare_asgi.py``'s own app.

Run: ``python benchmarks/bare_granian.py MODEL.onnx PORT_FILE rsgi|asgi`` (granian installed).
The same routes as ``bare_asgi.py``: ``/predict`` takes ``{"input": [[...]]}``, ``/raw`` 784
raw float32 values; onnxruntime on one thread.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import bare_asgi  # its session, from sys.argv[1]
from benchmarks.granian_embed import serve

HEADERS = [("content-type", "application/json")]


async def rsgi(scope: Any, proto: Any) -> None:
    """``bare_asgi.app``'s work, over RSGI: one awaited body, one response call."""
    if scope.proto != "http":
        return
    body = await proto()
    proto.response_bytes(200, HEADERS, bare_asgi.answer(scope.method, scope.path, body))


if __name__ == "__main__":
    interface = sys.argv[3]
    app = rsgi if interface == "rsgi" else bare_asgi.app
    uvloop.run(serve(app, interface, sys.argv[2]))
