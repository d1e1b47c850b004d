"""Where a request's time goes: py-spy on modelport under load, summed by function.

    python benchmarks/profile.py [--kind v2-json|v2-binary|predict] [--model mlp] [-c 16]

Starts modelport on the benchmark models (server on core 1), drives one scenario with the
HTTP load generator (core 0), samples the server with py-spy (``pip install py-spy``) for
``--seconds``, and prints the functions holding the most samples of the main thread (the
event loop, where HTTP requests are served; ``--all-threads`` counts every thread, but
py-spy takes grpc's and the executors' idle threads, blocked in C, for busy ones):
inclusive (the function and what it calls) and self. Sampling stops the server briefly each
time, so the request rate is lower while it runs; compare shares, not rates. Also prints
the server's user and system CPU per request measured over the same window.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import load, models, servers
from benchmarks.run import SAMPLE, bodies

FRAME = re.compile(r"\s*\((?:/[^()]*?/(?:site-packages|src|lib/python3\.\d+)/)?([^()]*)\)")


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--kind", default="v2-json", choices=["v2-json", "v2-binary", "predict"])
    args.add_argument("--model", default="mlp")
    args.add_argument("-c", type=int, default=16, help="concurrency")
    args.add_argument("--seconds", type=int, default=10)
    args.add_argument("--top", type=int, default=30)
    args.add_argument("--all-threads", action="store_true", help="not only the event loop's")
    opts = args.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        sys.exit("py-spy is not installed: pip install py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        repo = models.repository(Path(tmp) / "repo")
        server = servers.modelport(repo, tmp, grpc=False).launch()
        try:
            stacks = profile(server, opts, spy, Path(tmp) / "stacks.txt")
        finally:
            server.stop()
        report(stacks, opts.top, opts.all_threads)


def profile(server: servers.Running, opts: argparse.Namespace, spy: str, out: Path) -> Path:
    servers.pin_self(servers.CLIENT_CORE)
    path = (
        f"/models/{opts.model}/predict"
        if opts.kind == "predict"
        else f"/v2/models/{opts.model}/infer"
    )
    body, headers = bodies(SAMPLE)[opts.kind]
    scenario = load.Load(server.http, path, body, headers, opts.c, 2.0, opts.seconds + 2)
    record = [spy, "record", "-r", "250", "-f", "raw", "-o", str(out)]
    record += ["-p", str(server.process.pid), "-d", str(opts.seconds)]
    sampler = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = servers.cpu_times(server.process.pid)
    result = load.run(scenario)
    after = servers.cpu_times(server.process.pid)
    user, system = (end - start for end, start in zip(after, before, strict=True))
    sampler.wait()
    per = 1e6 / max(result.all_requests, 1)
    rate = result.summary()["rps"]
    print(f"{rate:,.0f} requests/s while sampled; CPU per request: user {user * per:.0f} µs, "
          f"system {system * per:.0f} µs")  # fmt: skip
    return out


def report(stacks: Path, top: int, all_threads: bool) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [FRAME.sub(r" (\1)", frame) for frame in stack.split(";")]
        if not count.isdigit() or not (all_threads or "_run_module_as_main" in stack):
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"--- {title} (share of {total} samples)")
        for frame, count in counter.most_common(top):
            print(f"{100 * count / max(total, 1):5.1f}%  {frame}")


if __name__ == "__main__":
    main()
