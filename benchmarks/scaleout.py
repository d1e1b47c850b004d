"""Scale-out costs: modelport on a two-node Ray cluster against one process, and many models
on one server under a memory budget.

    python benchmarks/scaleout.py

Ray: starts a head and a worker node on 127.0.0.1 (``ray.cluster_utils.Cluster``), deploys the
digits demo with ``modelport serve --ray`` (one replica), and records the cluster's start, the
deploy until the first answer, the memory of every process of the cluster (PSS: shared pages
counted once) and requests/s at c=16 (wrk, V2 JSON, 10 s), against one ``modelport serve``
process on the same machine (the ceiling: no hop between front and replica).

Memory budget: 8 copies of a 784→512→512→10 model (≈2.6 MiB of weights each) under a budget
that holds 3, then: time to ready, the first request to a parked model (a restore) against a
request to a resident one, and the server's RSS against serving all 8 resident.

Only 127.0.0.1; every loop is bounded. Writes ``results/<date>-scaleout.md``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.load import Load, run
from benchmarks.servers import free_port, smaps_mib
from modelport.examples import digits

RESULTS = Path(__file__).parent / "results"
ROWS = 784
Figures = dict[str, float]


def digits_body() -> bytes:
    data = ",".join(["0.5"] * ROWS)
    tensor = f'{{"name":"input","datatype":"FP32","shape":[1,{ROWS}],"data":[{data}]}}'
    return f'{{"inputs":[{tensor}]}}'.encode()


def wait_live(port: int, seconds: float = 180) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:  # bounded
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/live", timeout=1):
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers on {port} after {seconds} s")


def throughput(port: int, path: str) -> dict[str, float]:
    load = Load(port, path, digits_body(), {"Content-Type": "application/json"}, 16, 3.0, 10.0)
    return run(load).summary()


def pss_of(needle: str) -> float:
    """PSS of every process whose command line mentions ``needle``, in MiB."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline or cmdline.startswith("ray::"):
            total += smaps_mib(int(pid), "Pss")
    return total


def single(repo: Path) -> dict[str, float]:
    port = free_port()
    command = [sys.executable, "-m", "modelport", "serve", str(repo), "--http-port", str(port)]
    started = time.perf_counter()
    process = subprocess.Popen([*command, "--allow-grpc", "false"], stdout=subprocess.DEVNULL)
    try:
        wait_live(port)
        ready = time.perf_counter() - started
        result = throughput(port, "/v2/models/digits/infer")
        return {"ready_s": ready, "pss_mib": smaps_mib(process.pid, "Pss"), **result}
    finally:
        process.terminate()
        process.wait(30)


def on_ray(repo: Path, temp: Path) -> dict[str, float]:
    (temp / "ray").mkdir(parents=True)
    os.environ.update({"RAY_TMPDIR": str(temp), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"})
    import ray
    from ray import cluster_utils

    started = time.perf_counter()
    node = {"node_ip_address": "127.0.0.1", "num_cpus": 2, "include_dashboard": False}
    cluster = cluster_utils.Cluster(True, head_node_args={**node, "temp_dir": str(temp)})
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    cluster_s = time.perf_counter() - started
    port = free_port()
    command = [sys.executable, "-m", "modelport", "serve", str(repo), "--ray", cluster.address]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--http-port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deploy_s = wait_live(port)
        result = throughput(port, "/v2/models/digits/infer")
        pss = pss_of(str(temp))
        return {"cluster_s": cluster_s, "deploy_s": deploy_s, "pss_mib": pss, **result}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(120)
        ray.shutdown()
        cluster.shutdown()


def budget_repo(root: Path, count: int) -> Path:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    for i in range(count):
        weights = [
            rng.standard_normal(s).astype(np.float32) for s in ((784, 512), (512, 512), (512, 10))
        ]
        names = [f"w{k}" for k in range(3)]
        nodes = [
            helper.make_node("MatMul", ["x", "w0"], ["h0"]),
            helper.make_node("Relu", ["h0"], ["r0"]),
            helper.make_node("MatMul", ["r0", "w1"], ["h1"]),
            helper.make_node("Relu", ["h1"], ["r1"]),
            helper.make_node("MatMul", ["r1", "w2"], ["y"]),
        ]
        graph = helper.make_graph(
            nodes,
            f"mlp{i}",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 784])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 10])],
            [numpy_helper.from_array(w, n) for w, n in zip(weights, names, strict=True)],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        (root / f"mlp{i}" / "1").mkdir(parents=True)
        onnx.save(model, root / f"mlp{i}" / "1" / "model.onnx")
    return root


def one_request(port: int, model: str) -> float:
    body = digits_body().replace(b'"input"', b'"x"')
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/{model}/infer", body)
    started = time.perf_counter()
    urllib.request.urlopen(request, timeout=60).read()
    return (time.perf_counter() - started) * 1000


def budgeted(repo: Path, budget: str) -> dict[str, object]:
    port = free_port()
    command = [sys.executable, "-m", "modelport", "serve", str(repo), "--http-port", str(port)]
    extra = ["--allow-grpc", "false", *(["--model-memory-budget", budget] if budget else [])]
    started = time.perf_counter()
    process = subprocess.Popen([*command, *extra], stdout=subprocess.DEVNULL)
    try:
        while True:  # bounded by wait_live's 180 s
            wait_live(port)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready") as r:
                if r.status == 200:
                    break
        ready = time.perf_counter() - started
        index = json.loads(
            urllib.request.urlopen(
                urllib.request.Request(f"http://127.0.0.1:{port}/v2/repository/index", b"")
            ).read()
        )
        resident = [e["name"] for e in index if e.get("resident", True)]
        parked = [e["name"] for e in index if not e.get("resident", True)]
        warm = min(one_request(port, resident[-1]) for _ in range(5))
        restore = one_request(port, parked[0]) if parked else 0.0
        return {
            "ready_s": ready,
            "resident": len(resident),
            "memory_mib": sorted({round(e.get("memory_bytes", 0) / 2**20, 1) for e in index}),
            "warm_ms": warm,
            "restore_ms": restore,
            "rss_mib": smaps_mib(process.pid, "Rss"),
        }
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        repo = folder / "repo"
        digits.build(repo)
        many = budget_repo(folder / "many", 8)
        budget = {"all resident": budgeted(many, ""), "budget 16MiB": budgeted(many, "16MiB")}
        alone = single(repo)
        ray_run = on_ray(repo, folder / "ray-tmp")
    write(alone, ray_run, budget)


def write(alone: Figures, ray_run: Figures, budget: dict[str, dict[str, object]]) -> None:
    today = datetime.date.today().isoformat()
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs (shared VM)"
    a, r = alone, ray_run
    lines = [
        f"# Scale-out costs ({today})",
        "",
        f"Machine: {machine}, Python {platform.python_version()}.",
        "Command: `python benchmarks/scaleout.py` (wrk, c=16, 3 s warm-up, 10 s measured,",
        "V2 JSON, the digits demo).",
        "",
        "## Ray Serve (two nodes on 127.0.0.1, one replica, front on Ray's proxy)",
        "",
        "| | one `modelport serve` (ceiling) | `modelport serve --ray` |",
        "|---|---|---|",
        f"| cluster start (2 nodes) | - | {r['cluster_s']:.1f} s |",
        f"| start until it answers | {a['ready_s']:.1f} s | {r['deploy_s']:.1f} s (deploy) |",
        f"| memory (PSS, all processes) | {a['pss_mib']:.0f} MiB | {r['pss_mib']:.0f} MiB |",
        f"| requests/s at c=16 | {a['rps']:,.0f} | {r['rps']:,.0f} |",
        f"| p50 / p99 (ms) | {a['p50_ms']:.2f} / {a['p99_ms']:.2f} "
        f"| {r['p50_ms']:.2f} / {r['p99_ms']:.2f} |",
        f"| errors | {a['errors']:.0f} | {r['errors']:.0f} |",
        "",
        "## Memory budget (8 models of 784→512→512→10, 2.6 MiB of weights each)",
        "",
        "| | ready | resident | measured per model (MiB) | warm request "
        "| first request to a parked model | server RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, b in budget.items():
        lines.append(
            f"| {name} | {b['ready_s']:.1f} s | {b['resident']} | {b['memory_mib']} | "
            f"{b['warm_ms']:.1f} ms | {b['restore_ms']:.1f} ms | {b['rss_mib']:.0f} MiB |"
        )
    out = RESULTS / f"{today}-scaleout.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
