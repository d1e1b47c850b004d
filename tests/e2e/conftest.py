"""Real processes: ``modelport serve`` on port 0, found through its port file."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_DEADLINE_S = 60
_started: list[subprocess.Popen[str]] = []


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    port: int
    grpc_port: int = 0

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def stop(self) -> tuple[int, str]:
        """SIGTERM, as an orchestrator would; returns the exit code and the output."""
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=30)
        return self.process.returncode, output


def serve_args(repository: Path | str, *extra: str) -> list[str]:
    """``modelport serve`` flags for a test: the repository, free ports, then ``extra``."""
    return ["--model-repository", str(repository), "--http-port", "0", "--grpc-port", "0", *extra]


def start_server(
    args: list[str],
    tmp_path: Path,
    env: dict[str, str] | None = None,
    prefix: tuple[str, ...] = (),
    scheme: str = "http",
    client_cert: str | None = None,
) -> RunningServer:
    """``modelport serve ARGS``, behind ``prefix`` (``taskset -c 0``) when given; over
    ``https``, readiness is checked without verifying the certificate (with
    ``client_cert`` for mutual TLS)."""
    port_file = tmp_path / f"port-{time.monotonic_ns()}.json"
    command = [*prefix, sys.executable, "-m", "modelport", "serve", *args]
    command += ["--port-file", str(port_file)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    _started.append(process)
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.communicate()[0]}")
        ports = _ports(port_file)
        if ports and _ready(ports["http"], scheme, client_cert):
            return RunningServer(process, ports["http"], ports.get("grpc", 0))
        time.sleep(0.05)
    process.kill()
    raise AssertionError(
        f"server not ready after {STARTUP_DEADLINE_S}s: {process.communicate()[0]}"
    )


def _ports(port_file: Path) -> dict[str, int]:
    try:
        return dict(json.loads(port_file.read_text()))
    except (OSError, ValueError):  # not written yet
        return {}


def _ready(port: int, scheme: str = "http", client_cert: str | None = None) -> bool:
    context = None
    if scheme == "https":
        context = ssl._create_unverified_context()
        if client_cert:
            context.load_cert_chain(client_cert)
    url = f"{scheme}://127.0.0.1:{port}/v2/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _no_leftover_servers() -> Iterator[None]:
    """A test that fails half-way must not leave its server running into the next test."""
    yield
    for process in _started:
        if process.poll() is None and process not in _module_servers:
            process.kill()
        if process.poll() is not None and process.stdout and not process.stdout.closed:
            process.communicate()


_module_servers: list[subprocess.Popen[str]] = []


@pytest.fixture(scope="module")
def digits_server(
    digits_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    server = start_server(
        serve_args(str(digits_repository)),
        tmp_path_factory.mktemp("e2e"),
    )
    _module_servers.append(server.process)
    yield server
    if server.process.poll() is None:
        server.process.kill()
        server.process.communicate()
