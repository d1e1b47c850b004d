"""What request ids and access lines cost.

    python benchmarks/observability.py

``modelport serve`` on one core (taskset; wrk on the other), the mlp model (784→128→10),
V2 JSON at c=16, 3 s warm-up and 10 s measured, in turn: the commit before request ids
existed (``BEFORE``, checked out into a temporary worktree), today's defaults (request ids,
no access log), ``--access-log`` as text and as JSON (stdout to /dev/null). Three rounds,
interleaved, the median kept. Target (issue 13): JSON access lines cost < 5% of requests/s.
Writes ``results/<date>-observability.md``.
"""

from __future__ import annotations

import datetime
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import models
from benchmarks.load import Load, run
from benchmarks.servers import modelport_command, start_with_port_file

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
BEFORE = "8f67491"
VARIANTS = {
    "before request ids": [],
    "defaults (request ids, no access log)": [],
    "--access-log (text)": ["--access-log", "true"],
    "--access-log --log-format json": ["--access-log", "true", "--log-format", "json"],
}
ROUNDS = 5


def body() -> bytes:
    data = ",".join(["0.5"] * 784)
    tensor = f'{{"name":"input","datatype":"FP32","shape":[1,784],"data":[{data}]}}'
    return f'{{"inputs":[{tensor}]}}'.encode()


def measure(repo: Path, tmp: Path, name: str, old_src: Path) -> float:
    port_file = tmp / "ports.json"
    command = modelport_command(repo, port_file) + VARIANTS[name]
    env_before = os.environ.get("PYTHONPATH")
    if name == "before request ids":
        os.environ["PYTHONPATH"] = str(old_src)
    try:
        running = start_with_port_file(command, port_file)
    finally:
        if env_before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = env_before
    try:
        load = Load(
            running.http, "/v2/models/mlp/infer", body(), {"Content-Type": "application/json"}, 16
        )
        return run(load).summary()["rps"]
    finally:
        running.stop()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        old = tmp / "before"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(old), BEFORE],
            check=True,
        )
        try:
            repo = models.repository(tmp / "repo")
            found: dict[str, list[float]] = {name: [] for name in VARIANTS}
            for _ in range(ROUNDS):  # interleaved, so drift on a shared machine hits all alike
                for name in VARIANTS:
                    found[name].append(measure(repo, tmp, name, old / "src"))
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=True
            )
    write({name: statistics.median(values) for name, values in found.items()}, found)


def write(medians: dict[str, float], rounds: dict[str, list[float]]) -> None:
    today = datetime.date.today().isoformat()
    base = medians["defaults (request ids, no access log)"]
    lines = [
        f"# Request ids and access lines: their cost ({today})",
        "",
        "Command: `python benchmarks/observability.py`. `modelport serve` pinned to one core",
        "(`--intra-op-threads 1`), wrk on the other, mlp V2 JSON, c=16, 3 s warm-up, 10 s",
        f"measured, {ROUNDS} interleaved rounds, median. Access lines go to /dev/null.",
        "",
        "| server | requests/s (median) | rounds | vs defaults |",
        "|---|---|---|---|",
    ]
    for name, value in medians.items():
        each = ", ".join(f"{v:,.0f}" for v in rounds[name])
        lines.append(f"| {name} | {value:,.0f} | {each} | {value / base - 1:+.1%} |")
    out = RESULTS / f"{today}-observability.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
