"""HTTP front ends for the inference path, measured side by side (issue 17: measure granian's
RSGI and socketify against modelport's own server before deciding what the path rests on).

    python benchmarks/http_frontends.py [--rounds N]

The bare-ASGI limit's work (orjson, onnxruntime on one thread, nothing else) behind uvicorn
(``bare_asgi.py``, the limit issue 17's targets are set against), behind granian over RSGI
and over ASGI (``bare_granian.py``), and behind socketify (``bare_socketify.py``); then
modelport as it serves (its own HTTP/1.1 server on httptools), and modelport's inference
service behind granian's RSGI (``modelport_rsgi.py``). The mlp model: JSON at c=16, a raw or
V2 binary body at c=64, JSON at c=1. Every server runs at once, pinned to the server core;
wrk on the other core measures each in turn, N rounds, the order rotated every round; a
front end that is not installed is left out, one that stops answering is recorded as
failed. Only 127.0.0.1; every run ends by itself. Writes ``results/<date>-http-frontends.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import models, record, run, servers
from benchmarks.servers import CLIENT_CORE, SERVER_CORE, Running, modelport_command

HERE = Path(__file__).parent
BARE = {  # label → (script, extra argument, module it needs)
    "uvicorn, bare ASGI": ("bare_asgi.py", "", "uvicorn"),
    "granian RSGI, bare": ("bare_granian.py", "rsgi", "granian"),
    "granian ASGI, bare": ("bare_granian.py", "asgi", "granian"),
    "socketify, bare": ("bare_socketify.py", "", "socketify"),
}
OURS = "modelport (its own HTTP server)"
OURS_ON_GRANIAN = "modelport's service on granian RSGI"
SCENARIOS = {  # name → (bare path and body, modelport's, concurrency)
    "JSON c=16": (("/predict", "predict"), ("/v2/models/mlp/infer", "v2-json"), 16),
    "binary c=64": (("/raw", "raw"), ("/v2/models/mlp/infer", "v2-binary"), 64),
    "JSON c=1": (("/predict", "predict"), ("/v2/models/mlp/infer", "v2-json"), 1),
}
Found = dict[str, dict[str, list[run.Row | None]]]


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--rounds", type=int, default=5)
    opts = args.parse_args()
    servers.pin_self(CLIENT_CORE)
    with tempfile.TemporaryDirectory() as tmp:
        repo = models.repository(Path(tmp) / "repo")
        running: dict[str, Running] = {}
        try:
            _start(repo, Path(tmp), running)
            found = _measure(running, opts.rounds)
        finally:
            for server in running.values():
                server.stop()
    _write(found, opts.rounds)


def _start(repo: Path, tmp: Path, running: dict[str, Running]) -> None:
    """Start every installed front end into ``running``."""
    onnx = str(repo / "mlp" / "1" / "model.onnx")
    for label, (script, extra, needs) in BARE.items():
        if importlib.util.find_spec(needs) is None:
            print(f"{label}: {needs} is not installed, left out", flush=True)
            continue
        port_file = tmp / f"{len(running)}.json"
        command = [sys.executable, str(HERE / script), onnx, str(port_file), extra]
        running[label] = servers.start_with_port_file(command, port_file)
    running[OURS] = servers.start_with_port_file(modelport_command(repo, tmp / "ours.json"),
                                                 tmp / "ours.json")  # fmt: skip
    if "granian RSGI, bare" in running:
        port_file = tmp / "ours-granian.json"
        command = [sys.executable, str(HERE / "modelport_rsgi.py"), str(repo), str(port_file)]
        running[OURS_ON_GRANIAN] = servers.start_with_port_file(command, port_file)


def _measure(running: dict[str, Running], rounds: int) -> Found:
    found: Found = {name: {label: [] for label in running} for name in SCENARIOS}
    labels = list(running)
    for index in range(rounds):
        for name, (bare, ours, c) in SCENARIOS.items():
            for label in labels[index % len(labels) :] + labels[: index % len(labels)]:
                path, kind = ours if label.startswith("modelport") else bare
                row = _one(running[label], ("mlp", path, kind, c))
                found[name][label].append(row)
                shown = f"{row['rps']:,.0f} requests/s" if row else "failed"
                print(f"round {index + 1}: {name}: {label}: {shown}", flush=True)
    return found


def _one(server: Running, scenario: servers.Scenario) -> run.Row | None:
    """One measurement; None when the server has stopped or wrk could not measure it."""
    if server.process.poll() is not None:
        return None
    try:
        row = run.measure(server, scenario, (1.0, 3.0))
    except (subprocess.CalledProcessError, RuntimeError):
        return None
    return row if server.process.poll() is None and not row["errors"] else None


def _write(found: Found, rounds: int) -> None:
    lines = [
        f"# HTTP front ends: {record.today()}",
        "",
        f"Command: `python {' '.join(sys.argv)}`. mlp, one 1x784 FP32 sample; wrk (1 s "
        f"warm-up, 3 s measured) on core {CLIENT_CORE}, every server at once on core "
        f"{SERVER_CORE}, {rounds} rounds (the order rotated every round). Bare servers take "
        "`/predict` JSON or `/raw` bytes; modelport takes V2 JSON or V2 binary. The ratio is "
        "the median of the rounds' ratios to uvicorn's in the same round. `failed`: the "
        "server had stopped, answered errors, or wrk could not measure it.",
    ]
    for name, by_label in found.items():
        lines += ["", f"## {name}", "", "| front end | requests/s | rounds | / uvicorn bare | "
                  "CPU µs/request | p50 ms |", "|---|---|---|---|---|---|"]  # fmt: skip
        base = by_label.get("uvicorn, bare ASGI", [])
        for label, rows in by_label.items():
            lines.append(_line(label, rows, base))
    record.save("http-frontends", lines)


def _line(label: str, rows: list[run.Row | None], base: list[run.Row | None]) -> str:
    each = " ".join(f"{r['rps']:,.0f}" if r else "failed" for r in rows)
    ok = [r for r in rows if r]
    if not ok:
        return f"| {label} | failed | {each} | | | |"
    ratios = [r["rps"] / b["rps"] for r, b in zip(rows, base, strict=False) if r and b]
    ratio = f"{statistics.median(ratios):.2f}" if ratios else ""
    rps = statistics.median(r["rps"] for r in ok)
    cpu = statistics.median(r["cpu_us_per_req"] for r in ok)
    p50 = statistics.median(r["p50_ms"] for r in ok)
    return f"| {label} | {rps:,.0f} | {each} | {ratio} | {cpu:.0f} | {p50:.2f} |"


if __name__ == "__main__":
    main()
