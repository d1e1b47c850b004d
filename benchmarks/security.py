"""What API keys and TLS cost: the mlp model (V2 JSON, one 1x784 sample) at c=16.

    python benchmarks/security.py [--quick] [--repeat N]

modelport pinned to one core (``taskset``, one intra-op thread), wrk on the other, in four
starts: plaintext without keys, with ``--api-keys`` (every request carries a key), over TLS
(``--tls-cert``/``--tls-key``, certificates from trustme), and both. wrk keeps its c=16
connections open, so TLS costs its record encryption, not handshakes. Only 127.0.0.1;
every run ends by itself. Writes ``results/<date>-security.md``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import trustme

from benchmarks import load, models, servers
from benchmarks.run import SAMPLE, bodies
from benchmarks.servers import CLIENT_CORE, Running

RESULTS = Path(__file__).parent / "results"
KEY = "bench-" + "k" * 26
CONFIGS = ("plaintext", "keys", "tls", "tls + keys")


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


def measure(config: str, files: dict[str, Path], folder: Path, timing: tuple[float, float]) -> dict:
    server = start(config, files, folder)
    body, headers = bodies(SAMPLE)["v2-json"]
    if "keys" in config:
        headers = {**headers, "Authorization": f"Bearer {KEY}"}
    scheme = "https" if "tls" in config else "http"
    job = load.Load(server.http, "/v2/models/mlp/infer", body, headers, 16, *timing, scheme=scheme)
    cpu_before = server.cpu_seconds()
    result = load.run(job)
    cpu = server.cpu_seconds() - cpu_before
    server.stop()
    row = {"config": config, **result.summary()}
    row["cpu_us_per_request"] = cpu / max(result.all_requests, 1) * 1e6
    return row


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


def medians(rows: list[dict]) -> list[dict]:
    found = []
    for config in CONFIGS:
        runs = [r for r in rows if r["config"] == config]
        middle = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
        found.append({**middle, "runs": [round(r["rps"]) for r in runs]})
    return found


def write(
    rows: list[dict], timing: tuple[float, float], repeat: int, admit_us: float, path: Path
) -> None:
    base = rows[0]["rps"]
    lines = [
        f"# API keys and TLS: their cost at c=16 ({datetime.date.today()})",
        "",
        f"Command: `python benchmarks/security.py{' --quick' if timing[1] < 10 else ''} "
        f"--repeat {repeat}`; {platform.node()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; modelport pinned to one core, one intra-op thread; "
        f"wrk ({timing[0]:.0f} s warm-up, {timing[1]:.0f} s measured, c=16, keep-alive) on "
        f"core {CLIENT_CORE}; mlp, V2 JSON, one 1x784 sample; median of {repeat} interleaved "
        "runs (each run's requests/s in brackets).",
        "",
        "| start | requests/s | vs plaintext | p50 ms | p99 ms | server CPU µs/request "
        "| errors | runs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['rps']:,.0f} | {r['rps'] / base:.2f}x | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['cpu_us_per_request']:.0f} | {r['errors']} | {r['runs']} |"
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
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per start")
    args = parser.parse_args()
    timing = (1.0, 3.0) if args.quick else (3.0, 10.0)
    servers.pin_self(CLIENT_CORE)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = prepare(Path(tmp))
        admit_us = admit_cost(files)
        for _ in range(args.repeat):
            for config in CONFIGS:
                rows.append(measure(config, files, Path(tmp), timing))
                print(rows[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"{datetime.date.today()}-security.md"
    write(medians(rows), timing, args.repeat, admit_us, target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
