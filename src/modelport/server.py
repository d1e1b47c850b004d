"""The composition root: builds registry, data plane and HTTP app from ``Settings``.

``Server.start()`` loads the models and starts listening (port 0 picks a free port;
``http_port`` tells which); ``Server.stop()`` drains: readiness turns false, in-flight
requests finish within ``exit_timeout_secs``, then the models are unloaded.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp

from modelport.accesslog import AccessLog
from modelport.auth import AccessPolicy, Limits
from modelport.control import ModelControl
from modelport.cpus import threads_per_process
from modelport.dataplane import DataPlane
from modelport.grpc.server import GrpcServer
from modelport.keys import KeysFile, KeysFileError
from modelport.loading import load_model
from modelport.metrics import Metrics
from modelport.registry import Loader, ModelRegistry
from modelport.residency import DirectLoads, MemoryBudget, Residency
from modelport.rest.app import ConsoleInfo, RestOptions, create_app, metrics_app
from modelport.rest.inference import InferenceRoutes, InferenceService
from modelport.rest.lane import InferenceLane
from modelport.rest.listener import HttpListener
from modelport.runtimes import RuntimeOptions
from modelport.runtimes.onnx_shared import shared_weights_dir
from modelport.settings import Settings
from modelport.tls import Reloader, TlsFiles
from modelport.tracing import Tracing
from modelport.version import __version__

logger = logging.getLogger(__name__)


class ServerError(RuntimeError):
    """The server cannot start as configured."""


@dataclass(frozen=True)
class ListenSockets:
    """Ports bound once by the ``--workers`` supervisor and served by every worker."""

    http: socket.socket
    metrics: socket.socket | None
    grpc_port: int
    grpc_reservation: socket.socket | None = None
    """Bound (not listening) with SO_REUSEPORT, so the gRPC port stays ours."""


class Server:
    def __init__(
        self,
        settings: Settings,
        sockets: ListenSockets | None = None,
        loader: Loader = load_model,
    ) -> None:
        self.settings = settings
        self.sockets = sockets
        shared = str(shared_weights_dir(settings.shared_weights_dir)) if sockets else ""
        self.intra_op_threads = settings.intra_op_threads or threads_per_process(settings.workers)
        """Each model's runtime threads: the flag, else the usable CPUs shared by the workers."""
        options = RuntimeOptions(
            self.intra_op_threads,
            settings.inter_op_threads,
            shared_weights_dir=shared,
            allow_pickle=settings.allow_pickle,
        )
        self.metrics = Metrics()
        self.registry = ModelRegistry(
            options,
            settings.default_max_batch_size,
            settings.exit_timeout_secs,
            self.metrics,
            settings.require_checksums,
            self._residency(settings.model_memory_budget),
            loader,
        )
        self.metrics.watch(self.registry.gauges)
        self.control = ModelControl(settings, self.registry)
        self.policy, self.keys_file = access_policy(settings)
        if self.policy.active:
            self.metrics.watch_keys(self.policy.outcomes)
        self.dataplane = DataPlane(
            self.registry, self.control, __version__, settings.strict_readiness
        )
        self.http_port = 0
        self.grpc_port = 0
        self.metrics_port = 0
        self._grpc: GrpcServer | None = None
        self._http: list[HttpListener] = []
        self._poller: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.tls: Reloader | None = None
        self.access = AccessLog(settings.log_format == "json") if settings.access_log else None
        self.tracing = Tracing.from_environment(os.environ)

    def _residency(self, budget: int) -> Residency:
        """Without a budget every loaded model stays resident; with one, the budget parks
        the least recently used and its figures join ``/metrics``."""
        if not budget:
            return DirectLoads()
        kept = MemoryBudget(budget)
        self.metrics.watch_budget(kept)
        return kept

    async def load_models(self) -> None:
        await self.control.start()

    def default_model(self) -> str:
        names = self.registry.names()
        chosen = self.settings.default_model
        if chosen and chosen not in names:
            raise ServerError(f"--default-model {chosen!r} is not in the repository {names}")
        return chosen or (names[0] if len(names) == 1 else "")

    def build_app(self) -> InferenceRoutes:
        s = self.settings
        options = RestOptions(
            s.max_request_bytes,
            s.max_json_depth,
            self.default_model(),
            s.allow_metrics,
            s.predict_route,
            s.health_route,
            s.deployed_model_id,
            bool(s.multi_model_root),
        )
        console = None
        if s.allow_console:
            console = ConsoleInfo(self._ports, self.control.mode, self.policy.keyring is not None)
        return create_app(
            self.dataplane, options, self.metrics, self.policy, console, self.access, self.tracing
        )

    def _ports(self) -> dict[str, int]:
        return {"http": self.http_port, "grpc": self.grpc_port, "metrics": self.metrics_port}

    async def start(self) -> None:
        await self.load_models()
        s = self.settings
        given = self.sockets
        if s.tls_cert:
            files = TlsFiles(Path(s.tls_cert), Path(s.tls_key), optional_path(s.tls_client_ca))
            try:
                self.tls = Reloader(files)
            except (OSError, ssl.SSLError) as exc:
                raise ServerError(f"cannot use the TLS certificate and key: {exc}") from exc
        warn_if_exposed(s)
        app = self.build_app()
        self.http_port = await self._listen(
            app, s.http_port, given.http if given else None, app.service
        )
        if s.metrics_port >= 0:
            sock = given.metrics if given else None
            metrics = metrics_app(self.metrics, self.policy)
            self.metrics_port = await self._listen(metrics, s.metrics_port, sock)
        # Everything allocated so far (modules, models) lives for the whole process: keep it
        # out of the garbage collector's scans, which otherwise run on the request path.
        gc.freeze()
        if self.settings.allow_grpc:
            credentials = self.tls.grpc_credentials() if self.tls else None
            self._grpc = GrpcServer(
                self.dataplane,
                s.grpc_max_message_bytes,
                s.grpc_max_concurrent_calls,
                self.policy,
                credentials,
                self.access,
                self.tracing,
            )
            port = self.sockets.grpc_port if self.sockets else self.settings.grpc_port
            self.grpc_port = await self._grpc.start(s.host, port, reuse_port=bool(self.sockets))
            if not self.grpc_port:
                raise ServerError(f"cannot listen for gRPC on port {port}")
        if self.control.mode == "poll":
            self._poller = asyncio.create_task(self.control.run_poller())
        if self.keys_file or self.tls:
            self._watcher = asyncio.create_task(self._watch_files())

    async def _watch_files(self) -> None:
        """Keys and certificates take effect without a restart: two stats every interval."""
        while True:
            await asyncio.sleep(FILES_POLL_SECS)
            if self.keys_file:
                self.keys_file.refresh()
            if self.tls:
                self.tls.refresh()

    async def _listen(
        self,
        app: ASGIApp,
        port: int,
        sock: socket.socket | None = None,
        lane: InferenceService | None = None,
    ) -> int:
        """Serve ``app`` on ``port`` (0: a free one) or on an already bound socket, with
        ``lane``'s inference routes served by ``rest/lane.py``; returns the bound port."""
        s = self.settings
        sock = sock or bind(s.host, port)
        listener = HttpListener(
            app,
            InferenceLane(lane) if lane is not None else None,
            s.http_header_timeout_secs,
            s.http_body_timeout_secs,
            self._ssl_context if self.tls else None,
        )
        await listener.start(sock)
        self._http.append(listener)
        return int(sock.getsockname()[1])

    def _ssl_context(self) -> ssl.SSLContext:
        """The one context the reloader updates."""
        assert self.tls is not None
        return self.tls.context

    async def stop(self) -> None:
        """Drain and stop; safe to call more than once."""
        self.dataplane.draining = True
        for task in (self._poller, self._watcher):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._poller = self._watcher = None
        if self._grpc is not None:
            await self._grpc.stop(self.settings.exit_timeout_secs)
            self._grpc = None
        for listener in self._http:
            await listener.stop(self.settings.exit_timeout_secs)
        self._http = []
        if self.access is not None:
            self.access.flush()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)  # exports what is left
        await asyncio.to_thread(self.registry.close)


FILES_POLL_SECS = 2.0
"""How often the keys file and the TLS files are checked for changes."""


def access_policy(settings: Settings) -> tuple[AccessPolicy, KeysFile | None]:
    """The policy every transport asks, with its keys loaded (a bad keys file stops here)."""
    policy = AccessPolicy(
        defaults=Limits(settings.quota_rate, settings.quota_concurrency),
        protect_health=settings.auth_health,
        protect_metrics=settings.auth_metrics,
    )
    if not settings.api_keys:
        return policy, None
    keys_file = KeysFile(Path(settings.api_keys), policy)
    try:
        keys_file.load()
    except KeysFileError as exc:
        raise ServerError(f"--api-keys: {exc}") from exc
    return policy, keys_file


def optional_path(text: str) -> Path | None:
    return Path(text) if text else None


def warn_if_exposed(settings: Settings) -> None:
    """Beyond loopback, say what anyone who reaches the ports can do."""
    if is_loopback(settings.host):
        return
    if not settings.api_keys:
        logger.warning(
            "listening on %s without --api-keys: anyone who reaches these ports can run "
            "inference, read every model's metadata and statistics%s",
            settings.host,
            " and load or unload models" if settings.model_control_mode == "explicit" else "",
        )
    if not settings.tls_cert:
        logger.warning(
            "listening on %s without TLS (--tls-cert/--tls-key): requests, answers and API "
            "keys cross the network in clear",
            settings.host,
        )


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def bind(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port), inheritable by workers."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ServerError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock
