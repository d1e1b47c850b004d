"""Run the method of shared/PERFORMANCE.md end to end and record a table.

    python benchmarks/run.py [--quick] [--label NAME]

The server under test is pinned to core 1, this load generator to core 0, onnxruntime
to one thread. Each scenario: 3 s warm-up, 10 s measured (``--quick``: 1 s + 3 s).
Modelport and the bare-ASGI limit run in the same session, beside the raw onnxruntime
ceiling, so the ratios are meaningful; absolute figures move between machines.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import load, models

RESULTS = Path(__file__).parent / "results"
SERVER_CORE, CLIENT_CORE = 1, 0
SAMPLE = np.random.default_rng(0).random((1, 784), dtype=np.float32)


def pin(core: int) -> list[str]:
    if len(os.sched_getaffinity(0)) < 2:
        return []
    return ["taskset", "-c", str(core)]


def start(command: list[str], port_file: Path) -> tuple[subprocess.Popen[bytes], int]:
    process = subprocess.Popen(pin(SERVER_CORE) + command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if port_file.exists():
            port = int(json.loads(port_file.read_text())["http"])
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/live", timeout=1)
                return process, port
            except urllib.error.HTTPError:
                return process, port  # bare app: any HTTP answer means it is up
            except OSError:
                pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start: {command}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bodies(sample: np.ndarray) -> dict[str, tuple[str, bytes, dict[str, str]]]:
    """Scenario name → (path suffix, body, headers) for one 1x784 FP32 sample."""
    v2_json = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": [1, 784],
                    "data": sample.ravel().tolist(),
                }
            ]
        }
    )
    head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": [1, 784],
                    "parameters": {"binary_data_size": 784 * 4},
                }
            ],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
        }
    )
    binary_headers = {"Inference-Header-Content-Length": str(len(head))}
    return {
        "v2-json": ("infer", v2_json, {"Content-Type": "application/json"}),
        "v2-binary": ("infer", head + sample.tobytes(), binary_headers),
        "predict": ("predict", orjson.dumps({"input": sample.tolist()}), {}),
        "raw": ("raw", sample.tobytes(), {}),
    }


Scenario = tuple[str, str, str, int]  # model, path, body kind, concurrency


def measure(pid: int, port: int, scenario: Scenario, timing: tuple[float, float]) -> dict[str, Any]:
    _, path, kind, concurrency = scenario
    _, body, headers = bodies(SAMPLE)[kind]
    before = cpu_seconds(pid)
    result = load.run(load.Load(port, path, body, headers, concurrency, *timing))
    cpu = cpu_seconds(pid) - before
    summary = result.summary()
    summary["cpu_us_per_req"] = cpu / max(result.all_requests, 1) * 1e6
    return summary


def raw_ceiling(repo: Path) -> dict[str, float]:
    """In-process onnxruntime, one thread, on the server's core: samples/s."""
    os.sched_setaffinity(0, {SERVER_CORE} if len(os.sched_getaffinity(0)) > 1 else {0})
    out = {}
    for name in models.LAYERS:
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        session = ort.InferenceSession(str(repo / name / "1" / "model.onnx"), so)
        for batch in (1, 32):
            x = np.repeat(SAMPLE, batch, axis=0)
            runs, started = 0, time.perf_counter()
            while time.perf_counter() - started < 2.0:
                session.run(None, {"input": x})
                runs += 1
            out[f"{name} batch {batch}"] = runs * batch / (time.perf_counter() - started)
    return out


def run_server(
    label: str,
    command: list[str],
    port_file: Path,
    scenarios: list[Scenario],
    timing: tuple[float, float],
) -> list[dict[str, Any]]:
    process, port = start(command, port_file)
    rows = []
    try:
        os.sched_setaffinity(0, {CLIENT_CORE} if len(os.sched_getaffinity(0)) > 1 else {0})
        for scenario in scenarios:
            model, _, kind, concurrency = scenario
            row = measure(process.pid, port, scenario, timing)
            row |= {"server": label, "model": model, "protocol": kind, "c": concurrency}
            rows.append(row | {"pss_mib": pss_mib(process.pid)})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        process.terminate()
        process.wait(30)
    return rows


def scenarios_modelport() -> list[Scenario]:
    found = []
    for kind in ("v2-json", "v2-binary"):
        found += [("mlp", "/v2/models/mlp/infer", kind, c) for c in (1, 16, 64)]
    found += [("mlp", "/models/mlp/predict", "predict", 16)]
    found += [("wide", "/v2/models/wide/infer", kind, 64) for kind in ("v2-json", "v2-binary")]
    batched = "/v2/models/wide_batched/infer"
    found += [("wide_batched", batched, kind, 64) for kind in ("v2-json", "v2-binary")]
    return found


def modelport_command(repo: Path, port_file: Path) -> list[str]:
    """``modelport serve`` as every benchmark runs it: free ports, one onnxruntime thread."""
    return [
        sys.executable, "-m", "modelport", "serve", str(repo), "--http-port", "0",
        "--grpc-port", "0", "--intra-op-threads", "1", "--inter-op-threads", "1",
        "--log-level", "warning", "--port-file", str(port_file),
    ]  # fmt: skip


Server = tuple[str, list[str], Path, list[Scenario]]  # label, command, port file, scenarios


def servers(repo: Path, tmp: str) -> list[Server]:
    """modelport, the bare-ASGI limit, and (with flask installed) the seed's Flask server."""
    py, here, mlp = sys.executable, Path(__file__).parent, str(repo / "mlp" / "1" / "model.onnx")
    ours = modelport_command(repo, Path(f"{tmp}/modelport.json"))
    bare = [("mlp", "/predict", "predict", c) for c in (1, 16, 64)]
    bare += [("mlp", "/raw", "raw", c) for c in (16, 64)]
    found: list[Server] = [
        ("modelport", ours, Path(f"{tmp}/modelport.json"), scenarios_modelport()),
        (
            "bare-ASGI limit",
            [py, str(here / "bare_asgi.py"), mlp, f"{tmp}/bare.json"],
            Path(f"{tmp}/bare.json"),
            bare,
        ),
    ]
    if importlib.util.find_spec("flask") is not None:
        seed = [py, str(here / "flask_seed.py"), mlp, f"{tmp}/flask.json"]
        found.append(
            (
                "Flask seed",
                seed,
                Path(f"{tmp}/flask.json"),
                [("mlp", "/predict", "predict", c) for c in (1, 16)],
            )
        )
    return found


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--quick", action="store_true", help="1 s warm-up, 3 s measured")
    args.add_argument("--label", default="serving-core")
    opts = args.parse_args()
    timing = (1.0, 3.0) if opts.quick else (3.0, 10.0)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = models.repository(Path(tmp) / "repo")
        ceiling = raw_ceiling(repo)
        print(json.dumps(ceiling), flush=True)
        for label, command, port_file, scenarios in servers(repo, tmp):
            rows += run_server(label, command, port_file, scenarios, timing)
    write(opts.label, rows, ceiling, timing, " ".join(sys.argv))


GENERATOR = "wrk, one thread" if load.wrk_available() else "benchmarks/load.py (asyncio)"


def write(
    label: str,
    rows: list[dict[str, Any]],
    ceiling: dict[str, float],
    timing: tuple[float, float],
    command: str,
) -> None:
    today = datetime.date.today().isoformat()
    RESULTS.mkdir(exist_ok=True)
    lines = [
        f"# {label}: {today}",
        "",
        f"Command: `python {command}` (or `make bench`). Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"onnxruntime {ort.__version__}. Server on core {SERVER_CORE}, load generator on core "
        f"{CLIENT_CORE}; {timing[0]:g} s warm-up, {timing[1]:g} s measured; one 1x784 FP32 sample "
        f"per request. Load generator: {GENERATOR}.",
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
    path = RESULTS / f"{today}-{label}.md"
    path.write_text("\n".join(lines) + "\n")
    (RESULTS / f"{today}-{label}.json").write_text(
        json.dumps({"ceiling": ceiling, "rows": rows, "timing": timing}, indent=1)
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
