"""Triton's own load tool against modelport: ``python benchmarks/perf_analyzer.py [--quick]``.

perf_analyzer ships inside the tritonclient 2.51.0 wheel (the PyPI package named
perf-analyzer is a placeholder) and links against libcudart and libb64 even on CPU. This
script fetches the wheel and nvidia-cuda-runtime-cu12 into ``benchmarks/.cache`` with pip,
needs Debian's ``libb64-0d`` (``apt-get install libb64-0d``), starts modelport pinned to
core 1 with the mlp model, runs perf_analyzer pinned to core 0 over HTTP (binary tensors)
and gRPC at c = 1, 16, 64, and writes ``results/<date>-perf-analyzer.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import models, record
from benchmarks.servers import CLIENT_CORE, modelport, pin

CACHE = Path(__file__).parent / ".cache"
WHEEL = "tritonclient==2.51.0"


def install() -> tuple[Path, dict[str, str]]:
    """perf_analyzer's path and the environment it needs, fetched once into the cache."""
    binary = CACHE / "perf_analyzer"
    cudart = CACHE / "cudart"
    if not binary.exists():
        CACHE.mkdir(exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", str(CACHE)],
            check=True,
        )
        wheel = next(CACHE.glob("tritonclient-2.51.0-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            binary.write_bytes(archive.read("tritonclient-2.51.0.data/data/bin/perf_analyzer"))
        binary.chmod(0o755)
    if not cudart.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--target",
                str(cudart),
                "nvidia-cuda-runtime-cu12",
            ],
            check=True,
        )
    libs = next(cudart.rglob("libcudart.so.12")).parent
    return binary, {**os.environ, "LD_LIBRARY_PATH": str(libs)}


def available() -> bool:
    """Whether perf_analyzer can run here (fetched on first use; needs Debian's libb64)."""
    try:
        binary, env = install()
    except (subprocess.CalledProcessError, StopIteration):
        return False
    probe = subprocess.run([str(binary), "--version"], capture_output=True, env=env)
    return probe.returncode == 0


def measure(
    binary: Path,
    env: dict[str, str],
    url: str,
    protocol: str,
    c: int,
    window_ms: int,
    model: str = "mlp",
) -> dict[str, float]:
    options = ["-m", model, "-u", url, "-i", protocol, "--concurrency-range", str(c)]
    options += ["--measurement-interval", str(window_ms), "--percentile", "99"]
    # Shared 2-core machines are noisy: accept runs within 30% (default 10%) over 10 trials.
    options += ["--stability-percentage", "30", "--max-trials", "10"]
    command = [*pin(CLIENT_CORE), str(binary), *options]
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    out = run.stdout + run.stderr
    rate = re.findall(r"Throughput: ([\d.]+) infer/sec", out)
    p50 = re.findall(r"p50 latency: (\d+) usec", out)
    p99 = re.findall(r"p99 latency: (\d+) usec", out)
    if not rate:
        raise RuntimeError(f"perf_analyzer failed:\n{out}")
    return {"rps": float(rate[-1]), "p50_ms": int(p50[-1]) / 1000, "p99_ms": int(p99[-1]) / 1000}


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--quick", action="store_true", help="2 s windows instead of 5 s")
    window = 2000 if args.parse_args().quick else 5000
    binary, env = install()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = modelport(models.repository(Path(tmp) / "repo"), tmp, grpc=True).launch()
        try:
            for protocol, port in (("http", server.http), ("grpc", server.grpc)):
                for c in (1, 16, 64):
                    found = measure(binary, env, f"127.0.0.1:{port}", protocol, c, window)
                    rows.append({"protocol": protocol, "c": c, **found})
                    print(rows[-1], flush=True)
        finally:
            server.stop()
    write(rows, window)


def write(rows: list[dict[str, Any]], window: int) -> None:
    lines = [
        f"# perf_analyzer (Triton 2.51) against modelport: {record.today()}",
        "",
        f"Command: `python benchmarks/perf_analyzer.py`. mlp model, one 1x784 FP32 sample per "
        f"request (HTTP with the binary tensor extension, perf_analyzer's default), "
        f"{window} ms windows until stable; server on core 1, perf_analyzer on core 0.",
        "",
        "| protocol | c | infer/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
        *(
            f"| {r['protocol']} | {r['c']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} "
            f"| {r['p99_ms']:.2f} |"
            for r in rows
        ),
    ]
    record.save("perf-analyzer", lines)


if __name__ == "__main__":
    main()
