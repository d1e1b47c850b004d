"""The request path before and after issue 17 (adaptive batching, an HTTP server of our own),
against the bare-ASGI limit, in one run.

    python benchmarks/request_path.py [--rounds N] [--quick]

On one core (taskset; wrk on the other), one onnxruntime thread: ``modelport serve`` at
``BEFORE`` (checked out into a temporary worktree: uvicorn's protocol subclassed, the batcher
hand-off for every batched request) and at the working tree, and ``benchmarks/bare_asgi.py``
(uvicorn + orjson + onnxruntime, nothing else). The mlp model (784→128→10): V2 JSON at c=1,
16, 64; V2 binary at c=64; the same model with ``max_batch_size: 32`` and a 2 ms delay
(``mlp_batched``) at c=1 and 16; and ``POST /v2/repository/index`` (a Starlette route, the
general path) at c=16. Rounds interleaved, medians kept. Only 127.0.0.1; every run ends by
itself. Writes ``results/<date>-request-path.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import load, models
from benchmarks.run import SAMPLE, bodies
from benchmarks.servers import (
    CLIENT_CORE,
    Running,
    modelport_command,
    pin_self,
    start_with_port_file,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
BEFORE = "54ce89e"
"""The last commit before this session's issue-17 work: uvicorn's protocol subclassed, every
batched request through the batcher's hand-off."""
BATCHED = "max_batch_size: 32\ndynamic_batching:\n  max_queue_delay_microseconds: 2000\n"
V2 = [
    ("mlp JSON", "/v2/models/mlp/infer", "v2-json", 1),
    ("mlp JSON", "/v2/models/mlp/infer", "v2-json", 16),
    ("mlp JSON", "/v2/models/mlp/infer", "v2-json", 64),
    ("mlp binary", "/v2/models/mlp/infer", "v2-binary", 64),
    ("mlp_batched JSON", "/v2/models/mlp_batched/infer", "v2-json", 1),
    ("mlp_batched JSON", "/v2/models/mlp_batched/infer", "v2-json", 16),
    ("repository index (Starlette route)", "/v2/repository/index", "index", 16),
]
BARE = [
    ("bare /predict JSON", "/predict", "predict", 1),
    ("bare /predict JSON", "/predict", "predict", 16),
    ("bare /predict JSON", "/predict", "predict", 64),
    ("bare /raw binary", "/raw", "raw", 64),
]


def measure(server: Running, scenarios: list, timing: tuple[float, float]) -> dict:
    found = {}
    kinds = bodies(SAMPLE)
    for name, path, kind, c in scenarios:
        body, headers = kinds[kind] if kind != "index" else (b"{}", {})
        job = load.Load(server.http, path, body, headers, c, *timing)
        found[(name, c)] = load.run(job).summary()
        print(name, c, found[(name, c)], flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 s warm-up + 3 s per scenario")
    args = parser.parse_args()
    timing = (1.0, 3.0) if args.quick else (2.0, 6.0)
    pin_self(CLIENT_CORE)
    runs: dict[str, list[dict]] = {"before": [], "after": [], "bare": []}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        repo = models.repository(tmp / "repo")
        models.build("mlp", repo / "mlp_batched" / "1" / "model.onnx")
        (repo / "mlp_batched" / "config.yaml").write_text(BATCHED)
        worktree = tmp / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach",
                        str(worktree), BEFORE], check=True)  # fmt: skip
        try:
            for _ in range(args.rounds):
                for name in runs:
                    runs[name].append(serve_and_measure(name, repo, tmp, worktree, timing))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(worktree)], check=True)  # fmt: skip
    write(runs, args.rounds, timing)


def serve_and_measure(
    name: str, repo: Path, tmp: Path, worktree: Path, timing: tuple[float, float]
) -> dict:
    port_file = tmp / f"{name}.json"
    if name == "bare":
        script = Path(__file__).parent / "bare_asgi.py"
        command = [sys.executable, str(script), str(repo / "mlp" / "1" / "model.onnx"),
                   str(port_file)]  # fmt: skip
    else:
        command = modelport_command(repo, port_file)
    saved = dict(os.environ)
    if name == "before":
        os.environ["PYTHONPATH"] = str(worktree / "src")
    try:
        server = start_with_port_file(command, port_file)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        return measure(server, BARE if name == "bare" else V2, timing)
    finally:
        server.stop()


def _medians(runs: dict[str, list[dict]], figure: str) -> dict[str, dict]:
    """Per server, per scenario: the median of ``figure`` over the rounds."""
    return {
        name: {key: statistics.median(r[key][figure] for r in found) for key in found[0]}
        for name, found in runs.items()
    }


def write(runs: dict[str, list[dict]], rounds: int, timing: tuple[float, float]) -> None:
    today = datetime.date.today().isoformat()
    median, p50 = _medians(runs, "rps"), _medians(runs, "p50_ms")
    lines = [
        f"# The request path before and after issue 17 ({today})",
        "",
        f"Command: `python benchmarks/request_path.py --rounds {rounds}`. Each server pinned to",
        f"one core, one onnxruntime thread; wrk on the other core; {timing[0]:.0f} s warm-up,",
        f"{timing[1]:.0f} s measured per scenario; {rounds} interleaved rounds, medians. Before:",
        f"`{BEFORE}` (uvicorn's protocol subclassed, no adaptive dispatch); after: this commit",
        "(rest/http11.py; a lone request to a batched inline model computed on the spot).",
        "",
        "| scenario | c | before req/s | after req/s | after/before | p50 ms before → after |",
        "|---|---|---|---|---|---|",
    ]
    for key, after in median["after"].items():
        before = median["before"][key]
        lines.append(
            f"| {key[0]} | {key[1]} | {before:,.0f} | {after:,.0f} | {after / before:.2f}x |"
            f" {p50['before'][key]:.2f} → {p50['after'][key]:.2f} |"
        )
    lines += ["", "| bare-ASGI limit | c | req/s | after (same c, same body kind) / limit |"]
    lines.append("|---|---|---|---|")
    pairs = {("bare /predict JSON", c): ("mlp JSON", c) for c in (1, 16, 64)}
    pairs[("bare /raw binary", 64)] = ("mlp binary", 64)
    for key, value in median["bare"].items():
        ours = median["after"][pairs[key]]
        lines.append(f"| {key[0]} | {key[1]} | {value:,.0f} | {ours / value:.2f}x |")
    out = RESULTS / f"{today}-request-path.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
