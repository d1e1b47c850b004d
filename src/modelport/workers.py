"""``--workers N``: one supervisor binds the ports, N forked workers serve them.

The supervisor starts no event loop and loads no model before it forks, so each worker
starts clean. It does import what every worker needs (modelport, the servers and
onnxruntime's module), so those pages are shared instead of imported N times: about 9 MiB
a worker for onnxruntime alone. No other framework is imported early; onnxruntime's import
starts one idle thread of its own, as numpy's OpenBLAS does, and the workers forked after it
serve correctly (tests/e2e/test_workers.py). HTTP (and ``--metrics-port``) sockets are
bound once and inherited; gRPC is served on one port through SO_REUSEPORT (the supervisor
holds the port bound, not listening, so nothing else takes it). Weights are shared through
mapped files (``runtimes/onnx_shared.py``), so N workers do not hold N copies. A worker
that dies is started again after a backoff that doubles, up to ``MAX_BACKOFF_S``; SIGTERM
or SIGINT is passed to every worker, which drains, and the supervisor exits 0 once all have.

Each worker keeps its own loaded models, statistics and metrics: explicit model control
(load/unload reaching one worker) is refused with several workers.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from modelport import runtimes
from modelport.control import discover
from modelport.loading import locate
from modelport.repository.layout import ModelSource
from modelport.runtimes.onnx_shared import shared_copy, shared_weights_dir
from modelport.server import ListenSockets, ServerError, bind
from modelport.settings import Settings

logger = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
HEALTHY_AFTER_S = 60.0
Worker = Callable[[ListenSockets, int], int]
"""Runs one worker (given the sockets and its index) until it stops; returns an exit code."""


def listen_sockets(settings: Settings) -> ListenSockets:
    if settings.model_control_mode == "explicit":
        raise ServerError(
            "explicit model control needs --workers 1: a load or unload would reach one worker"
        )
    http = bind(settings.host, settings.http_port)
    metrics = bind(settings.host, settings.metrics_port) if settings.metrics_port >= 0 else None
    grpc = bind(settings.host, settings.grpc_port, reuse_port=True) if settings.allow_grpc else None
    return ListenSockets(http, metrics, grpc.getsockname()[1] if grpc else 0, grpc)


def prepare_shared_weights(settings: Settings) -> None:
    """The shared copy of every ONNX model the workers will load (failures are left for the
    workers' own loads to report)."""
    cache = shared_weights_dir(settings.shared_weights_dir)
    for item in discover(settings):
        if not isinstance(item, ModelSource):
            continue
        try:
            kind, artifact = locate(item)
            if kind == "onnx":
                shared_copy(artifact, cache)
        except Exception as exc:
            logger.info("shared weights for %s not prepared: %s", item.name, exc)


@dataclass
class _Slot:
    index: int
    started: float = 0.0
    failures: int = 0


@dataclass
class Supervisor:
    settings: Settings
    sockets: ListenSockets
    worker: Worker
    children: dict[int, _Slot] = field(default_factory=dict)
    stopping: bool = False

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self._prepare()
        runtimes.preload("onnx")
        gc.freeze()  # what the workers inherit stays shared: the collector never writes to it
        for index in range(self.settings.workers):
            self._start(_Slot(index))
        while self.children:
            pid, status = os.wait()
            slot = self.children.pop(pid, None)
            if slot is not None and not self.stopping:
                self._restart(slot, os.waitstatus_to_exitcode(status))
        return 0

    def _prepare(self) -> None:
        """Write the shared-weight copies in a short-lived process, so that no worker holds
        the memory a conversion takes, and no two workers convert the same model."""
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                prepare_shared_weights(self.settings)
                code = 0
            finally:
                os._exit(code)
        os.waitpid(pid, 0)

    def _start(self, slot: _Slot) -> None:
        slot.started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 1
            try:
                code = self.worker(self.sockets, slot.index)
            finally:
                os._exit(code)
        self.children[pid] = slot

    def _restart(self, slot: _Slot, code: int) -> None:
        lived = time.monotonic() - slot.started
        slot.failures = 0 if lived > HEALTHY_AFTER_S else slot.failures + 1
        delay = min(2.0 ** (slot.failures - 1), MAX_BACKOFF_S) if slot.failures else 0.0
        logger.error(
            "worker %d exited with %d after %.0f s; restarting in %.0f s",
            slot.index,
            code,
            lived,
            delay,
        )
        time.sleep(delay)
        if not self.stopping:
            self._start(slot)

    def _stop(self, signum: int, _: FrameType | None) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
