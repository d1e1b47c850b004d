"""ErrorCode → HTTP status, in one table (Triton's mapping, plus 413 and 415)."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from modelport.errors import ErrorCode, ModelportError, shown
from modelport.protocol.jsonbody import error_body
from modelport.protocol.status import HTTP_STATUS

logger = logging.getLogger(__name__)


def error_response(status: int, message: str) -> Response:
    return Response(error_body(message), status_code=status, media_type="application/json")


INFERENCE_PATHS = (":predict",)  # the V2 and /predict routes count theirs in rest/inference.py


async def modelport_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelportError)
    count_failure(request, exc.code)
    return error_response(HTTP_STATUS[exc.code], exc.message)


def count_failure(request: Request, code: ErrorCode) -> None:
    if request.url.path.lower().endswith(INFERENCE_PATHS):
        request.app.state.dataplane.count_failure(code, request.path_params.get("model", ""))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: f"no route for {shown(request.url.path)}", 405: "method not allowed"}.get(
        exc.status_code, str(exc.detail)
    )
    return error_response(exc.status_code, message)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error serving %s %s", request.method, request.url.path)
    count_failure(request, ErrorCode.INTERNAL)
    return error_response(500, "internal server error; see the server log")


EXCEPTION_HANDLERS = {
    ModelportError: modelport_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
