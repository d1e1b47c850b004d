"""The servers a benchmark run measures, each started pinned to the server core.

modelport itself, the bare-ASGI limit, the seed's Flask server (when flask is installed)
and Triton 2.51 (when its wheel can be fetched). CPU time and memory are summed over each
server's process tree: Triton runs its Python backend in a child process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import triton

SERVER_CORE, CLIENT_CORE = 1, 0
CORES = frozenset(os.sched_getaffinity(0))
"""The cores this process may use, read at import: before a benchmark pins itself to the
client core, after which its own affinity is that one core."""
BATCHED = {"mlp_batched": (32, 2000), "wide_batched": (32, 2000)}  # as models.py configures
Scenario = tuple[str, str, str, int]
"""Model, HTTP path (empty for gRPC), body kind (v2-json, v2-binary, predict, raw, grpc), c."""


def pin(cores: int | str) -> list[str]:
    """``taskset`` for a core (or a list such as ``0-1``), on a machine with more than one.
    Decided by :data:`CORES`: a child of a process pinned to one core would otherwise be
    left on that core, with the load generators."""
    if len(CORES) < 2:
        return []
    return ["taskset", "-c", str(cores)]


def pin_self(core: int) -> None:
    """Run this process on ``core``; on a machine without it (one core), on every core."""
    os.sched_setaffinity(0, {core} if core in CORES else CORES)


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    http: int
    grpc: int = 0

    def pids(self) -> list[int]:
        """The server and every process it started."""
        return process_tree(self.process.pid)

    def cpu_seconds(self) -> float:
        return sum(sum(cpu_times(pid)) for pid in self.pids())

    def pss_mib(self) -> float:
        return sum(smaps_mib(pid, "Pss") for pid in self.pids())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)


@dataclass(frozen=True)
class Spec:
    label: str
    launch: Callable[[], Running]
    scenarios: list[Scenario]


def process_tree(root: int) -> list[int]:
    """A process and all its descendants, the root first."""
    found, queue = [], [root]
    while queue:
        pid = queue.pop(0)
        found.append(pid)
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        queue += [int(child) for child in children.stdout.split()]
    return found


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process (zero once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def smaps_mib(pid: int, key: str) -> float:
    """One line of a process's ``smaps_rollup`` (``Pss``, ``Private_Dirty``...) in MiB."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except FileNotFoundError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in lines if line.startswith(f"{key}:")), 0.0)


def free_port() -> int:
    """A port free on 127.0.0.1 now (for a server that cannot bind port 0 itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_with_port_file(
    command: list[str], port_file: Path, cores: int | str = SERVER_CORE, scheme: str = "http"
) -> Running:
    """Start a server on ``cores`` that writes its ports to ``port_file``; wait until it
    answers."""
    port_file.unlink(missing_ok=True)  # a relaunch must not read the last run's ports
    process = subprocess.Popen(pin(cores) + command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ports = read_ports(port_file)
        if ports and _answers(int(ports["http"]), scheme):
            return Running(process, int(ports["http"]), int(ports.get("grpc", 0)))
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start: {command}")


def read_ports(port_file: Path) -> dict[str, int] | None:
    """The ports, once the file is whole (the baselines do not write it atomically)."""
    try:
        return dict(json.loads(port_file.read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _answers(port: int, scheme: str = "http") -> bool:
    unverified = ssl._create_unverified_context() if scheme == "https" else None
    try:
        url = f"{scheme}://127.0.0.1:{port}/v2/health/live"
        urllib.request.urlopen(url, timeout=1, context=unverified)
    except urllib.error.HTTPError:
        return True  # the bare app answers every path
    except OSError:
        return False
    return True


def modelport_command(repo: Path, port_file: Path) -> list[str]:
    """``modelport serve`` as every benchmark runs it: free ports, one onnxruntime thread."""
    return [
        sys.executable, "-m", "modelport", "serve", str(repo), "--http-port", "0",
        "--grpc-port", "0", "--intra-op-threads", "1", "--inter-op-threads", "1",
        "--log-level", "warning", "--port-file", str(port_file),
    ]  # fmt: skip


def v2_scenarios(grpc: bool) -> list[Scenario]:
    """What modelport and Triton are both measured on."""
    found: list[Scenario] = []
    for kind in ("v2-json", "v2-binary"):
        found += [("mlp", "/v2/models/mlp/infer", kind, c) for c in (1, 16, 64)]
    found += [("mlp_batched", "/v2/models/mlp_batched/infer", "v2-json", c) for c in (1, 16, 64)]
    for model in ("wide", "wide_batched"):
        found += [
            (model, f"/v2/models/{model}/infer", kind, 64) for kind in ("v2-json", "v2-binary")
        ]
        found.append((model, f"/v2/models/{model}/infer", "v2-json", 1))
    if grpc:
        found += [("mlp", "", "grpc", c) for c in (1, 16, 64)] + [("wide_batched", "", "grpc", 64)]
    return found


def modelport(repo: Path, tmp: str, grpc: bool) -> Spec:
    port_file = Path(tmp) / "modelport.json"
    scenarios = v2_scenarios(grpc)
    scenarios.insert(6, ("mlp", "/models/mlp/predict", "predict", 16))
    command = modelport_command(repo, port_file)
    return Spec("modelport", lambda: start_with_port_file(command, port_file), scenarios)


def bare(repo: Path, tmp: str) -> Spec:
    port_file = Path(tmp) / "bare.json"
    script = Path(__file__).parent / "bare_asgi.py"
    command = [sys.executable, str(script), str(repo / "mlp" / "1" / "model.onnx"), str(port_file)]
    scenarios = [("mlp", "/predict", "predict", c) for c in (1, 16, 64)]
    scenarios += [("mlp", "/raw", "raw", c) for c in (16, 64)]
    return Spec("bare-ASGI limit", lambda: start_with_port_file(command, port_file), scenarios)


def bare_grpc(repo: Path, tmp: str) -> Spec:
    port_file = Path(tmp) / "bare-grpc.json"
    script = Path(__file__).parent / "bare_grpc.py"
    command = [sys.executable, str(script), str(repo / "mlp" / "1" / "model.onnx"), str(port_file)]
    scenarios: list[Scenario] = [("mlp", "", "grpc", c) for c in (16, 64)]
    return Spec("bare-gRPC limit", lambda: start_with_port_file(command, port_file), scenarios)


def flask(repo: Path, tmp: str) -> Spec | None:
    if importlib.util.find_spec("flask") is None:
        return None
    port_file = Path(tmp) / "flask.json"
    script = Path(__file__).parent / "flask_seed.py"
    command = [sys.executable, str(script), str(repo / "mlp" / "1" / "model.onnx"), str(port_file)]
    scenarios = [("mlp", "/predict", "predict", c) for c in (1, 16)]
    return Spec("Flask seed", lambda: start_with_port_file(command, port_file), scenarios)


def triton_server(repo: Path, tmp: str, grpc: bool) -> Spec | None:
    root = triton.install()
    if root is None:
        return None
    triton_repo = triton.repository(repo, Path(tmp) / "triton-repo", BATCHED)

    def launch() -> Running:
        ports = (free_port(), free_port(), free_port())
        process, http, grpc_port = triton.start(root, triton_repo, pin(SERVER_CORE), ports)
        return Running(process, http, grpc_port)

    return Spec("Triton 2.51 (Python backend)", launch, v2_scenarios(grpc))
