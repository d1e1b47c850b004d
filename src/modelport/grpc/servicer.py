"""GRPCInferenceService and modelport.v1.Feedback: each method decodes, calls the data plane,
encodes. Nothing else.

Methods run in grpcio's pool threads; inferences, loads and failure counts go to the event
loop through :class:`~modelport.grpc.bridge.LoopBridge`, reads (health, metadata, config,
statistics, the index) are answered in the thread.
"""

from __future__ import annotations

import dataclasses
import functools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from modelport.accesslog import HEADER, AccessLog, AccessRecord, request_id
from modelport.auth import OPEN, AccessPolicy, Pass
from modelport.errors import ErrorCode, ModelportError, as_error
from modelport.grpc.access import action_of, authorization, peer_host, trailers_for
from modelport.grpc.bridge import LoopBridge
from modelport.grpc.errors import GRPC_STATUS
from modelport.protocol import v2_grpc
from modelport.protocol._generated import feedback_pb2 as fb
from modelport.protocol._generated import feedback_pb2_grpc as fb_grpc
from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc
from modelport.tracing import Tracing
from modelport.types import InferRequest, InferResponse

INFERENCE_METHODS = ("ModelInfer", "ModelStreamInfer")
STREAM_CONCURRENCY = 64
"""Requests of one ModelStreamInfer stream in flight at once; reading pauses beyond it."""

Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[[Any, Request, grpc.ServicerContext], Response]


def mapped(method: Handler[Request, Response]) -> Handler[Request, Response]:
    """Turn a ModelportError into its status code; anything else into a logged INTERNAL.
    Every call's answer carries its request id in the trailing metadata."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Request, context: grpc.ServicerContext) -> Response:
        call = Call(method.__name__, request, context, time.perf_counter_ns())
        try:
            admitted = self.admit(method.__name__, request, context)
            call.key = admitted.caller if self.policy.keyring is not None else ""
            try:
                answer = method(self, request, context)
            finally:
                admitted.release()
            self.ended(call, grpc.StatusCode.OK, answer)
            return answer
        except CancelledError:
            self.ended(call, grpc.StatusCode.CANCELLED, None)
            context.abort(grpc.StatusCode.CANCELLED, "the call was cancelled")
        except Exception as exc:
            error = self.told(method.__name__, request, exc)
            status = GRPC_STATUS[error.code]
            self.ended(call, status, None, trailers_for(error), error.code)
            context.abort(status, error.message)
        raise AssertionError("unreachable: abort raises")

    return wrapper


@dataclass(slots=True)
class Call:
    """One unary call, for its request id and access line."""

    method: str
    request: Any
    context: grpc.ServicerContext
    started: int
    key: str = ""


def _record(
    call: Call,
    rid: str,
    status: grpc.StatusCode,
    answer: Any,
    response: InferResponse | None,
    code: ErrorCode | None,
) -> AccessRecord:
    request = call.request
    return AccessRecord(
        rid,
        "grpc",
        call.method,
        status.name,
        (time.perf_counter_ns() - call.started) / 1e6,
        getattr(request, "model_name", "") or getattr(request, "name", ""),
        response.model_version if response else getattr(request, "model_version", ""),
        code.value if code else "",
        request.ByteSize(),
        answer.ByteSize() if answer is not None else 0,
        response.queue_ns / 1e6 if response else 0.0,
        response.compute_ns / 1e6 if response else 0.0,
        peer_host(call.context),
        call.key,
    )


class ServicerBase:
    """What every modelport servicer shares: the access policy, request ids and access lines
    (used by :func:`mapped`)."""

    def __init__(
        self,
        bridge: LoopBridge,
        policy: AccessPolicy | None = None,
        access: AccessLog | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.tracing = tracing
        self.bridge = bridge
        self.dataplane = bridge.dataplane
        self.policy = policy or AccessPolicy()
        self.access = access
        self._calls = threading.local()
        """The current thread's call: ``ModelInfer`` leaves its response there."""

    def ended(
        self,
        call: Call,
        status: grpc.StatusCode,
        answer: Any,
        trailers: tuple[tuple[str, str], ...] = (),
        code: ErrorCode | None = None,
    ) -> None:
        """Send the request id back, and write the access line."""
        response, self._calls.response = getattr(self._calls, "response", None), None
        rid, self._calls.rid = getattr(self._calls, "rid", ""), ""
        if not rid:  # not an inference (which chose its id as it started)
            given = dict(call.context.invocation_metadata()).get(HEADER)
            rid = request_id(str(given) if given else None, getattr(call.request, "id", None))
        call.context.set_trailing_metadata((*trailers, (HEADER, rid)))
        if self.access is not None:
            record = _record(call, rid, status, answer, response, code)
            self.bridge.call_soon(self.access.write, record)

    def admit(self, method: str, request: Any, context: grpc.ServicerContext) -> Pass:
        """The access policy's pass for this call (OPEN when nothing is configured)."""
        if not self.policy.active:
            return OPEN
        action, model = action_of(method, request)
        return self.policy.admit(authorization(context), peer_host(context), action, model)

    def told(self, method: str, request: Any, exc: BaseException) -> ModelportError:
        """What the client is told of a failed call; a failed inference is counted (and
        logged when unexpected) by the data plane."""
        if method in INFERENCE_METHODS:
            return self.dataplane.failed(exc, getattr(request, "model_name", ""))
        return as_error(exc, method)


class InferenceServicer(ServicerBase, pb_grpc.GRPCInferenceServiceServicer):
    """inference.GRPCInferenceService, Triton's and KServe's."""

    @mapped
    def ServerLive(self, request: pb.ServerLiveRequest, context: Any) -> Any:
        return pb.ServerLiveResponse(live=self.dataplane.live())

    @mapped
    def ServerReady(self, request: pb.ServerReadyRequest, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=self.dataplane.ready())

    @mapped
    def ModelReady(self, request: pb.ModelReadyRequest, context: Any) -> Any:
        ready = self.dataplane.model_ready(request.name, request.version)
        return pb.ModelReadyResponse(ready=ready)

    @mapped
    def ServerMetadata(self, request: pb.ServerMetadataRequest, context: Any) -> Any:
        return v2_grpc.server_metadata_response(self.dataplane.server_metadata())

    @mapped
    def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Any) -> Any:
        metadata = self.dataplane.model_metadata(request.name, request.version)
        return v2_grpc.metadata_response(metadata)

    @mapped
    def ModelConfig(self, request: pb.ModelConfigRequest, context: Any) -> Any:
        metadata, config = self.dataplane.model_config(request.name, request.version)
        return v2_grpc.model_config_response(metadata, config)

    @mapped
    def ModelStatistics(self, request: pb.ModelStatisticsRequest, context: Any) -> Any:
        entries = self.dataplane.statistics(request.name, request.version)
        return v2_grpc.statistics_response(entries)

    @mapped
    def RepositoryIndex(self, request: pb.RepositoryIndexRequest, context: Any) -> Any:
        return v2_grpc.index_response(self.dataplane.repository_index(request.ready))

    @mapped
    def RepositoryModelLoad(self, request: Any, context: Any) -> Any:
        parameters = v2_grpc.parameters_of(request.parameters)
        self.bridge.run(self.dataplane.load_model(request.model_name, parameters))
        return pb.RepositoryModelLoadResponse()

    @mapped
    def RepositoryModelUnload(self, request: Any, context: Any) -> Any:
        self.bridge.run(self.dataplane.unload_model(request.model_name))
        return pb.RepositoryModelUnloadResponse()

    @mapped
    def ModelInfer(self, request: pb.ModelInferRequest, context: Any) -> Any:
        decoded = v2_grpc.decode_infer_request(request)
        if self.tracing is None:
            return self._infer(decoded, context)
        metadata = {k: str(v) for k, v in context.invocation_metadata()}
        trace = self.tracing.request("ModelInfer", metadata, decoded.model_name, "grpc")
        status = "OK"
        try:
            return self._infer(dataclasses.replace(decoded, trace=trace), context)
        except ModelportError as exc:
            status = GRPC_STATUS[exc.code].name
            raise
        finally:
            trace.end(status, failed=status not in ("OK", "INVALID_ARGUMENT", "NOT_FOUND"))

    def _infer(self, request: InferRequest, context: Any) -> Any:
        given = dict(context.invocation_metadata()).get(HEADER)
        rid = self._calls.rid = request_id(str(given) if given else None, request.id)
        response = self.dataplane.compute_anywhere(request, rid)  # inline: right here
        if response is None:
            pending = self.bridge.infer(request, rid)
            context.add_callback(pending.cancel)  # the call ended first: drop the work
            response = pending.result()
        self._calls.response = response
        return v2_grpc.encode_infer_response(response)

    def ModelStreamInfer(
        self, requests: Iterator[pb.ModelInferRequest], context: Any
    ) -> Iterator[pb.ModelStreamInferResponse]:
        """Requests of a stream run concurrently; each answer (or error) is matched by id."""
        stream = _Stream(self, context)
        context.add_callback(stream.cancel)
        reader = threading.Thread(
            target=stream.read, args=(requests,), name="modelport-grpc-stream", daemon=True
        )
        reader.start()
        while (answer := stream.answers.get()) is not None:
            yield answer


class _Stream:
    """One ModelStreamInfer call: a reader thread starts each request on the loop, and
    the answers come back through a queue, in the order they finish."""

    def __init__(self, servicer: InferenceServicer, context: grpc.ServicerContext) -> None:
        self._servicer = servicer
        self._context = context
        self.answers: queue.SimpleQueue[pb.ModelStreamInferResponse | None] = queue.SimpleQueue()
        self._slots = threading.BoundedSemaphore(STREAM_CONCURRENCY)
        self._pending: set[Future[InferResponse]] = set()
        self._lock = threading.Lock()

    def read(self, requests: Iterator[pb.ModelInferRequest]) -> None:
        try:
            for request in requests:
                self._slots.acquire()
                self._start(request)
        except grpc.RpcError:
            pass  # the client went away; cancel() drops what is in flight
        finally:
            for _ in range(STREAM_CONCURRENCY):  # wait for every answer to be queued
                self._slots.acquire()
            self.answers.put(None)

    def _start(self, request: pb.ModelInferRequest) -> None:
        """Each request of the stream is admitted by the access policy on its own."""
        admitted = OPEN
        try:
            admitted = self._servicer.admit("ModelStreamInfer", request, self._context)
            pending = self._servicer.bridge.infer(v2_grpc.decode_infer_request(request))
        except Exception as exc:
            admitted.release()
            self._answer(request, exc)
            return
        with self._lock:
            self._pending.add(pending)
        pending.add_done_callback(lambda _: admitted.release())
        pending.add_done_callback(functools.partial(self._finished, request))

    def _finished(self, request: pb.ModelInferRequest, pending: Future[InferResponse]) -> None:
        with self._lock:
            self._pending.discard(pending)
        if pending.cancelled():
            self._slots.release()
            return
        exc = pending.exception()
        self._answer(request, exc if exc is not None else pending.result())

    def _answer(
        self, request: pb.ModelInferRequest, outcome: InferResponse | BaseException
    ) -> None:
        try:
            self.answers.put(self._message(request, outcome))
        finally:
            self._slots.release()

    def _message(
        self, request: pb.ModelInferRequest, outcome: InferResponse | BaseException
    ) -> pb.ModelStreamInferResponse:
        if isinstance(outcome, InferResponse):
            try:
                return pb.ModelStreamInferResponse(
                    infer_response=v2_grpc.encode_infer_response(outcome)
                )
            except Exception as exc:
                outcome = exc
        error = self._servicer.told("ModelStreamInfer", request, outcome)
        return pb.ModelStreamInferResponse(error_message=error.message)

    def cancel(self) -> None:
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.cancel()


class FeedbackServicer(ServicerBase, fb_grpc.FeedbackServicer):
    """modelport.v1.Feedback: labels for an earlier prediction (as ``POST .../feedback``)."""

    @mapped
    def ModelFeedback(self, request: fb.ModelFeedbackRequest, context: Any) -> Any:
        request_id, labels = v2_grpc.decode_feedback(request)
        joined = self.bridge.call(self.dataplane.feedback, request.model_name, request_id, labels)
        return v2_grpc.feedback_response(request_id, joined)
