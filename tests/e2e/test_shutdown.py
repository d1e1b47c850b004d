"""SIGTERM while requests are in flight (RELIABILITY F6): they finish, then exit 0."""

from __future__ import annotations

import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import orjson
import pytest
from benchmarks import models

from tests.e2e.conftest import serve_args, start_server

pytestmark = pytest.mark.e2e


ROWS = 256
"""Rows per request: each costs the server tens of milliseconds of onnxruntime, far more
than it takes the 24 requests to arrive, so a backlog is still running at SIGTERM."""


def binary_request() -> tuple[bytes, dict[str, str]]:
    """A V2 binary request of ``ROWS`` rows for the wide model: body and headers."""
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": [ROWS, 784],
                    "parameters": {"binary_data_size": ROWS * 784 * 4},
                }
            ]
        }
    )
    body = header + np.full((ROWS, 784), 0.5, np.float32).tobytes()
    return body, {"Inference-Header-Content-Length": str(len(header))}


def infer(port: int, body: bytes, headers: dict[str, str], results: list[object]) -> None:
    url = f"http://127.0.0.1:{port}/v2/models/wide/infer"
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            results.append((response.status, time.monotonic()))
    except urllib.error.URLError as exc:
        results.append(exc)


def accepted(port: int) -> float:
    """Requests of the wide model in flight or answered, from the server's own metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    wanted = (
        'modelport_inflight_requests{model="wide"',
        'modelport_inference_requests_total{model="wide",reason="",status="success"',
    )
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(wanted)
    )


def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    models.build("wide", repo / "wide" / "1" / "model.onnx")
    # In threads, whatever its warm-up measures: inline, each request would be computed on
    # the event loop before the metrics below could show it taken, and none would be left
    # in flight at SIGTERM (the test flaked where the warm-up chose inline).
    (repo / "wide" / "config.yaml").write_text("parameters: {execution: thread}\n")
    server = start_server(
        serve_args(str(repo), "--intra-op-threads", "1"),
        tmp_path,
    )
    results: list[object] = []
    body, headers = binary_request()  # built once: every client sends the same bytes
    threads = [
        threading.Thread(target=infer, args=(server.port, body, headers, results))
        for _ in range(24)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while accepted(server.port) < 24 and time.monotonic() < deadline:  # all inside the server
        time.sleep(0.005)
    sigterm_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(60)
    output, _ = server.process.communicate(timeout=60)
    assert server.process.returncode == 0, output
    answered = [r for r in results if isinstance(r, tuple) and r[0] == 200]
    assert len(answered) == 24, results  # every request the server had taken is answered
    assert any(done > sigterm_at for _, done in answered), "none was in flight at SIGTERM"
