"""``modelport serve [PATH]``: load a repository (or one model file) and serve it."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import uvloop

from modelport import workers
from modelport.config import Settings, settings_from
from modelport.server import ListenSockets, Server, ServerError
from modelport.version import __version__


def add_parser(commands: Any, name: str) -> None:
    cmd = commands.add_parser(name, help="serve models (flags also read MODELPORT_<FLAG> env)")
    add = cmd.add_argument
    add("path", nargs="?", type=Path, help="a model repository directory, or one model file")
    add(
        "--model-repository",
        "--model-store",
        dest="model_repositories",
        action="append",
        metavar="PATH",
        help="repository root in <model>/<version>/<file> layout (repeatable)",
    )
    add("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 exposes it)")
    add("--http-port", type=int, help="HTTP port (default 8000; 0 picks a free one)")
    add("--default-model", help="the model POST /predict serves when several are loaded")
    add("--log-level", choices=["debug", "info", "warning", "error"], help="default info")
    add("--max-request-bytes", type=int, help="largest request body (default 64 MiB) → 413")
    add("--max-json-depth", type=int, help="deepest JSON nesting accepted (default 100)")
    add("--intra-op-threads", type=int, help="onnxruntime intra-op threads (0: all cores)")
    add("--inter-op-threads", type=int, help="onnxruntime inter-op threads (0: default)")
    add(
        "--strict-readiness",
        type=_bool,
        metavar="BOOL",
        help="ready only when every model is (default true, as Triton)",
    )
    add("--exit-timeout-secs", type=float, help="drain time on SIGTERM (default 30)")
    add("--http-header-timeout-secs", type=float, help="deadline for a request head (10)")
    add("--http-body-timeout-secs", type=float, help="deadline for a body after its head (60)")
    add("--port-file", help="write the bound ports here as JSON once serving")
    add("--grpc-port", type=int, help="V2 gRPC port (default 8001; 0 picks a free one)")
    add("--allow-grpc", type=_bool, metavar="BOOL", help="serve gRPC (default true)")
    add("--allow-metrics", type=_bool, metavar="BOOL", help="serve GET /metrics (default true)")
    add("--metrics-port", type=int, help="also serve /metrics on this port (Triton: 8002)")
    add("--grpc-max-message-bytes", type=int, help="largest gRPC message (default 64 MiB)")
    add("--grpc-max-concurrent-calls", type=int, help="gRPC calls served at once (128)")
    add(
        "--model-control-mode", choices=["none", "poll", "explicit"], help="as Triton; default none"
    )
    add("--repository-poll-secs", type=float, help="poll interval in poll mode (default 15)")
    add(
        "--load-model",
        dest="load_models",
        action="append",
        metavar="NAME",
        help="in explicit mode, load this model at start (repeatable; * for all)",
    )
    add("--default-max-batch-size", type=int, help="max_batch_size of batchable models (1024)")
    add("--workers", type=int, help="worker processes serving the same ports (default 1)")
    add("--shared-weights-dir", help="where workers share model weights (~/.cache/modelport)")
    add(
        "--allow-pickle",
        action="store_const",
        const=True,
        help="load pickle/joblib/.h5 files whose SHA-256 the model's config lists (off)",
    )


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def settings(args: argparse.Namespace) -> Settings:
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "path")}
    for key in ("model_repositories", "load_models"):
        if flags[key] is not None:
            flags[key] = tuple(flags[key])
    base = settings_from(os.environ, **flags)
    if args.path is None:
        return base
    if args.path.is_file():
        return Settings(**{**vars(base), "model_files": (*base.model_files, str(args.path))})
    repos = (*base.model_repositories, str(args.path))
    return Settings(**{**vars(base), "model_repositories": repos})


def run(args: argparse.Namespace) -> int:
    try:
        config = settings(args)
    except ValueError as exc:
        print(f"modelport: {exc}", file=sys.stderr)
        return 2
    if not config.model_repositories and not config.model_files:
        print("modelport: no models: give PATH or --model-repository", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        if config.workers > 1:
            sockets = workers.listen_sockets(config)
            return workers.Supervisor(config, sockets, worker(config)).run()
        return uvloop.run(serve(config))
    except ServerError as exc:
        print(f"modelport: {exc}", file=sys.stderr)
        return 1


def worker(config: Settings) -> workers.Worker:
    def run_worker(sockets: ListenSockets, index: int) -> int:
        return uvloop.run(serve(config, sockets, quiet=index > 0))

    return run_worker


async def serve(config: Settings, sockets: ListenSockets | None = None, quiet: bool = False) -> int:
    server = Server(config, sockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    if not quiet:
        report(server)
    await stop.wait()
    if not quiet:
        print("modelport: shutting down; draining in-flight requests", flush=True)
    await server.stop()
    return 0


def report(server: Server) -> None:
    print(f"modelport {__version__}")
    for entry in server.registry.index():
        version = f" version {entry.version}" if entry.version else ""
        reason = f": {entry.reason}" if entry.reason else ""
        print(f"  model {entry.name}{version}: {entry.state}{reason}")
    host, port = server.settings.host, server.http_port
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    print(f"HTTP listening on {url}  (V2: {url}/v2, plain: POST {url}/predict)")
    if server.grpc_port:
        print(f"gRPC listening on {host}:{server.grpc_port}  (V2 GRPCInferenceService)")
    if server.metrics_port:
        print(f"metrics on http://{host}:{server.metrics_port}/metrics")
    print(f"model control mode: {server.control.mode}", flush=True)
    if server.settings.port_file:
        ports = {"http": port, "grpc": server.grpc_port, "metrics": server.metrics_port}
        target = Path(server.settings.port_file)
        staging = target.with_name(f".{target.name}.{os.getpid()}")
        staging.write_text(json.dumps(ports))
        staging.replace(target)  # atomic: a reader never sees half a file
