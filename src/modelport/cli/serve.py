"""``modelport serve [PATH]``: load a repository (or one model file) and serve it."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvloop

from modelport import workers
from modelport.accesslog import JsonFormatter
from modelport.cli import platforms, scaleout
from modelport.control import single_artifact
from modelport.cpus import usable_cpus
from modelport.memory import parse_bytes
from modelport.repository.layout import is_model_dir, is_valid_name
from modelport.repository.remote import is_remote
from modelport.server import ListenSockets, Server, ServerError
from modelport.settings import Settings, settings_from
from modelport.version import __version__


def add_parser(commands: Any, name: str) -> None:
    cmd = commands.add_parser(name, help="serve models (flags also read MODELPORT_<FLAG> env)")
    add = cmd.add_argument
    add(
        "path",
        nargs="?",
        help="a model repository (a directory, or s3://, gs://, az:// URL), one model's "
        "directory, or one model file",
    )
    add(
        "--model-repository",
        "--model-store",
        dest="model_repositories",
        action="append",
        metavar="PATH",
        help="repository root in <model>/<version>/<file> layout (repeatable)",
    )
    add("--host", help="address to listen on (0.0.0.0 exposes it beyond this machine)")
    add("--http-port", "--http_port", type=int, help="HTTP port (0 picks a free one)")
    add("--default-model", help="the model POST /predict serves when several are loaded")
    add("--log-level", choices=["debug", "info", "warning", "error"], help="log level")
    add("--max-request-bytes", type=int, help="largest request body in bytes; larger gets 413")
    add("--max-json-depth", type=int, help="deepest JSON nesting accepted")
    add(
        "--intra-op-threads",
        type=int,
        help="threads each model's runtime uses (default 0: the CPUs this process may use, "
        "from its affinity and cgroup quota, shared by the workers)",
    )
    add(
        "--inter-op-threads",
        type=int,
        help="onnxruntime inter-op threads (0: onnxruntime's own choice)",
    )
    add(
        "--strict-readiness",
        type=_bool,
        metavar="BOOL",
        help="ready only when every model is (as Triton)",
    )
    add("--exit-timeout-secs", type=float, help="drain time on SIGTERM, seconds")
    add("--http-header-timeout-secs", type=float, help="deadline for a request head, seconds")
    add("--http-body-timeout-secs", type=float, help="deadline for a body after its head, seconds")
    add("--port-file", help="write the bound ports here as JSON once serving")
    add("--grpc-port", "--grpc_port", type=int, help="V2 gRPC port (0 picks a free one)")
    add(
        "--model-name",
        "--model_name",
        help="serve the one model found under this name (KServe's --model_name)",
    )
    add("--allow-grpc", type=_bool, metavar="BOOL", help="serve gRPC")
    add("--allow-metrics", type=_bool, metavar="BOOL", help="serve GET /metrics")
    add("--log-format", choices=["text", "json"], help="the log's and access lines' format")
    add(
        "--access-log",
        type=_bool,
        metavar="BOOL",
        help="one line per request on stdout (request id, route, model, status, sizes, times)",
    )
    add(
        "--allow-console",
        type=_bool,
        metavar="BOOL",
        help="serve the web console: /, /docs, /openapi.json, /console/...",
    )
    add(
        "--metrics-port",
        type=int,
        help="also serve /metrics on this port (Triton uses 8002; -1: only on the HTTP port)",
    )
    add("--grpc-max-message-bytes", type=int, help="largest gRPC message in bytes")
    add(
        "--grpc-max-concurrent-calls",
        type=int,
        help="gRPC calls served at once; more are refused with RESOURCE_EXHAUSTED",
    )
    add(
        "--model-control-mode",
        choices=["none", "poll", "explicit"],
        help="as Triton: none loads once, poll follows the repository, explicit loads on request",
    )
    add("--repository-poll-secs", type=float, help="poll interval in poll mode, seconds")
    add(
        "--load-model",
        dest="load_models",
        action="append",
        metavar="NAME",
        help="in explicit mode, load this model at start (repeatable; * for all)",
    )
    add(
        "--default-max-batch-size",
        type=int,
        help="max_batch_size of batchable models without one in config.yaml",
    )
    add(
        "--model-memory-budget",
        type=_size,
        metavar="BYTES",
        help="memory the loaded models may hold (e.g. 2GiB); the least recently used idle"
        " ones are unloaded and loaded again on their next request; per worker",
    )
    add("--workers", type=int, help="worker processes serving the same ports")
    add(
        "--shared-weights-dir", help="where workers share model weights (empty: ~/.cache/modelport)"
    )
    add("--cache-dir", help="where remote repositories are cached (empty: ~/.cache/modelport)")
    add(
        "--multi-model-root",
        metavar="DIR",
        help="serve SageMaker's multi-model API, loading models from inside DIR",
    )
    add(
        "--allow-pickle",
        action="store_const",
        const=True,
        help="load pickle/joblib/.h5 files whose SHA-256 the model's config lists (default: off)",
    )
    _add_security(add)
    scaleout.add_ray_flags(add)
    _state_defaults(cmd)


def _add_security(add: Any) -> None:
    add("--api-keys", metavar="FILE", help="YAML file of API keys, scopes and quotas")
    add("--auth-health", type=_bool, metavar="BOOL", help="with keys, health needs one too")
    add("--auth-metrics", type=_bool, metavar="BOOL", help="with keys, /metrics needs one too")
    add("--quota-rate", type=float, help="requests/s per key (or per client address); 0: off")
    add("--quota-concurrency", type=int, help="requests in flight per key or address; 0: off")
    tls = "serve HTTP and gRPC over TLS"
    add("--tls-cert", "--grpc-server-cert", metavar="PEM", help=f"certificate chain: {tls}")
    add("--tls-key", "--grpc-server-key", metavar="PEM", help="private key of --tls-cert")
    add(
        "--tls-client-ca",
        "--grpc-root-cert",
        metavar="PEM",
        help="require client certificates signed by this CA (mutual TLS)",
    )
    add("--grpc-use-ssl", type=_bool, metavar="BOOL", help="Triton's: TLS needs --tls-cert")
    add(
        "--grpc-use-ssl-mutual",
        type=_bool,
        metavar="BOOL",
        help="Triton's: mutual TLS needs --tls-client-ca",
    )
    add(
        "--require-checksums",
        action="store_const",
        const=True,
        help="refuse versions without checksums.sha256 (default: verify it where present)",
    )


def _state_defaults(cmd: argparse.ArgumentParser) -> None:
    """Each flag's help ends with its default, read from ``Settings`` (the one place they are
    set), unless the help says it already."""
    defaults = {spec.name: spec.default for spec in dataclasses.fields(Settings)}
    for action in cmd._actions:
        value = defaults.get(action.dest, dataclasses.MISSING)
        if (
            action.help
            and "default" not in action.help
            and value not in ("", (), dataclasses.MISSING)
        ):
            action.help += f" (default: {str(value).lower() if isinstance(value, bool) else value})"


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _size(text: str) -> int:
    try:
        return parse_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


TRITON_SWITCHES = {
    "grpc_use_ssl": ("tls_cert", "--grpc-use-ssl true needs --grpc-server-cert and -key"),
    "grpc_use_ssl_mutual": ("tls_client_ca", "--grpc-use-ssl-mutual true needs --grpc-root-cert"),
}
"""Triton's on/off flags for what the certificate flags already decide here."""


def settings(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> Settings:
    skipped = ("command", "path", *scaleout.RAY_FLAGS)
    flags = {k: v for k, v in vars(args).items() if k not in skipped}
    for switch, (needed, message) in TRITON_SWITCHES.items():
        if flags.pop(switch) and not flags[needed]:
            raise ValueError(message)
    for key in ("model_repositories", "load_models"):
        if flags[key] is not None:
            flags[key] = tuple(flags[key])
    if args.path and is_remote(args.path):
        flags["model_repositories"] = (*(flags["model_repositories"] or ()), args.path)
    path = Path(args.path) if args.path and not is_remote(args.path) else None
    given = path is not None and path.exists()
    platform = platforms.detect(env, given or bool(flags["model_repositories"]))
    base = settings_from(env, **platforms.merged(platform, flags, env))
    if not given and platform.model_path and not (base.model_repositories or base.model_files):
        path = Path(platform.model_path)
    return base if path is None else with_path(base, path)


def with_path(base: Settings, path: Path) -> Settings:
    """A path to serve, by what it holds: one file, one model's directory (version folders),
    a directory holding one model file (SageMaker's unpacked model.tar.gz), or a repository."""
    if path.is_file():
        return dataclasses.replace(base, model_files=(*base.model_files, str(path)))
    if is_model_dir(path):
        return dataclasses.replace(base, model_dirs=(*base.model_dirs, str(path)))
    artifact = single_artifact(path)
    if artifact is not None:
        return dataclasses.replace(base, model_files=(*base.model_files, str(artifact)))
    return dataclasses.replace(base, model_repositories=(*base.model_repositories, str(path)))


def path_problems(config: Settings) -> list[str]:
    """What is wrong with the paths to serve, each with its fix; empty when all is well."""
    problems = [f"{p} does not exist" for p in config.model_files if not Path(p).is_file()]
    if config.model_name and not is_valid_name(config.model_name):
        problems.append(f"--model-name {config.model_name!r}: use letters, digits and _.-")
    remote = [url for url in config.model_repositories if is_remote(url)]
    if remote and config.workers > 1:
        problems.append("remote repositories are served by one process: drop --workers")
    for root in (Path(r) for r in config.model_repositories if not is_remote(r)):
        if not root.is_dir():
            problems.append(f"model repository {root} {_missing(root)}")
        elif is_model_dir(root):
            problems.append(
                f"{root} is one model (it holds version directories), not a repository of "
                f"them: give its parent (--model-repository {root.parent}), or serve it alone "
                f"with `modelport serve {root}`"
            )
    return problems


def _missing(path: Path) -> str:
    return "is not a directory" if path.exists() else "does not exist"


def warn_if_empty(config: Settings) -> None:
    """An empty repository serves nothing: say so, with the layout it expects."""
    for root in (Path(r) for r in config.model_repositories if not is_remote(r)):
        if not any(not p.name.startswith(".") and p.is_dir() for p in root.iterdir()):
            print(
                f"modelport: WARNING: model repository {root} holds no models; expected "
                f"{root}/<model>/<version>/<model file>, e.g. {root}/digits/1/model.onnx",
                file=sys.stderr,
                flush=True,
            )


def run(args: argparse.Namespace) -> int:
    try:
        config = settings(args)
    except ValueError as exc:
        print(f"modelport: {exc}", file=sys.stderr)
        return 2
    models = config.model_repositories or config.model_files or config.model_dirs
    if not models and not config.multi_model_root:
        print("modelport: no models: give PATH or --model-repository", file=sys.stderr)
        return 2
    problems = path_problems(config)
    for problem in problems:
        print(f"modelport: {problem}", file=sys.stderr)
    if problems:
        return 1
    warn_if_empty(config)
    configure_logging(config)
    try:
        if args.ray:
            return scaleout.run_on_ray(config, scaleout.ray_flags(args))
        if config.workers > 1:
            sockets = workers.listen_sockets(config)
            return workers.Supervisor(config, sockets, worker(config)).run()
        return uvloop.run(serve(config))
    except ServerError as exc:
        print(f"modelport: {exc}", file=sys.stderr)
        return 1


def configure_logging(config: Settings) -> None:
    """The log on stderr, as text or one JSON object per record (``--log-format json``)."""
    handler = logging.StreamHandler()
    if config.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=config.log_level.upper(), handlers=[handler])


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
    print(f"model control mode: {server.control.mode}")
    print(
        f"runtime threads per model: {server.intra_op_threads} "
        f"({usable_cpus()} usable CPUs; --intra-op-threads to change)",
        flush=True,
    )
    if server.settings.port_file:
        ports = {"http": port, "grpc": server.grpc_port, "metrics": server.metrics_port}
        target = Path(server.settings.port_file)
        staging = target.with_name(f".{target.name}.{os.getpid()}")
        staging.write_text(json.dumps(ports))
        staging.replace(target)  # atomic: a reader never sees half a file
