"""Memory of ``--workers``: total PSS of 1 and of 4 workers serving the wide model.

    python benchmarks/workers_memory.py

PSS (proportional set size) splits each shared page between the processes that map it, so
the sum over the supervisor and its workers is what the server costs the machine. The
weights of ``wide`` are 23 MiB; without sharing, 4 workers would hold 4 copies.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import models
from benchmarks.servers import process_tree, smaps_mib

RESULTS = Path(__file__).parent / "results"


def measure(repo: Path, workers: int, tmp: str) -> tuple[float, list[tuple[float, float]]]:
    """Total PSS, and (PSS, private) of each process: the supervisor first, if any."""
    port_file = Path(tmp) / f"ports-{workers}.json"
    command = [
        sys.executable,
        "-m",
        "modelport",
        "serve",
        str(repo),
        "--http-port",
        "0",
        "--grpc-port",
        "0",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--shared-weights-dir",
        f"{tmp}/shared",
        "--port-file",
        str(port_file),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        port = json.loads(port_file.read_text())["http"]
        body = json.dumps({"input": [[0.5] * 784]}).encode()
        for _ in range(workers * 8):  # every worker has run the model (weights touched)
            urllib.request.urlopen(f"http://127.0.0.1:{port}/models/wide/predict", body).read()
        time.sleep(1)
        each = [
            (smaps_mib(pid, "Pss"), smaps_mib(pid, "Private_Dirty"))
            for pid in process_tree(process.pid)
        ]
        return sum(pss for pss, _ in each), each
    finally:
        process.terminate()
        process.wait(60)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        models.build("wide", repo / "wide" / "1" / "model.onnx")
        weights = (repo / "wide" / "1" / "model.onnx").stat().st_size / 2**20
        (one, _), (four, each) = measure(repo, 1, tmp), measure(repo, 4, tmp)
    today = datetime.date.today().isoformat()
    split = ", ".join(f"{pss:.0f} ({private:.0f})" for pss, private in each)
    text = (
        f"# Memory of --workers: {today}\n\n"
        "Command: `python benchmarks/workers_memory.py`. The wide model "
        f"({weights:.0f} MiB of weights), every worker warmed by requests; total PSS of the "
        "supervisor and all workers. One worker is the single-process server (no supervisor).\n\n"
        "| workers | total PSS MiB | ratio to 1 worker |\n|---|---|---|\n"
        f"| 1 | {one:.0f} | 1.00 |\n| 4 | {four:.0f} | {four / one:.2f} |\n\n"
        f"Each further worker: {(four - one) / 3:.1f} MiB (the weights: {weights:.0f} MiB). "
        f"PSS (private) of the supervisor, then each worker, MiB: {split}.\n"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{today}-workers-memory.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
