"""The inference routes (the hot path): ``POST /v2/models/{m}[/versions/{v}]/infer``,
``POST /predict`` and ``POST /models/{m}/predict``.

Two ways in, one way through. ``rest/lane.py`` serves these routes straight from the HTTP
parser's callbacks; :class:`InferenceRoutes` serves them as pure ASGI, ahead of the
Starlette app, when the lane cannot (a request pipelined behind unfinished work). Both
call :class:`InferenceService`: :meth:`~InferenceService.check` before the body is read,
:meth:`~InferenceService.respond` once it is, with the transport's way to send a reply and
to start a task: the service decides (from the model's execution strategy) whether the
reply is sent at once or from a task; the transports never branch on it. Bodies, codecs,
the data plane, the error table and the failure metric are the same ones every route uses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

from starlette.types import ASGIApp, Receive, Scope, Send

from modelport.accesslog import HEADER, AccessLog, AccessRecord, request_id
from modelport.auth import OPEN, Action, Pass
from modelport.errors import ModelNotFound, ModelportError
from modelport.model import LoadedModel
from modelport.protocol import cloud, jsonbody, predict, tfserving, v2_binary, v2_json
from modelport.protocol.status import CODE_OF_HTTP, HTTP_STATUS
from modelport.rest.access import client_of, refusal
from modelport.rest.body import check_head, decompress, read_raw
from modelport.rest.endpoints import Endpoints, send_reply
from modelport.tracing import RequestTrace, Tracing
from modelport.types import InferRequest, InferResponse, ModelIndexEntry, ModelMetadata

Reply = tuple[int, Mapping[str, str], bytes]
Answer = Callable[[Reply], None]
"""Sends a request's reply (the transport's)."""
Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]
"""Starts a task for a reply that must be awaited (the transport's, so it can cancel it)."""
Headers = Mapping[str, str]
JSON = {"content-type": "application/json"}


def _record(
    exchange: Exchange, rid: str, status: int, bytes_in: int, bytes_out: int
) -> AccessRecord:
    response = exchange.response
    code = CODE_OF_HTTP.get(status) if status >= 400 else None
    return AccessRecord(
        rid,
        "http",
        exchange.route.path,
        status,
        (time.perf_counter_ns() - exchange.started) / 1e6,
        exchange.name,
        response.model_version if response else exchange.version,
        code.value if code else "",
        bytes_in,
        bytes_out,
        response.queue_ns / 1e6 if response else 0.0,
        response.compute_ns / 1e6 if response else 0.0,
        exchange.client,
        exchange.key,
    )


def no_default_model(index: list[ModelIndexEntry], most: int = 10) -> str:
    """Why ``POST /predict`` has no model, naming the models and both ways out."""
    states = {entry.name: entry.state for entry in index}
    listed = ", ".join(f"{name} ({state})" for name, state in list(states.items())[:most])
    more = f" and {len(states) - most} more" if len(states) > most else ""
    example = next((n for n, state in states.items() if state == "READY"), "NAME")
    return (
        f"POST /predict has no default model: {len(states)} models are served: {listed}{more}; "
        f"name one in the path (POST /models/{example}/predict) or start the server with "
        "--default-model NAME"
    )


class Route(NamedTuple):
    """How one kind of inference body becomes a request, and its response a reply; the
    decoder's second value is handed to the encoder (``/predict`` remembers the shape)."""

    decode: Callable[[Endpoints, str, str, ModelMetadata, Headers, bytes], tuple[InferRequest, Any]]
    encode: Callable[[InferResponse, Any], Reply]
    path: str
    """The route as the access log names it."""


def _decode_v2(
    ep: Endpoints, name: str, version: str, metadata: ModelMetadata, headers: Headers, body: bytes
) -> tuple[InferRequest, None]:
    length = v2_binary.header_length(headers.get(v2_binary.HEADER), len(body))
    depth = ep.options.max_json_depth
    if length is None:
        return v2_json.decode_request(jsonbody.loads(body, depth), name, version), None
    if length == 0:
        return v2_binary.decode_raw_request(body, metadata, name, version), None
    return ep.binary_headers.decode(body, length, name, version, depth), None


def _encode_v2(response: InferResponse, _: None) -> Reply:
    content, headers = v2_binary.encode_response(response)
    return 200, headers, content


def _decode_predict(
    ep: Endpoints, name: str, version: str, metadata: ModelMetadata, headers: Headers, body: bytes
) -> tuple[InferRequest, bool]:
    obj = jsonbody.loads(body, ep.options.max_json_depth)
    return predict.decode_request(obj, metadata)


def _encode_predict(response: InferResponse, single: bool) -> Reply:
    return 200, JSON, jsonbody.dumps(predict.response_object(response, single))


def _decode_invocation(
    ep: Endpoints, name: str, version: str, metadata: ModelMetadata, headers: Headers, body: bytes
) -> tuple[InferRequest, tuple[cloud.Kind, bool]]:
    """SageMaker's /invocations and Azure ML's /score: any body modelport speaks, answered
    in the same protocol."""
    if v2_binary.HEADER in headers:
        return _decode_v2(ep, name, version, metadata, headers, body)[0], ("v2", False)
    obj = jsonbody.loads(body, ep.options.max_json_depth)
    kind = cloud.body_kind(obj)
    if kind == "v2":
        return v2_json.decode_request(obj, name, version), (kind, False)
    if kind == "tfserving":
        request, row = tfserving.decode_predict(obj, metadata, version)
        return request, (kind, row)
    request, single = predict.decode_request(cloud.as_plain(obj), metadata)
    return request, (kind, single)


def _encode_invocation(response: InferResponse, context: tuple[cloud.Kind, bool]) -> Reply:
    kind, flag = context
    if kind == "v2":
        return _encode_v2(response, None)
    if kind == "tfserving":
        return 200, JSON, jsonbody.dumps(tfserving.encode_predict(response, flag))
    return _encode_predict(response, flag)


def _decode_vertex(
    ep: Endpoints, name: str, version: str, metadata: ModelMetadata, headers: Headers, body: bytes
) -> tuple[InferRequest, str]:
    obj = jsonbody.loads(body, ep.options.max_json_depth)
    return cloud.decode_vertex(obj, metadata, version), ep.options.deployed_model_id


def _encode_vertex(response: InferResponse, deployed_model_id: str) -> Reply:
    return 200, JSON, jsonbody.dumps(cloud.encode_vertex(response, deployed_model_id))


V2_INFER = Route(_decode_v2, _encode_v2, "/v2/models/{model}/infer")
PLAIN_PREDICT = Route(_decode_predict, _encode_predict, "/predict")
INVOCATIONS = Route(_decode_invocation, _encode_invocation, "/invocations")
VERTEX_PREDICT = Route(_decode_vertex, _encode_vertex, "vertex predict")


def match(path: str, default_model: str) -> tuple[Route, str, str] | None:
    """The route, model and version for an inference path; None for any other path."""
    match path.split("/")[1:]:
        case ["v2", "models", model, "infer"] if model:
            return V2_INFER, model, ""
        case ["v2", "models", model, "versions", version, "infer"] if model and version:
            return V2_INFER, model, version
        case ["predict"]:
            return PLAIN_PREDICT, default_model, ""
        case ["models", model, "predict"] if model:
            return PLAIN_PREDICT, model, ""
        case ["invocations"] | ["score"]:
            return INVOCATIONS, default_model, ""
        case ["models", model, "invoke"] if model:
            return INVOCATIONS, model, ""
    return None


@dataclass(slots=True)
class Exchange:
    """One inference request on its way through: what its reply's ``x-request-id`` and its
    access line need."""

    route: Route
    name: str
    version: str
    headers: Headers
    client: str
    started: int
    key: str = ""
    response: InferResponse | None = None
    trace: RequestTrace | None = None
    request_id: str = ""


class InferenceService:
    """Checks and answers inference requests; every failure becomes an error reply."""

    def __init__(
        self, ep: Endpoints, access: AccessLog | None = None, tracing: Tracing | None = None
    ) -> None:
        self.ep = ep
        self.limit = ep.options.max_request_bytes
        self.access = access
        self.tracing = tracing

    def open(
        self, route: Route, name: str, version: str, headers: Headers, client: str
    ) -> tuple[Exchange, Pass, Reply | None]:
        """A request's exchange, the access policy's pass, and its refusal (when it is
        refused before its body is read)."""
        name = self.target(route, name, headers)
        admitted, refused = self.screen(name, version, headers, client)
        exchange = Exchange(route, name, version, headers, client, time.perf_counter_ns())
        if self.ep.policy.keyring is not None:
            exchange.key = admitted.caller
        if self.tracing is not None:
            exchange.trace = self.tracing.request(route.path, headers, exchange.name, "http")
        return exchange, admitted, refused

    def close(self, exchange: Exchange, reply: Reply, bytes_in: int) -> Reply:
        """The reply as it is sent: with its request id; the access line written."""
        status, headers, content = reply
        rid = exchange.request_id or request_id(exchange.headers.get(HEADER))
        if self.access is not None:
            self.access.write(_record(exchange, rid, status, bytes_in, len(content)))
        if exchange.trace is not None:
            exchange.trace.end(status, failed=status >= 500)
        return status, {**headers, HEADER: rid}, content

    def route(self, path: str) -> tuple[Route, str, str] | None:
        options = self.ep.options
        if options.predict_route and path == options.predict_route:
            return VERTEX_PREDICT, options.default_model, ""
        return match(path, options.default_model)

    def target(self, route: Route, name: str, headers: Headers) -> str:
        """The model a request is for: SageMaker's multi-model header names it on
        /invocations; every other route says it in its path."""
        if route is INVOCATIONS:
            return cloud.target_model(headers.get(cloud.MME_HEADER), name)
        return name

    def screen(
        self, name: str, version: str, headers: Headers, client: str
    ) -> tuple[Pass, Reply | None]:
        """Everything decided before the body is read: the access policy's pass, and the
        reply when the request is refused (then the pass is already released)."""
        admitted = self.admit(name, headers, client)
        if isinstance(admitted, tuple):
            return OPEN, admitted
        refused = self.check(name, version, headers)
        if refused is not None:
            admitted.release()
            return OPEN, refused
        return admitted, None

    def admit(self, name: str, headers: Headers, client: str) -> Pass | Reply:
        """The request's pass from the access policy, or the refusal (401, 403, 429) to
        answer, before anything about the model is looked up."""
        policy = self.ep.policy
        if not policy.active:
            return OPEN
        try:
            return policy.admit(headers.get("authorization"), client, Action.INFER, name)
        except ModelportError as exc:
            return refusal(self.ep.dataplane.failed(exc, name))

    def check(self, name: str, version: str, headers: Headers) -> Reply | None:
        """The error reply for a request refused before its body is read (unknown or
        unready model, refused content type, declared size over the limit), else None."""
        try:
            if not name:
                raise ModelNotFound(no_default_model(self.ep.dataplane.repository_index()))
            self.ep.dataplane.require_ready(name, version)
            check_head(headers, self.limit)
        except ModelportError as exc:
            return self.error(name, exc)
        return None

    def respond(
        self, exchange: Exchange, body: bytes, answer: Answer, spawn: Spawn
    ) -> asyncio.Task[None] | None:
        """Answer a request whose body has been read, through ``answer``: at once when its
        model runs now (inline, or a lone request to an inline batched model), else from a
        task started with ``spawn`` and returned (the transport cancels it when its client
        goes away; the batcher then drops the request). Every failure is answered too."""
        try:
            model, request, context = self._decoded(exchange, body)
            if model.runs_now():
                response = self.ep.dataplane.compute_now(model, request, exchange.request_id)
                exchange.response = response
                reply = exchange.route.encode(response, context)
            else:
                return spawn(self._later(exchange, request, context, model, answer))
        except Exception as exc:
            reply = self.error(exchange.name, exc)
        answer(reply)
        return None

    def _decoded(self, exchange: Exchange, body: bytes) -> tuple[LoadedModel, InferRequest, Any]:
        """The model (the one lookup after the body), the decoded request, and what its
        route's encoder needs."""
        route, name, headers = exchange.route, exchange.name, exchange.headers
        body = decompress(body, headers, self.limit)
        model = self.ep.dataplane.model(name, exchange.version)
        version = exchange.version
        request, context = route.decode(self.ep, name, version, model.metadata, headers, body)
        if exchange.trace is not None:
            request = dataclasses.replace(request, trace=exchange.trace)
        exchange.request_id = request_id(headers.get(HEADER), request.id)
        return model, request, context

    async def _later(
        self,
        exchange: Exchange,
        request: InferRequest,
        context: Any,
        model: LoadedModel,
        answer: Answer,
    ) -> None:
        try:
            infer = self.ep.dataplane.infer(request, exchange.request_id, model)
            response = exchange.response = await infer
            reply = exchange.route.encode(response, context)
        except Exception as exc:
            reply = self.error(request.model_name, exc)
        answer(reply)

    async def answer(
        self,
        route: Route,
        name: str,
        version: str,
        headers: Headers,
        client: str,
        read: Callable[[], Awaitable[bytes]],
    ) -> Reply:
        """The whole request as one coroutine, for a transport that awaits its body
        (``read``) and sends the reply itself: checked, answered, closed."""
        exchange, admitted, refused = self.open(route, name, version, headers, client)
        if refused is not None:
            return self.close(exchange, refused, 0)
        body = b""
        answered: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        later = None
        try:
            body = await read()
            later = self.respond(exchange, body, answered.set_result, asyncio.ensure_future)
            return self.close(exchange, await answered, len(body))
        except ModelportError as exc:
            return self.close(exchange, self.error(exchange.name, exc), len(body))
        finally:
            if later is not None:
                later.cancel()  # this request was cancelled: drop its work (a no-op once done)
            admitted.release()

    def error(self, name: str, exc: Exception) -> Reply:
        """The error reply for a failed request (counted, and logged when unexpected, by
        the data plane)."""
        error = self.ep.dataplane.failed(exc, name)
        return HTTP_STATUS[error.code], JSON, jsonbody.error_body(error.message)


class InferenceRoutes:
    """The inference routes as pure ASGI in front of ``app`` (every other request)."""

    def __init__(self, app: ASGIApp, service: InferenceService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.service.route(scope["path"]) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await send_reply(send, 405, JSON, jsonbody.error_body("method not allowed; use POST"))
            return
        await send_reply(send, *await self._reply(*found, scope, receive))

    async def _reply(
        self, route: Route, name: str, version: str, scope: Scope, receive: Receive
    ) -> Reply:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        read = partial(read_raw, receive, self.service.limit)
        return await self.service.answer(route, name, version, headers, client_of(scope), read)
