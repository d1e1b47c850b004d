"""The Python gRPC front ends, measured on the same bare V2 handlers (``bare_grpc.py``).

    python benchmarks/grpc_frontends.py [--rounds N] [--concurrency C]

grpcio's thread-pool server (what modelport uses), grpcio's asyncio server on uvloop, and
grpclib (pure-Python HTTP/2, when it is installed) each serve the mlp model with handlers
that decode, run onnxruntime and encode, nothing else. All run at once, pinned to the
server core; perf_analyzer drives them in turn, N rounds, the order rotated every round.
Triton's own gRPC front end is the yardstick of issue 17's gRPC target, so it is measured
in the same rounds when its wheel is available.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import models, perf_analyzer, record, run, servers
from benchmarks.servers import CLIENT_CORE, SERVER_CORE, Running

SCRIPT = Path(__file__).parent / "bare_grpc.py"
FRONTENDS = {
    "grpcio thread pool": "threads",
    "grpc.aio (uvloop)": "aio",
    "grpclib (h2, asyncio)": "grpclib",
}


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--rounds", type=int, default=3)
    args.add_argument("--concurrency", type=int, default=16)
    opts = args.parse_args()
    if not perf_analyzer.available():
        sys.exit("perf_analyzer is not available (see benchmarks/README.md)")
    with tempfile.TemporaryDirectory() as tmp:
        repo = models.repository(Path(tmp) / "repo")
        running: dict[str, Running] = {}
        try:
            _start(repo, Path(tmp), running)
            found = _measure(running, opts.rounds, opts.concurrency)
        finally:
            for server in running.values():
                server.stop()
    _write(found, opts.rounds, opts.concurrency)


def _start(repo: Path, tmp: Path, running: dict[str, Running]) -> None:
    """Start every front end into ``running`` (what started is stopped even if a later one
    fails to start)."""
    onnx = str(repo / "mlp" / "1" / "model.onnx")
    for label, frontend in FRONTENDS.items():
        if frontend == "grpclib" and importlib.util.find_spec("grpclib") is None:
            print(f"{label}: not installed, left out", flush=True)
            continue
        port_file = tmp / f"{frontend}.json"
        command = [sys.executable, str(SCRIPT), onnx, str(port_file), frontend]
        running[label] = servers.start_with_port_file(command, port_file)
    spec = servers.triton_server(repo, str(tmp), grpc=True)
    if spec is not None:
        running["Triton 2.51"] = spec.launch()


def _measure(running: dict[str, Running], rounds: int, c: int) -> dict[str, list[run.Row]]:
    found: dict[str, list[run.Row]] = {label: [] for label in running}
    labels = list(running)
    for index in range(rounds):
        for label in labels[index % len(labels) :] + labels[: index % len(labels)]:
            row = run.measure(running[label], ("mlp", "", "grpc", c), (1.0, 3.0))
            found[label].append(row)
            print(f"round {index + 1}: {label}: {row['rps']:,.0f} calls/s", flush=True)
    return found


def _write(found: dict[str, list[run.Row]], rounds: int, c: int) -> None:
    base = statistics.median(r["rps"] for r in found["grpcio thread pool"])
    lines = [
        f"# gRPC front ends: {record.today()}",
        "",
        f"Command: `python {' '.join(sys.argv)}`. mlp, perf_analyzer c={c} on core "
        f"{CLIENT_CORE}, every server on core {SERVER_CORE}, {rounds} rounds (the order "
        "rotated every round). The bare front ends share `bare_grpc.py`'s handlers; Triton "
        "serves the same model through its Python backend (its CPU includes that backend's "
        "process). Median round; every round listed.",
        "",
        "| front end | calls/s | rounds | / grpcio thread pool | CPU µs/call |",
        "|---|---|---|---|---|",
    ]
    for label, rows in found.items():
        rps = statistics.median(r["rps"] for r in rows)
        each = " ".join(f"{r['rps']:,.0f}" for r in rows)
        cpu = statistics.median(r["cpu_us_per_req"] for r in rows)
        lines.append(f"| {label} | {rps:,.0f} | {each} | {rps / base:.2f} | {cpu:.0f} |")
    record.save("grpc-frontends", lines)


if __name__ == "__main__":
    main()
