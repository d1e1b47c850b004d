"""The container image's size and how soon it serves.

    python benchmarks/image.py [--image modelport:latest] [--runs 5]

Needs a Docker engine and an image built by ``make image``. Reports the image's own layers
(its size less its base's), and the time from ``docker run`` to ``/v2/health/ready`` answering
200 with the digits demo mounted read-only (median of ``--runs``, each container removed).
Only 127.0.0.1; every loop is bounded. Writes ``results/<date>-image.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from modelport.examples import digits

RESULTS = Path(__file__).parent / "results"
MIB = 1024 * 1024


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def size(image: str) -> int:
    return int(json.loads(docker("image", "inspect", image))[0]["Size"])


def base_of(image: str) -> str:
    """The base image: the newest image in this one's history that has a tag."""
    tagged = {
        line.split()[1]: line.split()[0]
        for line in docker("images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
        .strip()
        .splitlines()
    }
    layers = docker("history", "--no-trunc", "--format", "{{.ID}}", image).split()
    return next(tagged[layer] for layer in layers[1:] if layer in tagged)


def engine_version() -> str:
    return docker("version", "--format", "{{.Server.Version}}").strip()


def start_to_ready(image: str, repository: Path) -> float:
    started = time.perf_counter()
    cid = docker(
        "run", "--detach", "--read-only", "--tmpfs", "/tmp",
        "--volume", f"{repository}:/models:ro", "--publish", "127.0.0.1::8000", image,
    ).strip()  # fmt: skip
    try:
        port = docker("port", cid, "8000/tcp").strip().rsplit(":", 1)[1]
        for _ in range(3000):  # 30 s at most
            try:
                url = f"http://127.0.0.1:{port}/v2/health/ready"
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("the container did not become ready in 30 s")
    finally:
        subprocess.run(["docker", "rm", "--force", cid], capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="modelport:latest")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base = base_of(args.image)
    own = size(args.image) - size(base)
    with tempfile.TemporaryDirectory() as tmp:
        repository = Path(tmp)
        digits.build(repository)
        for path in [repository, *repository.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        times = [start_to_ready(args.image, repository) for _ in range(args.runs)]
    runs = ", ".join(f"{t:.2f}" for t in times)
    lines = [
        f"# Container image: size and start ({datetime.date.today()})",
        "",
        f"Command: `python benchmarks/image.py --image {args.image} --runs {args.runs}` after "
        f"`make image`; {platform.node()}, Docker {engine_version()}.",
        "",
        "| what | figure | target |",
        "|---|---|---|",
        f"| image `{args.image}` | {size(args.image) / MIB:,.0f} MiB | |",
        f"| its base `{base}` | {size(base) / MIB:,.0f} MiB | |",
        f"| the image's own layers (ONNX-only install) | {own / MIB:,.0f} MiB | < 250 MB |",
        f"| `docker run` → `/v2/health/ready` 200 (digits demo), median of {args.runs} | "
        f"{statistics.median(times):.2f} s (runs: {runs}) | < 2 s |",
    ]
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"{datetime.date.today()}-image.md"
    target.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
