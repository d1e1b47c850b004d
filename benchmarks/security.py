"""What API keys and TLS cost: the mlp model (V2 JSON, one 1x784 sample) at c=16.

    python benchmarks/security.py [--quick] [--rounds N]

Four modelport servers run at once, each pinned to the server core (``taskset``, one
intra-op thread; an idle one costs under 0.3% of a core): plaintext without keys, with
``--api-keys`` (every request carries a key), over TLS (``--tls-cert``/``--tls-key``,
certificates from trustme), and both. wrk, on the other core, measures them one after the
other in each round, the order rotated every round; a round's ratio compares figures taken
seconds apart (this VM's speed drifts 10-20% in minutes), and the table gives the median
round's ratio and the range. wrk keeps its c=16 connections open, so TLS costs its record
encryption, not handshakes. Only 127.0.0.1; every run ends by itself. Writes
``results/<date>-security.md``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import trustme

from benchmarks import load, models, servers
from benchmarks.run import SAMPLE, bodies
from benchmarks.servers import CLIENT_CORE, SERVER_CORE, Running

RESULTS = Path(__file__).parent / "results"
KEY = "bench-" + "k" * 26
CONFIGS = ("plaintext", "keys", "tls", "tls + keys")
FIGURES = ("rps", "p50_ms", "p99_ms", "cpu_us_per_request", "errors")


def prepare(folder: Path) -> dict[str, Path]:
    """The repository, a keys file with one key, and a certificate for 127.0.0.1."""
    models.build("mlp", folder / "repo" / "mlp" / "1" / "model.onnx")
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    keys = folder / "keys.yaml"
    keys.write_text(f"- name: bench\n  sha256: {digest}\n  scopes: [infer]\n")
    issued = trustme.CA().issue_cert("127.0.0.1")
    cert, key = folder / "cert.pem", folder / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    return {"repo": folder / "repo", "keys": keys, "cert": cert, "key": key}


def start(config: str, files: dict[str, Path], folder: Path) -> Running:
    port_file = folder / f"ports-{time.monotonic_ns()}.json"
    command = [sys.executable, "-m", "modelport", "serve", str(files["repo"])]
    command += ["--http-port", "0", "--allow-grpc", "false", "--intra-op-threads", "1"]
    command += ["--log-level", "warning", "--port-file", str(port_file)]
    if "keys" in config:
        command += ["--api-keys", str(files["keys"])]
    if "tls" in config:
        command += ["--tls-cert", str(files["cert"]), "--tls-key", str(files["key"])]
    scheme = "https" if "tls" in config else "http"
    return servers.start_with_port_file(command, port_file, scheme=scheme)


def measure(config: str, server: Running, timing: tuple[float, float]) -> dict[str, Any]:
    body, headers = bodies(SAMPLE)["v2-json"]
    if "keys" in config:
        headers = {**headers, "Authorization": f"Bearer {KEY}"}
    scheme = "https" if "tls" in config else "http"
    job = load.Load(server.http, "/v2/models/mlp/infer", body, headers, 16, *timing, scheme=scheme)
    cpu_before = server.cpu_seconds()
    result = load.run(job)
    cpu = server.cpu_seconds() - cpu_before
    row = {"config": config, **result.summary()}
    row["cpu_us_per_request"] = cpu / max(result.all_requests, 1) * 1e6
    return row


def rounds(
    running: dict[str, Running], timing: tuple[float, float], count: int
) -> list[dict[str, Any]]:
    """Every configuration once per round, the order rotated; each row has its ratio to the
    same round's plaintext."""
    rows = []
    for index in range(count):
        order = CONFIGS[index % len(CONFIGS) :] + CONFIGS[: index % len(CONFIGS)]
        found = {config: measure(config, running[config], timing) for config in order}
        for config in CONFIGS:
            found[config]["ratio"] = found[config]["rps"] / max(found["plaintext"]["rps"], 1e-9)
            rows.append(found[config])
            print(found[config], flush=True)
    return rows


def admit_cost(files: dict[str, Path], count: int = 200_000) -> float:
    """Microseconds the access policy adds to one request with a key (in process)."""
    from modelport.auth import AccessPolicy, Action
    from modelport.keys import read_keyring

    policy = AccessPolicy(keyring=read_keyring(files["keys"]))
    header = f"Bearer {KEY}"
    started = time.perf_counter()
    for _ in range(count):  # bounded
        policy.admit(header, "127.0.0.1", Action.INFER, "mlp").release()
    return (time.perf_counter() - started) / count * 1e6


def medians(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per configuration: the median of each figure over the rounds, and every round's ratio."""
    found = []
    for config in CONFIGS:
        runs = [r for r in rows if r["config"] == config]
        middle = {k: statistics.median(r[k] for r in runs) for k in FIGURES}
        ratios = [r["ratio"] for r in runs]
        found.append({"config": config, **middle, "ratios": ratios})
    return found


def write(
    rows: list[dict[str, Any]], timing: tuple[float, float], count: int, admit_us: float, path: Path
) -> None:
    lines = [
        f"# API keys and TLS: their cost at c=16 ({datetime.date.today()})",
        "",
        f"Command: `python benchmarks/security.py{' --quick' if timing[1] < 10 else ''} "
        f"--rounds {count}`; {platform.node()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; the four servers running at once, each pinned to core "
        f"{SERVER_CORE}, one intra-op thread; wrk ({timing[0]:.0f} s warm-up, "
        f"{timing[1]:.0f} s measured, c=16, keep-alive) on core {CLIENT_CORE}; mlp, V2 JSON, "
        f"one 1x784 sample; {count} rounds, each measuring the four one after the other (the "
        "order rotated). Each figure is the median over the rounds; `vs plaintext` is the "
        "median of the rounds' ratios to that round's plaintext, with every round's ratio.",
        "",
        "| start | requests/s | vs plaintext | rounds | p50 ms | p99 ms "
        "| server CPU µs/request | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratios = " ".join(f"{x:.2f}" for x in r["ratios"])
        lines.append(
            f"| {r['config']} | {r['rps']:,.0f} | {statistics.median(r['ratios']):.2f}x | "
            f"{ratios} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['cpu_us_per_request']:.0f} | {r['errors']:.0f} |"
        )
    lines += [
        "",
        f"In process, the access policy's decision for a request with a key (hash, constant-time "
        f"compare, scope and glob, no quota) costs {admit_us:.1f} µs "
        f"({admit_us / rows[0]['cpu_us_per_request']:.1%} of a plaintext request's server CPU).",
    ]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s warm-up + 3 s per run")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the four servers")
    args = parser.parse_args()
    timing = (1.0, 3.0) if args.quick else (3.0, 10.0)
    servers.pin_self(CLIENT_CORE)
    with tempfile.TemporaryDirectory() as tmp:
        files = prepare(Path(tmp))
        admit_us = admit_cost(files)
        running: dict[str, Running] = {}
        try:
            for config in CONFIGS:
                running[config] = start(config, files, Path(tmp))
            rows = rounds(running, timing, args.rounds)
        finally:
            for server in running.values():
                server.stop()
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"{datetime.date.today()}-security.md"
    write(medians(rows), timing, args.rounds, admit_us, target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
