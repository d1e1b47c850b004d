"""Instructions per request: what one request costs a server in user space, counted exactly,
for modelport and the bare limits, for changes too small to see on the wire of a shared VM.

    python benchmarks/instructions.py [--requests N] [--label NAME]

Wall-clock figures on this VM drift 10-20% in minutes, so a 2% change cannot be seen in
them; instruction counts repeat to within about 1%. Each server runs under valgrind's
callgrind on the benchmark models: ``modelport serve``, the bare-ASGI limit and the
bare-gRPC limit (``bare_asgi.py``, ``bare_grpc.py``). For each kind of request one client
(127.0.0.1, one keep-alive connection or channel, requests one after another) sends
warm-up requests; then the counters of every thread are zeroed (``callgrind_control -z``),
``N`` requests are sent, and the counters are read (``callgrind_control -e``). Their total,
less what the server does idle over as long (timers and pollers, measured over 10 s with
no request), over ``N`` is one request's cost. It covers everything in the server's process outside
the kernel: the server's Python, the interpreter, uvloop, httptools, grpcio, numpy, orjson
and onnxruntime (the model's arithmetic too, the same for all). Syscalls and the kernel's
network stack are not counted, nor are cache misses: this judges a change to the request
path, and how much more work a request is than at the bare limit; the targets themselves
are measured on the wire (``paired.py``). Its ratios understate the gap there: the Python
modelport adds runs at fewer instructions a cycle than the libraries both servers share.
V2 JSON (c=16, 3 s, user CPU from ``/proc/PID/stat``) took 1.6 times bare's user CPU per
request (about 210 µs against 130) for 1.25 times its instructions.

The batched row sends to mlp_batched from ``CLIENTS`` connections at once, so that requests
queue and run in batches of 32; no bare server batches. mlp and mlp_batched are served with
``parameters: {execution: inline}``, as they run natively: under valgrind the load-time
measurement that chooses inline or thread would see a slow model. Needs valgrind
(``apt install valgrind``); about four minutes on this VM. Writes
``results/<date>-<label>.md``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import models, record
from benchmarks.run import SAMPLE, bodies
from benchmarks.servers import modelport_command, read_ports
from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc

START_S = 600
"""How long a server under valgrind may take to start (it runs some 50 times slower)."""
WARM_UP = 100
IDLE_S = 10.0
CLIENTS = 64
BATCHED = f"V2 binary, batched, {CLIENTS} at once"
"""The batching path: mlp_batched (max_batch_size 32), ``CLIENTS`` connections each sending
requests one after another, so that requests wait in the queue and run in full batches."""
Sender = Callable[[int], None]
Request = tuple[str, str]
"""A request kind (a body of ``run.bodies``, or ``grpc``) and its HTTP path."""
OURS = {
    "V2 JSON": ("v2-json", "/v2/models/mlp/infer"),
    "V2 binary": ("v2-binary", "/v2/models/mlp/infer"),
    "/predict": ("predict", "/models/mlp/predict"),
    "gRPC": ("grpc", ""),
    BATCHED: ("v2-binary", "/v2/models/mlp_batched/infer"),
}
BARE = {"V2 JSON": ("predict", "/predict"), "/predict": ("predict", "/predict")}
BARE["V2 binary"] = ("raw", "/raw")
"""The bare-ASGI request each of ours is held against, as ``run.TARGETS`` pairs them."""


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--requests", type=int, default=300, help="counted requests per kind")
    args.add_argument("--label", default="instructions")
    opts = args.parse_args()
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        sys.exit("valgrind not found: apt install valgrind")
    bench = Path(__file__).parent
    with tempfile.TemporaryDirectory() as tmp:
        repo = models.repository(Path(tmp) / "repo")
        (repo / "mlp" / "config.yaml").write_text("parameters: {execution: inline}\n")
        batched = repo / "mlp_batched" / "config.yaml"
        batched.write_text(f"{batched.read_text()}parameters: {{execution: inline}}\n")
        onnx = str(repo / "mlp" / "1" / "model.onnx")
        ours_command = modelport_command(repo, Path(tmp) / "ours.json")
        ours = _measure("modelport", ours_command, OURS, opts.requests)
        bare_command = [sys.executable, str(bench / "bare_asgi.py"), onnx, f"{tmp}/bare.json"]
        bare = _measure("bare-ASGI", bare_command, BARE, opts.requests)
        grpc_command = [sys.executable, str(bench / "bare_grpc.py"), onnx, f"{tmp}/grpc.json"]
        bare |= _measure("bare-gRPC", grpc_command, {"gRPC": ("grpc", "")}, opts.requests)
    _write(opts.label, ours, bare, opts.requests)


def _measure(
    label: str, command: list[str], requests: dict[str, Request], count: int
) -> dict[str, float]:
    """Instructions per request of each of ``requests``, on one server started under
    callgrind (``command`` ends with its port file)."""
    server, ports = _start(command, Path(command[-1]))
    try:
        senders = {name: _sender(kind, path, ports) for name, (kind, path) in requests.items()}
        for send in senders.values():  # lazy imports and first-call work stay out
            send(WARM_UP)
        idle = _idle_rate(server.pid)
        found = {name: _count(server.pid, send, count, idle) for name, send in senders.items()}
    finally:
        server.kill()
        server.wait(START_S)
    for name, value in found.items():
        print(f"{label}, {name}: {value:,.0f} instructions per request", flush=True)
    return found


def _start(command: list[str], port_file: Path) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """``command`` under callgrind, once it has written its ports."""
    out = port_file.with_suffix(".callgrind")
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    quiet = subprocess.DEVNULL
    server = subprocess.Popen(valgrind + command, env=env, stdout=quiet, stderr=quiet)
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline and server.poll() is None:
        ports = read_ports(port_file)
        if ports and _listening(ports["http"]):
            return server, ports
        time.sleep(0.5)
    server.kill()
    raise RuntimeError(f"did not start under valgrind: {command}")


def _listening(port: int) -> bool:
    """Whether ``port`` takes connections (the bare servers write theirs before listening)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError:
        return False
    return True


def _count(pid: int, send: Sender, requests: int, idle: float) -> float:
    """Instructions per request over ``requests`` requests, less what the server's
    background threads do meanwhile (``idle``: instructions per second with no request)."""
    _control("-z", pid)
    started = time.monotonic()
    send(requests)
    window = time.monotonic() - started
    return (_instructions(pid) - idle * window) / requests


def _idle_rate(pid: int) -> float:
    """Instructions per second with no request: timers and pollers (onnxruntime's, grpc's),
    whose share of a request is some 50 times larger under valgrind than natively."""
    _control("-z", pid)
    time.sleep(IDLE_S)
    return _instructions(pid) / IDLE_S


def _instructions(pid: int) -> int:
    found = re.findall(r"Th\s*\d+\s+([\d,]+)", _control("-e", pid))
    return sum(int(count.replace(",", "")) for count in found)


def _control(action: str, pid: int) -> str:
    """``callgrind_control``: zero (``-z``) or print (``-e``) every thread's counters."""
    done = subprocess.run(["callgrind_control", action, str(pid)], capture_output=True, text=True)
    if done.returncode != 0 or "Error" in done.stdout:
        raise RuntimeError(f"callgrind_control {action}: {done.stdout}{done.stderr}")
    return done.stdout


def _sender(kind: str, path: str, ports: dict[str, int]) -> Sender:
    if kind == "grpc":
        return _grpc_sender(ports["grpc"])
    if "batched" in path:
        return _concurrent(_http_sender(ports["http"], kind, path), CLIENTS)
    return _http_sender(ports["http"], kind, path)


def _concurrent(send: Sender, clients: int) -> Sender:
    """``send`` from ``clients`` threads at once, the requests shared out among them."""

    def send_all(requests: int) -> None:
        shares = [requests // clients + (i < requests % clients) for i in range(clients)]
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, shares))

    return send_all


def _http_sender(port: int, kind: str, path: str) -> Sender:
    body, headers = bodies(SAMPLE)[kind]

    def send(requests: int) -> None:
        # A connection for each batch: uvicorn closes one left idle for 5 s.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(requests):
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"POST {path} ({kind}): HTTP {response.status}")
        connection.close()

    return send


def _grpc_sender(port: int) -> Sender:
    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=[1, 784])
    request = pb.ModelInferRequest(
        model_name="mlp", inputs=[tensor], raw_input_contents=[SAMPLE.tobytes()]
    )
    stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))  # type: ignore[no-untyped-call]

    def send(requests: int) -> None:
        for _ in range(requests):
            stub.ModelInfer(request, timeout=60)

    return send


def _write(label: str, ours: dict[str, float], bare: dict[str, float], requests: int) -> None:
    lines = [
        f"# {label}: {record.today()}",
        "",
        f"Command: `python {' '.join(sys.argv)}`. Instructions per request in each server's "
        f"process (every thread, user space), counted by callgrind over {requests} requests "
        "after a warm-up; one client, one connection, requests one after another (the batched "
        f"row: {CLIENTS} such clients at once, to mlp_batched); the mlp "
        "model (784→128→10), one 1x784 FP32 sample. The bare limit of V2 JSON and /predict is "
        "the bare-ASGI `/predict` (the same JSON, parsed and converted the same way), of V2 "
        "binary its `/raw` body, of gRPC `bare_grpc.py`.",
        "",
        "| request | modelport | bare limit | bare / modelport |",
        "|---|---|---|---|",
    ]
    for name, value in ours.items():
        limit = bare.get(name)
        if limit:
            lines.append(f"| {name} | {value:,.0f} | {limit:,.0f} | {limit / value:.2f} |")
        else:
            lines.append(f"| {name} | {value:,.0f} | (none batches) | |")
    record.save(label, lines)


if __name__ == "__main__":
    main()
