"""The gRPC server's threads hand their work to the event loop, where the data plane lives.

grpcio's thread-pool server runs each call in a pool thread (it serves about twice the
calls per core of ``grpc.aio``). Protobuf decoding and encoding stay in those threads;
every data-plane call that changes state (an inference, a load, a failure count) runs on
the event loop, so statistics, batchers and model swaps keep their one-thread rule. An
inference on a model that runs inline costs one ``call_soon_threadsafe``, no task; any
other is a task, cancelled when its caller goes away.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, InvalidStateError
from typing import Any, TypeVar

from modelport.dataplane import DataPlane
from modelport.types import InferRequest, InferResponse

T = TypeVar("T")


class LoopBridge:
    def __init__(self, dataplane: DataPlane, loop: asyncio.AbstractEventLoop) -> None:
        self.dataplane = dataplane
        self._loop = loop

    def infer(self, request: InferRequest, request_id: str = "") -> Future[InferResponse]:
        """Start an inference on the loop; cancelling the future drops the work."""
        done: Future[InferResponse] = Future()
        self._loop.call_soon_threadsafe(self._start, request, request_id, done)
        return done

    def _start(self, request: InferRequest, request_id: str, done: Future[InferResponse]) -> None:
        if done.done():
            return  # cancelled before the loop got to it
        dataplane = self.dataplane
        try:  # one lookup; the model's runs_now() says whether to compute here
            model = dataplane.model(request.model_name, request.model_version)
            if model.runs_now():
                _settle(done, dataplane.compute_now(model, request, request_id))
                return
        except Exception as exc:
            _settle(done, exc)
            return
        task = self._loop.create_task(dataplane.infer(request, request_id, model))
        task.add_done_callback(functools.partial(_copy, done))
        done.add_done_callback(functools.partial(self._cancel_if_abandoned, task))

    def _cancel_if_abandoned(self, task: asyncio.Task[InferResponse], done: Future[Any]) -> None:
        if done.cancelled():
            self._loop.call_soon_threadsafe(task.cancel)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop and wait for its result (load, unload)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def call(self, function: Callable[..., T], *args: object) -> T:
        """Run ``function(*args)`` on the loop and wait for its result (feedback)."""
        done: Future[T] = Future()

        def settle() -> None:
            try:
                _settle(done, function(*args))
            except Exception as exc:
                _settle(done, exc)

        self._loop.call_soon_threadsafe(settle)
        return done.result()

    def call_soon(self, function: Callable[..., object], *args: object) -> None:
        """Run ``function(*args)`` on the loop (the access log is the loop's)."""
        self._loop.call_soon_threadsafe(function, *args)


def _copy(done: Future[InferResponse], task: asyncio.Task[InferResponse]) -> None:
    if task.cancelled():
        done.cancel()
    elif (exc := task.exception()) is not None:
        _settle(done, exc)
    else:
        _settle(done, task.result())


def _settle(done: Future[T], outcome: T | BaseException) -> None:
    """Set a result or exception, unless the caller has cancelled meanwhile."""
    try:
        if isinstance(outcome, BaseException):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)
    except InvalidStateError:
        pass  # cancelled by the caller's thread between the check and the set
