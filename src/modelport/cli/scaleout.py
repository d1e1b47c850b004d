"""``modelport serve --ray ADDRESS``: the flags that shape each model's Ray Serve deployment,
and the hand-over to :mod:`modelport.ray_serve` (imported only then: Ray is an extra)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from modelport.cli.hints import missing_module
from modelport.settings import Settings

RAY_FLAGS = (
    "ray",
    "ray_replicas",
    "ray_max_replicas",
    "ray_target_ongoing_requests",
    "ray_max_ongoing_requests",
    "ray_replica_cpus",
)


def add_ray_flags(add: Any) -> None:
    add(
        "--ray",
        metavar="ADDRESS",
        help="deploy on a running Ray cluster (a ray.init address: auto, HOST:PORT or"
        " ray://HOST:PORT): each model a Ray Serve deployment, modelport's protocols on"
        " --http-port through Ray's proxy",
    )
    add("--ray-replicas", type=int, default=1, help="replicas per model (default: 1)")
    add(
        "--ray-max-replicas",
        type=int,
        default=0,
        help="autoscale each model on ongoing requests up to this many replicas (default: off)",
    )
    add(
        "--ray-target-ongoing-requests",
        type=float,
        default=2.0,
        help="ongoing requests per replica the autoscaler aims at (default: 2)",
    )
    add(
        "--ray-max-ongoing-requests",
        type=int,
        default=64,
        help="requests one replica takes at once, room for batches (default: 64)",
    )
    add("--ray-replica-cpus", type=float, default=1.0, help="CPUs per replica (default: 1)")


def ray_flags(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name) for name in RAY_FLAGS}


def run_on_ray(config: Settings, flags: dict[str, Any]) -> int:
    try:
        from modelport import ray_serve
    except ImportError as exc:
        print(f"modelport: {missing_module(exc)}", file=sys.stderr)
        return 1
    if flags["ray_replicas"] < 1 or flags["ray_replica_cpus"] <= 0:
        print("modelport: --ray-replicas and --ray-replica-cpus must be positive", file=sys.stderr)
        return 2
    options = ray_serve.ReplicaOptions(
        flags["ray_replicas"],
        flags["ray_max_replicas"],
        flags["ray_target_ongoing_requests"],
        flags["ray_max_ongoing_requests"],
        flags["ray_replica_cpus"],
    )
    ray_serve.deploy(config, options, flags["ray"])
    return 0
