"""The seed's server as a baseline: Flask, single-threaded, ``POST /predict`` with
``{"input": ...}`` → ``{"output": ...}`` on onnxruntime.

Run: ``python benchmarks/flask_seed.py MODEL.onnx PORT_FILE``.
"""

from __future__ import annotations

import json
import logging
import socket
import sys

import numpy as np
import onnxruntime as ort
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

options = ort.SessionOptions()
options.intra_op_num_threads = options.inter_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
app = Flask(__name__)
logging.getLogger("werkzeug").setLevel(logging.ERROR)  # measure the server, not its log


@app.get("/v2/health/live")
def live() -> tuple[str, int]:
    return "", 200


@app.post("/predict")
def predict() -> object:
    x = np.asarray(request.get_json(force=True)["input"], np.float32)
    return jsonify({"output": session.run(None, {"input": x})[0].tolist()})


if __name__ == "__main__":
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = make_server("127.0.0.1", port, app, threaded=False)
    with open(sys.argv[2], "w") as f:
        json.dump({"http": port}, f)
    server.serve_forever()
