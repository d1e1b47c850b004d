"""Transport-level abuse against a real server (RELIABILITY R3, R6): refused, serving goes on."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningServer, _module_servers, serve_args, start_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def guarded(
    digits_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    args = serve_args(str(digits_repository), "--http-header-timeout-secs", "1")
    server = start_server(args, tmp_path_factory.mktemp("guarded"))
    _module_servers.append(server.process)
    yield server
    server.stop()


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        return sock.recv(200)


def still_serving(server: RunningServer) -> bool:
    with urllib.request.urlopen(f"http://{server.url}/v2/health/live", timeout=5) as response:
        return bool(response.status == 200)


def test_huge_header_gets_431(guarded: RunningServer) -> None:
    head = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    assert exchange(guarded.port, head).startswith(b"HTTP/1.1 431")
    assert still_serving(guarded)


def test_too_many_headers_get_431(guarded: RunningServer) -> None:
    many = b"".join(b"X-%d: y\r\n" % i for i in range(1000))
    answer = exchange(guarded.port, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431")
    assert still_serving(guarded)


def test_slowloris_is_disconnected_at_the_head_deadline(guarded: RunningServer) -> None:
    # closed while the client still trickles (the loop gives up after 20 bytes)
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\n")
        with pytest.raises(OSError):
            for _ in range(20):
                sock.sendall(b"X")
                if sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                    raise ConnectionResetError("closed by the server")
                time.sleep(0.2)
    assert still_serving(guarded)


def test_idle_connection_is_closed_too(guarded: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=5) as sock:
        assert sock.recv(1) == b""  # closed by the server after the 1 s head deadline
