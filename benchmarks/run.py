"""Run the method of shared/PERFORMANCE.md end to end and record a table.

    python benchmarks/run.py [--quick] [--repeat N] [--label NAME] [--no-triton]

Every server under test is pinned to core 1, the load generators to core 0, onnxruntime to
one thread. HTTP scenarios are driven by wrk (3 s warm-up, 10 s measured; ``--quick``:
1 s + 3 s), gRPC ones by Triton's perf_analyzer (until three windows agree within 30%).
In one run: modelport, the bare-ASGI limit, the seed's Flask server, Triton 2.51 with the
same models (``benchmarks/triton.py``), beside the raw onnxruntime ceiling, so the ratios
are meaningful; absolute figures move between machines. With ``--repeat N`` every server
is measured N times, interleaved, and each scenario reports its median run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import load, models, perf_analyzer, record, servers
from benchmarks.record import RESULTS
from benchmarks.servers import CLIENT_CORE, SERVER_CORE, Running, Scenario, Spec

SAMPLE = np.random.default_rng(0).random((1, 784), dtype=np.float32)
Row = dict[str, Any]


def bodies(sample: np.ndarray) -> dict[str, tuple[bytes, dict[str, str]]]:
    """Body kind → (body, headers) for one 1x784 FP32 sample."""
    tensor = {"name": "input", "datatype": "FP32", "shape": [1, 784]}
    v2_json = orjson.dumps({"inputs": [{**tensor, "data": sample.ravel().tolist()}]})
    head = orjson.dumps(
        {
            "inputs": [{**tensor, "parameters": {"binary_data_size": 784 * 4}}],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
        }
    )
    return {
        "v2-json": (v2_json, {"Content-Type": "application/json"}),
        "v2-binary": (head + sample.tobytes(), {"Inference-Header-Content-Length": str(len(head))}),
        "predict": (orjson.dumps({"input": sample.tolist()}), {}),
        "raw": (sample.tobytes(), {}),
    }


def measure(server: Running, scenario: Scenario, timing: tuple[float, float]) -> Row:
    model, path, kind, concurrency = scenario
    if kind == "grpc":
        return measure_grpc(server, model, concurrency, timing)
    body, headers = bodies(SAMPLE)[kind]
    before = server.cpu_seconds()
    result = load.run(load.Load(server.http, path, body, headers, concurrency, *timing))
    summary: Row = dict(result.summary())
    summary["cpu_us_per_req"] = (server.cpu_seconds() - before) / max(result.all_requests, 1) * 1e6
    return summary


def measure_grpc(server: Running, model: str, c: int, timing: tuple[float, float]) -> Row:
    """perf_analyzer over gRPC; CPU per request from the server's own request count."""
    binary, env = perf_analyzer.install()
    before, served = server.cpu_seconds(), served_requests(server, model)
    window = int(max(timing[1] / 2, 1.5) * 1000)
    url = f"127.0.0.1:{server.grpc}"
    found: Row = dict(perf_analyzer.measure(binary, env, url, "grpc", c, window, model))
    requests = served_requests(server, model) - served
    found["cpu_us_per_req"] = (server.cpu_seconds() - before) / max(requests, 1) * 1e6
    found["errors"] = 0
    return found


def served_requests(server: Running, model: str) -> int:
    """Successful requests so far, from the V2 statistics extension (both servers have it)."""
    url = f"http://127.0.0.1:{server.http}/v2/models/{model}/stats"
    stats = json.loads(urllib.request.urlopen(url, timeout=10).read())["model_stats"]
    return sum(int(s["inference_stats"]["success"]["count"]) for s in stats)


def raw_ceiling(repo: Path) -> dict[str, float]:
    """In-process onnxruntime, one thread, on the server's core: samples/s."""
    servers.pin_self(SERVER_CORE)
    out = {}
    for name in models.LAYERS:
        for batch in (1, 32):
            out[f"{name} batch {batch}"] = samples_per_second(repo, name, batch, 2.0)
    servers.pin_self(CLIENT_CORE)
    return out


def samples_per_second(repo: Path, name: str, batch: int, seconds: float) -> float:
    """Raw onnxruntime on one thread, on this process's core: ``name`` at ``batch``."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    session = ort.InferenceSession(str(repo / name / "1" / "model.onnx"), so)
    x = np.repeat(SAMPLE, batch, axis=0)
    session.run(None, {"input": x})  # the first run allocates
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.run(None, {"input": x})
        runs += 1
    return runs * batch / (time.perf_counter() - started)


def run_server(spec: Spec, timing: tuple[float, float], lost: list[str]) -> list[Row]:
    """Every scenario of one server; one that cannot be measured (perf_analyzer finds no
    stable window on a noisy machine) is named in ``lost`` and the run goes on."""
    server = spec.launch()
    rows = []
    try:
        for scenario in spec.scenarios:
            model, _, kind, concurrency = scenario
            try:
                row = measure(server, scenario, timing)
            except RuntimeError as exc:
                lost.append(f"{spec.label} {model} {kind} c={concurrency}")
                print(f"lost: {lost[-1]}: {str(exc)[-200:]}", flush=True)
                continue
            row |= {"server": spec.label, "model": model, "protocol": kind, "c": concurrency}
            rows.append(row | {"pss_mib": server.pss_mib()})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        server.stop()
    return rows


def medians(rows: Iterable[Row]) -> list[Row]:
    """For each scenario, the run with the median throughput (first-seen order)."""
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault((row["server"], row["model"], row["protocol"], row["c"]), []).append(row)
    chosen = []
    for runs in groups.values():
        middle = statistics.median_low([r["rps"] for r in runs])
        chosen.append(next(r for r in runs if r["rps"] == middle) | {"runs": len(runs)})
    return chosen


def specs(repo: Path, tmp: str, with_triton: bool) -> list[Spec]:
    grpc = perf_analyzer.available()
    found = [servers.modelport(repo, tmp, grpc), servers.bare(repo, tmp), servers.flask(repo, tmp)]
    if grpc:
        found.insert(2, servers.bare_grpc(repo, tmp))
    if with_triton:
        found.append(servers.triton_server(repo, tmp, grpc))
    return [spec for spec in found if spec is not None]


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--quick", action="store_true", help="1 s warm-up, 3 s measured")
    args.add_argument("--repeat", type=int, default=1, help="measure every server N times")
    args.add_argument("--label", default="speed")
    args.add_argument("--no-triton", action="store_true", help="leave Triton out")
    opts = args.parse_args()
    timing = (1.0, 3.0) if opts.quick else (3.0, 10.0)
    rows: list[Row] = []
    lost: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = models.repository(Path(tmp) / "repo")
        ceiling = raw_ceiling(repo)
        print(json.dumps(ceiling), flush=True)
        chosen = specs(repo, tmp, not opts.no_triton)
        for _ in range(opts.repeat):
            for spec in chosen:
                rows += run_server(spec, timing, lost)
    write(opts.label, medians(rows), ceiling, timing, " ".join(sys.argv), lost)


GENERATOR = "wrk, one thread" if load.wrk_available() else "benchmarks/load.py (asyncio)"


def write(
    label: str,
    rows: list[Row],
    ceiling: dict[str, float],
    timing: tuple[float, float],
    command: str,
    lost: Sequence[str] = (),
) -> None:
    today = record.today()
    runs = max((r["runs"] for r in rows), default=1)
    lines = [
        f"# {label}: {today}",
        "",
        f"Command: `python {command}` (or `make bench`). Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"onnxruntime {ort.__version__}. Servers on core {SERVER_CORE}, load generators on core "
        f"{CLIENT_CORE}; HTTP: {GENERATOR}, {timing[0]:g} s warm-up, {timing[1]:g} s measured; "
        f"gRPC: perf_analyzer 2.51. One 1x784 FP32 sample per request. Each row is the median "
        f"of {runs} run(s).",
        "",
        "Raw onnxruntime ceiling (in-process, one thread, samples/s): "
        + ", ".join(f"{k}: {v:,.0f}" for k, v in ceiling.items()),
        "",
        "| server | model | protocol | c | requests/s | p50 ms | p99 ms | errors | CPU µs/req "
        "| PSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['server']} | {r['model']} | {r['protocol']} | {r['c']} | {r['rps']:,.0f} | "
        f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | {r['cpu_us_per_req']:.0f} | "
        f"{r['pss_mib']:.0f} |"
        for r in rows
    ]
    if lost:
        lines += ["", "Not measured (no stable perf_analyzer window): " + "; ".join(lost) + "."]
    lines += ["", *ratios(rows, ceiling)]
    record.save(label, lines)
    data = {"ceiling": ceiling, "rows": rows, "timing": timing}
    (RESULTS / f"{today}-{label}.json").write_text(json.dumps(data, indent=1))


OURS, TRITON, BARE = "modelport", "Triton 2.51 (Python backend)", "bare-ASGI limit"
Key = tuple[str, ...]


@dataclass(frozen=True)
class Target:
    """One figure of issue 17 / shared/PERFORMANCE.md: ``top / bottom`` of one field (or
    ``top`` alone when ``bottom`` is None), against the target it must reach."""

    name: str
    top: Key
    bottom: Key | None
    goal: float
    """0: no target, the figure is shown for comparison."""
    field: str = "rps"
    at_most: bool = False
    """The figure must stay at or under the goal (latency), not reach it."""

    def judged(self, value: float) -> tuple[str, str]:
        """The goal as written (``(comparison)`` when there is none) and whether ``value``
        meets it (``yes``, ``no``, or empty for a comparison)."""
        if not self.goal:
            return "(comparison)", ""
        met = value <= self.goal if self.at_most else value >= self.goal
        return f"{'≤' if self.at_most else '≥'} {self.goal:g}", "yes" if met else "no"


def _pair(name: str, top: Key, bottom: Key, goal: float, field: str = "rps") -> Target:
    return Target(name, top, bottom, goal, field, at_most=field != "rps")


TARGETS = [
    _pair("batched mlp c=1 / unbatched c=1", (OURS, "mlp_batched", "v2-json", "1"),
          (OURS, "mlp", "v2-json", "1"), 0.9),
    _pair("batched mlp c=1 p50 / unbatched p50", (OURS, "mlp_batched", "v2-json", "1"),
          (OURS, "mlp", "v2-json", "1"), 1.1, "p50_ms"),
    _pair("batched mlp c=16 / unbatched c=16", (OURS, "mlp_batched", "v2-json", "16"),
          (OURS, "mlp", "v2-json", "16"), 1.0),
    _pair("batched mlp c=64 / unbatched c=64", (OURS, "mlp_batched", "v2-json", "64"),
          (OURS, "mlp", "v2-json", "64"), 1.0),
    _pair("wide batched c=64 binary / raw onnxruntime batch 32",
          (OURS, "wide_batched", "v2-binary", "64"), ("ceiling", "wide batch 32"), 0.6),
    _pair("wide batched c=64 JSON / Triton c=64", (OURS, "wide_batched", "v2-json", "64"),
          (TRITON, "wide_batched", "v2-json", "64"), 1.5),
    _pair("wide batched c=64 binary / Triton c=64", (OURS, "wide_batched", "v2-binary", "64"),
          (TRITON, "wide_batched", "v2-binary", "64"), 1.5),
    _pair("mlp V2 JSON c=16 / bare-ASGI c=16", (OURS, "mlp", "v2-json", "16"),
          (BARE, "mlp", "predict", "16"), 0.8),
    _pair("mlp /predict c=16 / bare-ASGI c=16", (OURS, "mlp", "predict", "16"),
          (BARE, "mlp", "predict", "16"), 0.8),
    _pair("mlp V2 binary c=64 / bare-ASGI raw body c=64", (OURS, "mlp", "v2-binary", "64"),
          (BARE, "mlp", "raw", "64"), 0.8),
    _pair("mlp gRPC c=16 / Triton gRPC c=16", (OURS, "mlp", "grpc", "16"),
          (TRITON, "mlp", "grpc", "16"), 1.5),
    _pair("mlp gRPC c=16 / bare-gRPC c=16", (OURS, "mlp", "grpc", "16"),
          ("bare-gRPC limit", "mlp", "grpc", "16"), 0),
    _pair("bare-gRPC c=16 / Triton gRPC c=16 (the room there is)",
          ("bare-gRPC limit", "mlp", "grpc", "16"), (TRITON, "mlp", "grpc", "16"), 0),
    _pair("mlp V2 JSON c=16 / Triton c=16", (OURS, "mlp", "v2-json", "16"),
          (TRITON, "mlp", "v2-json", "16"), 0),
    _pair("mlp V2 binary c=64 / Triton c=64", (OURS, "mlp", "v2-binary", "64"),
          (TRITON, "mlp", "v2-binary", "64"), 0),
    _pair("mlp V2 JSON c=16 / Flask seed c=16", (OURS, "mlp", "v2-json", "16"),
          ("Flask seed", "mlp", "predict", "16"), 0),
    Target("mlp V2 JSON c=1 p50 (ms)", (OURS, "mlp", "v2-json", "1"), None, 0.3, "p50_ms",
           at_most=True),
]  # fmt: skip


def ratios(rows: list[Row], ceiling: dict[str, float]) -> list[str]:
    """Every target, computed from this run's rows (a row missing from the run: skipped)."""
    found: dict[Key, Row] = {(r["server"], r["model"], r["protocol"], str(r["c"])): r for r in rows}
    found |= {("ceiling", name): {"rps": value} for name, value in ceiling.items()}
    lines = ["| target (this run) | value | goal | met |", "|---|---|---|---|"]
    for t in TARGETS:
        top, bottom = found.get(t.top), found.get(t.bottom) if t.bottom else {t.field: 1.0}
        if top is None or not bottom or not bottom.get(t.field):
            continue
        value = top[t.field] / bottom[t.field]
        goal, verdict = t.judged(value)
        lines.append(f"| {t.name} | {value:.2f} | {goal} | {verdict} |")
    return lines


if __name__ == "__main__":
    main()
