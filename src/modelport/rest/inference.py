"""The inference routes, served as pure ASGI ahead of the Starlette app (the hot path).

``POST /v2/models/{m}[/versions/{v}]/infer``, ``POST /predict`` and
``POST /models/{m}/predict`` skip Starlette's router, Request and Response objects; every
other request goes to the Starlette app. Bodies, codecs, the data plane, the error table
and the failure metric are the same ones every route uses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from modelport.errors import ErrorCode, ModelNotFound, ModelportError
from modelport.protocol import jsonbody, predict, v2_binary, v2_json
from modelport.rest.body import read_body
from modelport.rest.endpoints import Endpoints
from modelport.rest.errors import HTTP_STATUS
from modelport.types import InferRequest

logger = logging.getLogger(__name__)

Reply = tuple[int, dict[str, str], bytes]
Handler = Callable[[Endpoints, str, str, Mapping[str, str], bytes], Awaitable[Reply]]
JSON = {"content-type": "application/json"}


async def v2_infer(
    ep: Endpoints, name: str, version: str, headers: Mapping[str, str], body: bytes
) -> Reply:
    request = _decode_v2(ep, name, version, headers, body)
    content, out_headers = v2_binary.encode_response(await ep.dataplane.infer(request))
    return 200, out_headers, content


def _decode_v2(
    ep: Endpoints, name: str, version: str, headers: Mapping[str, str], body: bytes
) -> InferRequest:
    length = v2_binary.header_length(headers.get(v2_binary.HEADER), len(body))
    depth = ep.options.max_json_depth
    if length is None:
        return v2_json.decode_request(jsonbody.loads(body, depth), name, version)
    if length == 0:
        metadata = ep.dataplane.decoding_metadata(name, version)
        return v2_binary.decode_raw_request(body, metadata, name, version)
    return v2_binary.decode_request(body, length, name, version, depth)


async def plain_predict(
    ep: Endpoints, name: str, version: str, headers: Mapping[str, str], body: bytes
) -> Reply:
    obj = jsonbody.loads(body, ep.options.max_json_depth)
    decoded, single = predict.decode_request(obj, ep.dataplane.decoding_metadata(name, version))
    response = await ep.dataplane.infer(decoded)
    return 200, JSON, jsonbody.dumps(predict.response_object(response, single))


def match(path: str, default_model: str) -> tuple[Handler, str, str] | None:
    """The handler, model and version for an inference path; None for any other path."""
    match path.split("/")[1:]:
        case ["v2", "models", model, "infer"] if model:
            return v2_infer, model, ""
        case ["v2", "models", model, "versions", version, "infer"] if model and version:
            return v2_infer, model, version
        case ["predict"]:
            return plain_predict, default_model, ""
        case ["models", model, "predict"] if model:
            return plain_predict, model, ""
    return None


class InferenceRoutes:
    def __init__(self, app: ASGIApp, ep: Endpoints) -> None:
        self.app = app
        self.ep = ep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = (
            match(scope["path"], self.ep.options.default_model) if scope["type"] == "http" else None
        )
        if found is None:
            await self.app(scope, receive, send)
            return
        handler, name, version = found
        if scope["method"] != "POST":
            await _send(send, 405, JSON, jsonbody.error_body("method not allowed; use POST"))
            return
        await _send(send, *await self._reply(handler, name, version, scope, receive))

    async def _reply(
        self, handler: Handler, name: str, version: str, scope: Scope, receive: Receive
    ) -> Reply:
        try:
            if not name:
                raise ModelNotFound(
                    "no default model: several models are served; start the server with "
                    "--default-model NAME or POST /models/{name}/predict"
                )
            self.ep.dataplane.require_ready(name, version)
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            body = await read_body(headers, receive, self.ep.options.max_request_bytes)
            return await handler(self.ep, name, version, headers, body)
        except ModelportError as exc:
            return self._failed(name, exc.code, exc.message)
        except Exception:
            logger.exception("unexpected error serving POST %s", scope["path"])
            return self._failed(name, ErrorCode.INTERNAL, "internal server error; see the log")

    def _failed(self, name: str, code: ErrorCode, message: str) -> Reply:
        self.ep.dataplane.count_failure(code, name)
        return HTTP_STATUS[code], JSON, jsonbody.error_body(message)


async def _send(send: Send, status: int, headers: dict[str, str], content: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(content)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})
