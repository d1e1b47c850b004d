"""granian (a Rust HTTP server) embedded in this process's event loop, on a free loopback
port written to a port file once it listens: how the benchmarks' granian servers start."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

from benchmarks.servers import free_port


async def serve(app: Any, interface: str, port_file: str) -> None:
    """Serve ``app`` on a free port with one runtime thread; write the port once it listens."""
    from granian.constants import Interfaces  # only here: importing this module needs no granian
    from granian.server.embed import Server

    port = free_port()
    server = Server(
        app, address="127.0.0.1", port=port, interface=Interfaces(interface),
        runtime_threads=1, log_enabled=False,
    )  # fmt: skip
    task = asyncio.create_task(server.serve())
    while not _listening(port):  # bounded by the harness's start deadline
        await asyncio.sleep(0.05)
    Path(port_file).write_text(json.dumps({"http": port}))
    await task


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
