"""modelport on a small device: ``pip install modelport`` alone against the full install.

    python benchmarks/edge.py

Makes a fresh venv with ``pip install .`` (no extras: ONNX serving only) and measures its
size; then, for it and for the project's full ``.venv`` (every extra), starts ``modelport
serve`` on the digits demo with the small-device profile (``--workers 1 --intra-op-threads
1``) and reports the time to ready, and the server's RSS and PSS at rest after 50 requests.
Only 127.0.0.1; every loop is bounded. Writes ``results/<date>-edge.md``.
"""

from __future__ import annotations

import datetime
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.servers import smaps_mib
from modelport.examples import digits

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
PROFILE = ["--workers", "1", "--intra-op-threads", "1", "--allow-grpc", "false"]


def size_mib(folder: Path) -> float:
    out = subprocess.run(["du", "-sm", str(folder)], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[0])


def serve(python: Path, repository: Path, folder: Path) -> dict[str, float]:
    port_file = folder / f"ports-{time.monotonic_ns()}.json"
    command = [str(python), "-m", "modelport", "serve", str(repository), "--http-port", "0"]
    command += [*PROFILE, "--log-level", "warning", "--port-file", str(port_file)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = wait_ready(port_file)
        ready = time.perf_counter() - started
        body = (
            b'{"inputs":[{"name":"input","datatype":"FP32","shape":[1,784],"data":['
            + b",".join([b"0.5"] * 784)
            + b"]}]}"
        )
        for _ in range(50):  # bounded
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v2/models/digits/infer", body
            )
            urllib.request.urlopen(request, timeout=10).read()
        time.sleep(1)
        return {
            "ready_s": ready,
            "rss_mib": smaps_mib(process.pid, "Rss"),
            "pss_mib": smaps_mib(process.pid, "Pss"),
        }
    finally:
        process.terminate()
        process.wait(30)


def wait_ready(port_file: Path) -> int:
    for _ in range(6000):  # 60 s at most
        try:
            port = int(port_file.read_text().split('"http": ')[1].split(",")[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1):
                return port
        except (OSError, IndexError, ValueError):
            time.sleep(0.01)
    raise RuntimeError("the server did not become ready in 60 s")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        venv = folder / "edge-venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--disable-pip-version-check", str(ROOT)], check=True)
        repository = folder / "repo"
        digits.build(repository)
        rows = {
            "pip install modelport (ONNX only)": (size_mib(venv), venv / "bin" / "python"),
            "the project's .venv (every extra, test tools)": (
                size_mib(ROOT / ".venv"),
                ROOT / ".venv" / "bin" / "python",
            ),
        }
        measured = {
            name: (mib, serve(python, repository, folder)) for name, (mib, python) in rows.items()
        }
    lines = [
        f"# modelport on a small device ({datetime.date.today()})",
        "",
        f"Command: `python benchmarks/edge.py`; {platform.node()}, Python "
        f"{platform.python_version()}; serving the digits demo with `{' '.join(PROFILE)}`; "
        "memory read from /proc after 50 requests, at rest.",
        "",
        "| install | size on disk | start → ready | RSS | PSS |",
        "|---|---|---|---|---|",
    ]
    for name, (mib, figures) in measured.items():
        lines.append(
            f"| {name} | {mib:,.0f} MiB | {figures['ready_s']:.2f} s | "
            f"{figures['rss_mib']:.0f} MiB | {figures['pss_mib']:.0f} MiB |"
        )
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"{datetime.date.today()}-edge.md"
    target.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
