"""Dynamic batching against no batching, on one core, with the settings a Triton user would
copy (``max_batch_size: 32``, ``max_queue_delay_microseconds: 2000``).

    python benchmarks/batching.py [--quick]

The same mlp and wide models twice in one repository, with and without the batching config;
modelport pinned to one core with one intra-op thread, wrk on the other (V2 JSON, one 1x784
sample). Only 127.0.0.1; every run ends by itself. Writes ``results/<date>-batching.md``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import load, models, record, servers
from benchmarks.run import SAMPLE, bodies, raw_ceiling
from benchmarks.servers import CLIENT_CORE

CONFIG = "max_batch_size: 32\ndynamic_batching:\n  max_queue_delay_microseconds: 2000\n"
SCENARIOS = [("mlp", 1), ("mlp", 16), ("mlp", 64), ("wide", 1), ("wide", 64)]


def repository(root: Path) -> Path:
    for name in ("mlp", "wide"):
        models.build(name, root / name / "1" / "model.onnx")
        models.build(name, root / f"{name}_batched" / "1" / "model.onnx")
        (root / f"{name}_batched" / "config.yaml").write_text(CONFIG)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s warm-up + 3 s per scenario")
    args = parser.parse_args()
    timing = (1.0, 3.0) if args.quick else (2.0, 8.0)
    servers.pin_self(CLIENT_CORE)
    body, headers = bodies(SAMPLE)["v2-json"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repo, port_file = repository(Path(tmp) / "repo"), Path(tmp) / "ports.json"
        server = servers.start_with_port_file(servers.modelport_command(repo, port_file), port_file)
        try:
            for model, c in SCENARIOS:
                for variant in (model, f"{model}_batched"):
                    job = load.Load(
                        server.http, f"/v2/models/{variant}/infer", body, headers, c, *timing
                    )
                    rows.append((variant, c, load.run(job).summary()))
                    print(rows[-1], flush=True)
        finally:
            server.stop()
        ceiling = raw_ceiling(repo)
    lines = [
        f"# Dynamic batching against none, one core ({record.today()})",
        "",
        f"Command: `python benchmarks/batching.py{' --quick' if args.quick else ''}`; "
        f"{platform.node()}; modelport pinned to one core, one intra-op thread; wrk "
        f"({timing[0]:.0f} s warm-up, {timing[1]:.0f} s) on core {CLIENT_CORE}; V2 JSON.",
        "",
        "| model | c | requests/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {v} | {c} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |"
        for v, c, r in rows
    ]
    lines += ["", "Raw onnxruntime on the same core, one thread, in process (samples/s):", ""]
    lines += [f"- {name}: {value:,.0f}" for name, value in ceiling.items()]
    unbatched = {(v, c): r["rps"] for v, c, r in rows}
    lines += ["", "Ratios (same run):", ""]
    for model, c in SCENARIOS:
        ratio = unbatched[(f"{model}_batched", c)] / unbatched[(model, c)]
        lines.append(f"- {model} c={c}: batched / unbatched requests/s {ratio:.2f}x")
    wide = unbatched[("wide_batched", 64)] / ceiling["wide batch 32"]
    lines.append(f"- wide_batched c=64 / raw wide batch 32: {wide:.2f}x")
    record.save("batching", lines)


if __name__ == "__main__":
    main()
