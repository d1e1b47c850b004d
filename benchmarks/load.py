"""Closed-loop HTTP/1.1 load generators for loopback servers.

Each of ``concurrency`` keep-alive connections sends one request, waits for the whole
response, and sends the next, until the warm-up and the measured window have passed.
Every loop is bounded in time and stops by itself. ``wrk`` drives the loop when it is
installed (C, one thread: it costs far less CPU per request than the servers it
measures); otherwise a minimal asyncio client on uvloop stands in.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import uvloop

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Load:
    port: int
    path: str
    body: bytes
    headers: dict[str, str]
    concurrency: int
    warmup: float = 3.0
    duration: float = 10.0
    host: str = "127.0.0.1"
    scheme: str = "http"  # https: wrk only (it does not verify the certificate)


@dataclass
class Result:
    requests: int = 0
    all_requests: int = 0  # warm-up included: for CPU time per request
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    percentiles: dict[int, float] = field(default_factory=dict)  # from wrk, in ms

    def summary(self) -> dict[str, float]:
        lat = np.array(self.latencies) * 1000 if self.latencies else np.zeros(1)
        p50, p99 = self.percentiles.get(50), self.percentiles.get(99)
        return {
            "rps": self.requests / self.seconds if self.seconds else 0.0,
            "p50_ms": p50 if p50 is not None else float(np.percentile(lat, 50)),
            "p99_ms": p99 if p99 is not None else float(np.percentile(lat, 99)),
            "requests": self.requests,
            "errors": self.errors,
        }


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run(load: Load) -> Result:
    if load.host not in LOOPBACK:
        raise ValueError("benchmarks only target loopback addresses")
    if wrk_available():
        return _run_wrk(load)
    if load.scheme != "http":
        raise RuntimeError("HTTPS load needs wrk (apt-get install wrk)")
    return uvloop.run(_run_asyncio(load))


# --- asyncio fallback -------------------------------------------------------------------


def http_request(load: Load) -> bytes:
    lines = [f"POST {load.path} HTTP/1.1", f"Host: {load.host}:{load.port}"]
    lines += [f"Content-Length: {len(load.body)}"]
    lines += [f"{k}: {v}" for k, v in load.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + load.body


async def _connection(load: Load, warm_until: float, stop_at: float, result: Result) -> None:
    request = http_request(load)
    reader, writer = await asyncio.open_connection(load.host, load.port)
    try:
        while (started := time.perf_counter()) < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(_content_length(head))
            result.all_requests += 1
            if started >= warm_until:
                result.latencies.append(time.perf_counter() - started)
                result.requests += 1
                result.errors += head[9:12] != b"200"
    finally:
        writer.close()


def _content_length(head: bytes) -> int:
    at = head.lower().index(b"\r\ncontent-length:") + 17
    return int(head[at : head.index(b"\r\n", at)])


async def _run_asyncio(load: Load) -> Result:
    result = Result()
    now = time.perf_counter()
    warm_until, stop_at = now + load.warmup, now + load.warmup + load.duration
    connections = [_connection(load, warm_until, stop_at, result) for _ in range(load.concurrency)]
    await asyncio.gather(*connections)
    result.seconds = time.perf_counter() - warm_until
    return result


# --- wrk ---------------------------------------------------------------------------------

_WRK_SCRIPT = """
local f = io.open("{body}", "rb")
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
{headers}
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _run_wrk(load: Load) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "body").write_bytes(load.body)
        lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in load.headers.items())
        script = Path(tmp, "post.lua")
        script.write_text(_WRK_SCRIPT.format(body=Path(tmp, "body"), headers=lines))
        url = f"{load.scheme}://{load.host}:{load.port}{load.path}"
        warm = _wrk(url, script, load.concurrency, load.warmup) if load.warmup else Result()
        result = _wrk(url, script, load.concurrency, load.duration)
    result.all_requests = result.requests + warm.requests
    return result


def _wrk(url: str, script: Path, concurrency: int, seconds: float) -> Result:
    duration = f"-d{max(seconds, 1):.0f}s"
    command = ["wrk", "-t1", f"-c{concurrency}", duration, "--latency", "-s", str(script), url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = Result(seconds=max(seconds, 1))
    result.requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result.errors = int(errors.group(1)) if errors else 0
    found = re.findall(r"(\d+)%\s+([\d.]+)(us|ms|s)\b", out)
    result.percentiles = {int(p): float(v) * _UNITS[u] for p, v, u in found}
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result.seconds = result.requests / float(rate.group(1)) if rate else result.seconds
    return result
