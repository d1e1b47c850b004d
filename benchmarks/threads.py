"""The runtime threads' defaults against hand tuning, at light load and under load.

    python benchmarks/threads.py [--quick] [--repeat N]

For the mlp and wide models (V2 JSON, one 1x784 sample), three ways to start modelport:
- ``before``: what the defaults were until 2026-12-02, a thread per machine core with
  onnxruntime's spinning pool (``--intra-op-threads <cores>`` and ``allow_spinning: true``);
- ``defaults``: no thread flag (threads from the usable CPUs, the pool does not spin);
- ``tuned``: ``--intra-op-threads 1``, the best figure found by hand on one core.
Measured: server CPU seconds per second at a paced 20 requests/s (5 s, 100 requests), on
the whole machine and pinned to one core (``taskset``, as a pod with a 1-CPU limit), and
requests/s with p99 at c=16 pinned to one core (wrk on the other core). With ``--repeat N``
the whole set runs N times; the table gives each figure's median and every run's requests/s
(this VM drifts 10-20% in minutes). Only 127.0.0.1; every loop ends by itself. Writes
``results/<date>-threads.md``.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import load, models, servers
from benchmarks.run import SAMPLE, bodies
from benchmarks.servers import CLIENT_CORE, SERVER_CORE, Running

RESULTS = Path(__file__).parent / "results"
CORES = os.cpu_count() or 1
SPINNING = "parameters: {allow_spinning: true}\n"
FIGURES = ("cpu_per_s_all_cores", "cpu_per_s_one_core", "rps", "p99_ms", "errors")


def repositories(root: Path) -> dict[str, Path]:
    """The same two models twice: as they are, and with onnxruntime's spinning pool on."""
    plain, spinning = root / "plain", root / "spinning"
    for name in ("mlp", "wide"):
        for repo in (plain, spinning):
            models.build(name, repo / name / "1" / "model.onnx")
        (spinning / name / "config.yaml").write_text(SPINNING)
    return {"plain": plain, "spinning": spinning}


CONFIGS = {  # label → (repository, extra flags)
    "before": ("spinning", ["--intra-op-threads", str(CORES)]),
    "defaults": ("plain", []),
    "tuned": ("plain", ["--intra-op-threads", "1"]),
}


def start(repo: Path, flags: list[str], pinned: bool, tmp: Path) -> Running:
    port_file = tmp / f"ports-{time.monotonic_ns()}.json"
    command = [sys.executable, "-m", "modelport", "serve", str(repo), "--http-port", "0"]
    command += ["--allow-grpc", "false", "--log-level", "warning"]
    command += [*flags, "--port-file", str(port_file)]
    cores = SERVER_CORE if pinned else f"0-{CORES - 1}"
    return servers.start_with_port_file(command, port_file, cores)


def paced_cpu(server: Running, model: str, rate: float = 20.0, seconds: float = 5.0) -> float:
    """Server CPU seconds per wall second while one client sends ``rate`` requests/s."""
    body, headers = bodies(SAMPLE)["v2-json"]
    connection = http.client.HTTPConnection("127.0.0.1", server.http, timeout=10)
    path = f"/v2/models/{model}/infer"
    for _ in range(20):  # warm the connection and the model
        connection.request("POST", path, body, headers)
        connection.getresponse().read()
    count = int(rate * seconds)
    cpu_before, started = server.cpu_seconds(), time.monotonic()
    for i in range(count):  # bounded: rate x seconds requests
        time.sleep(max(started + i / rate - time.monotonic(), 0))
        connection.request("POST", path, body, headers)
        connection.getresponse().read()
    elapsed = time.monotonic() - started
    connection.close()
    return (server.cpu_seconds() - cpu_before) / elapsed


def loaded(server: Running, model: str, timing: tuple[float, float]) -> dict[str, float]:
    body, headers = bodies(SAMPLE)["v2-json"]
    job = load.Load(server.http, f"/v2/models/{model}/infer", body, headers, 16, *timing)
    return load.run(job).summary()


def measure(repos: dict[str, Path], tmp: Path, timing: tuple[float, float]) -> list[dict[str, Any]]:
    rows = []
    for model in ("mlp", "wide"):
        for label, (repo, flags) in CONFIGS.items():
            row: dict[str, Any] = {"model": model, "config": label}
            server = start(repos[repo], flags, pinned=False, tmp=tmp)
            row["cpu_per_s_all_cores"] = paced_cpu(server, model)
            server.stop()
            server = start(repos[repo], flags, pinned=True, tmp=tmp)
            row["cpu_per_s_one_core"] = paced_cpu(server, model)
            row.update(loaded(server, model, timing))
            server.stop()
            rows.append(row)
            print(row, flush=True)
    return rows


def medians(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model and start: the median of each figure over the runs, and every run's req/s."""
    found = []
    for model in ("mlp", "wide"):
        for label in CONFIGS:
            runs = [r for r in rows if (r["model"], r["config"]) == (model, label)]
            middle = {k: statistics.median(r[k] for r in runs) for k in FIGURES}
            found.append({"model": model, "config": label, **middle, "runs": runs})
    return found


def write(rows: list[dict[str, Any]], timing: tuple[float, float], repeat: int, path: Path) -> None:
    lines = [
        f"# Runtime threads: defaults against tuning ({datetime.date.today()})",
        "",
        f"Command: `python benchmarks/threads.py{' --quick' if timing[1] < 10 else ''} "
        f"--repeat {repeat}`; median of {repeat} run(s); "
        f"{platform.node()}, {CORES} cores, Python {platform.python_version()}; "
        f"load by {'wrk' if load.wrk_available() else 'benchmarks/load.py'} "
        f"({timing[0]:.0f} s warm-up, {timing[1]:.0f} s measured) pinned to core {CLIENT_CORE}.",
        "",
        "| model | start | CPU s/s at 20 req/s, all cores | same, one core | "
        "req/s at c=16, one core | runs | p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        runs = " ".join(f"{run['rps']:,.0f}" for run in r["runs"])
        lines.append(
            f"| {r['model']} | {r['config']} | {r['cpu_per_s_all_cores']:.3f} | "
            f"{r['cpu_per_s_one_core']:.3f} | {r['rps']:,.0f} | {runs} | {r['p99_ms']:.1f} | "
            f"{r['errors']:.0f} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s warm-up + 3 s per scenario")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the whole set")
    args = parser.parse_args()
    timing = (1.0, 3.0) if args.quick else (3.0, 10.0)
    servers.pin_self(CLIENT_CORE)  # the clients (and wrk)
    with tempfile.TemporaryDirectory() as tmp:
        repos = repositories(Path(tmp))
        rows = [row for _ in range(args.repeat) for row in measure(repos, Path(tmp), timing)]
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"{datetime.date.today()}-threads.md"
    write(medians(rows), timing, args.repeat, target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
