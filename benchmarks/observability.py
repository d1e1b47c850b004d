"""What request ids, access lines and traces cost.

    python benchmarks/observability.py

``modelport serve`` on one core (taskset; wrk on the other), the mlp model (784→128→10),
V2 JSON at c=16, 3 s warm-up and 10 s measured, in turn: the commits before request ids and
before tracing existed (checked out into temporary worktrees), today's defaults (request
ids; no access log, no tracing), ``--access-log`` as text and as JSON (stdout to /dev/null),
tracing on (every span exported over OTLP/HTTP to a receiver that drops them), and the mlp
with request logging at sample 0.1 (inputs and outputs, to a local folder; JSONL, or Parquet;
with and without drift figures) and at 1.0 with drift. Rounds interleaved, the median kept.
Targets (issue 13): JSON access lines < 5% of requests/s, tracing off 0%, request logging at
0.1 < 5%. Writes ``results/<date>-observability.md``.
"""

from __future__ import annotations

import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import models
from benchmarks.load import Load, run
from benchmarks.servers import modelport_command, start_with_port_file

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
COMMITS = {"before request ids": "8f67491", "before tracing": "f8a6959"}
VARIANTS = {
    "before request ids": [],
    "before tracing": [],
    "defaults (request ids, no access log)": [],
    "--access-log (text)": ["--access-log", "true"],
    "--access-log --log-format json": ["--access-log", "true", "--log-format", "json"],
    "tracing on (OTLP/HTTP)": [],
    "request log, sample 0.1": [],
    "request log, sample 0.1, drift": [],
    "request log, sample 0.1, Parquet, drift": [],
    "request log, sample 1.0, drift": [],
}
LOGGED = {
    "request log, sample 0.1": "sample: 0.1",
    "request log, sample 0.1, drift": "sample: 0.1, drift: true",
    "request log, sample 0.1, Parquet, drift": "sample: 0.1, format: parquet, drift: true",
    "request log, sample 1.0, drift": "sample: 1.0, drift: true",
}
"""Served from a copy of the repository whose mlp has this ``logging:`` block (drift against
the first 1,000 rows, all 784 input features and 10 outputs)."""
ROUNDS = int(os.environ.get("ROUNDS", "5"))
ONLY = [name for name in os.environ.get("ONLY", "").split(";") if name]
"""``ONLY="before tracing;defaults (request ids, no access log)"``: measure those alone."""


def body() -> bytes:
    data = ",".join(["0.5"] * 784)
    tensor = f'{{"name":"input","datatype":"FP32","shape":[1,784],"data":[{data}]}}'
    return f'{{"inputs":[{tensor}]}}'.encode()


def measure(repo: Path, tmp: Path, name: str, sources: dict[str, Path], otlp: str) -> float:
    port_file = tmp / "ports.json"
    if name in LOGGED:
        repo = tmp / name.replace(" ", "").replace(",", "-")
    command = modelport_command(repo, port_file) + VARIANTS[name]
    saved = dict(os.environ)
    if name in sources:
        os.environ["PYTHONPATH"] = str(sources[name])
    if name.startswith("tracing on"):
        os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = otlp
    try:
        running = start_with_port_file(command, port_file)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        headers = {"Content-Type": "application/json"}
        return run(Load(running.http, "/v2/models/mlp/infer", body(), headers, 16)).summary()["rps"]
    finally:
        running.stop()


class _Drop(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that accepts and drops every export."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        """Quiet."""


def main() -> None:
    receiver = HTTPServer(("127.0.0.1", 0), _Drop)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    otlp = f"http://127.0.0.1:{receiver.server_address[1]}/v1/traces"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sources = {name: tmp / name.replace(" ", "-") for name in COMMITS}
        for name, commit in COMMITS.items():
            add = ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach"]
            subprocess.run([*add, str(sources[name]), commit], check=True)
        try:
            repo = models.repository(tmp / "repo")
            for name, block in LOGGED.items():
                logged = tmp / name.replace(" ", "").replace(",", "-")
                shutil.copytree(repo, logged)
                sink = tmp / "records" / logged.name
                (logged / "mlp" / "config.yaml").write_text(f"logging: {{sink: {sink}, {block}}}\n")
            chosen = [name for name in VARIANTS if not ONLY or name in ONLY]
            found: dict[str, list[float]] = {name: [] for name in chosen}
            for _ in range(ROUNDS):  # interleaved, so drift on a shared machine hits all alike
                for name in chosen:
                    src = {k: v / "src" for k, v in sources.items()}
                    found[name].append(measure(repo, tmp, name, src, otlp))
        finally:
            for folder in sources.values():
                remove = ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)]
                subprocess.run(remove, check=True)
    receiver.shutdown()
    receiver.server_close()
    write({name: statistics.median(values) for name, values in found.items()}, found)


def write(medians: dict[str, float], rounds: dict[str, list[float]]) -> None:
    today = datetime.date.today().isoformat()
    base = medians["defaults (request ids, no access log)"]
    lines = [
        f"# Request ids, access lines and traces: their cost ({today})",
        "",
        "Command: `python benchmarks/observability.py`. `modelport serve` pinned to one core",
        "(`--intra-op-threads 1`), wrk on the other, mlp V2 JSON, c=16, 3 s warm-up, 10 s",
        f"measured, {ROUNDS} interleaved rounds, median. Access lines go to /dev/null;",
        "spans to a local OTLP/HTTP receiver that drops them.",
        "",
        "| server | requests/s (median) | rounds | vs defaults |",
        "|---|---|---|---|",
    ]
    for name, value in medians.items():
        each = ", ".join(f"{v:,.0f}" for v in rounds[name])
        lines.append(f"| {name} | {value:,.0f} | {each} | {value / base - 1:+.1%} |")
    out = RESULTS / f"{today}-observability{'-' + str(len(medians)) if ONLY else ''}.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
