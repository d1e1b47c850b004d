"""``--workers``: several processes serve the same ports, share weights, survive a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import serve_args, start_server

pytestmark = pytest.mark.e2e
httpclient = pytest.importorskip("tritonclient.http")


def workers_of(pid: int) -> set[int]:
    run = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return {int(p) for p in run.stdout.split()}


def test_two_workers_serve_restart_and_stop(digits_repository: Path, tmp_path: Path) -> None:
    cache = tmp_path / "shared"
    args = serve_args(str(digits_repository), "--workers", "2", "--shared-weights-dir", str(cache))
    server = start_server(args, tmp_path)
    client = httpclient.InferenceServerClient(server.url)
    deadline = time.monotonic() + 30
    while len(workers_of(server.process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    children = workers_of(server.process.pid)
    assert len(children) == 2
    assert list(cache.glob("*/weights.bin")), "the weights were not shared through a file"
    for _ in range(10):
        assert client.is_model_ready("digits")
    killed = next(iter(children))
    os.kill(killed, signal.SIGKILL)  # a worker crashes
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = workers_of(server.process.pid)
        if len(now) == 2 and killed not in now:
            break
        time.sleep(0.05)
    now = workers_of(server.process.pid)
    assert len(now) == 2 and killed not in now  # started again
    assert client.is_server_live()
    code, output = server.stop()
    assert code == 0, output
    assert "worker" in output and "restarting" in output
    assert workers_of(server.process.pid) == set()


def test_explicit_control_is_refused_with_several_workers(
    digits_repository: Path, tmp_path: Path
) -> None:
    run = subprocess.run(
        [
            *_serve(),
            str(digits_repository),
            "--workers",
            "2",
            "--model-control-mode",
            "explicit",
            "--http-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "explicit model control needs --workers 1" in run.stderr


def _serve() -> list[str]:
    return [sys.executable, "-m", "modelport", "serve"]
