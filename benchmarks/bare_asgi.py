"""The bare-ASGI limit of shared/PERFORMANCE.md: uvicorn (uvloop, httptools), orjson,
onnxruntime, and nothing else: no validation, no protocol. ``/predict`` takes
``{"input": [[...]]}``; ``/raw`` takes 784 raw float32 values.

Run: ``python benchmarks/bare_asgi.py MODEL.onnx PORT_FILE``.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
import uvicorn

options = ort.SessionOptions()
options.intra_op_num_threads = options.inter_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])


def answer(method: str, path: str, body: bytes) -> bytes:
    """The whole work of a request, whatever serves it: the input from the body, one
    onnxruntime run, the output as JSON (``bare_granian.py`` and ``bare_socketify.py`` call
    it too, so every front end is measured on the same work)."""
    if method == "GET":
        x = np.zeros((1, 784), np.float32)
    elif path == "/raw":
        x = np.frombuffer(body, np.float32).reshape(1, 784)
    else:
        x = np.asarray(orjson.loads(body)["input"], np.float32)
    y = session.run(None, {"input": x})[0]
    return orjson.dumps({"output": y}, option=orjson.OPT_SERIALIZE_NUMPY)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    out = answer(scope["method"], scope["path"], body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": out})


if __name__ == "__main__":
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    with open(sys.argv[2], "w") as f:
        json.dump({"http": sock.getsockname()[1]}, f)
    config = uvicorn.Config(
        app, loop="uvloop", http="httptools", lifespan="off", log_level="warning"
    )
    uvicorn.Server(config).run(sockets=[sock])
