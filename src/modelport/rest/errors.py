"""ErrorCode → HTTP status, in one table (Triton's mapping, plus 413 and 415)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from modelport.dataplane import DataPlane
from modelport.errors import ModelportError, as_error, shown
from modelport.protocol.jsonbody import error_body
from modelport.protocol.status import HTTP_STATUS


def error_response(status: int, message: str) -> Response:
    return Response(error_body(message), status_code=status, media_type="application/json")


INFERENCE_PATHS = (":predict",)  # the V2 and /predict routes count theirs in rest/inference.py


def _told(request: Request, exc: Exception) -> ModelportError:
    """What the client is told; a failed inference is counted (and logged when unexpected)
    by the data plane."""
    if request.url.path.lower().endswith(INFERENCE_PATHS):
        dataplane: DataPlane = request.app.state.dataplane
        return dataplane.failed(exc, request.path_params.get("model", ""))
    return as_error(exc, f"{request.method} {request.url.path}")


async def modelport_error(request: Request, exc: Exception) -> Response:
    error = _told(request, exc)
    return error_response(HTTP_STATUS[error.code], error.message)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: f"no route for {shown(request.url.path)}", 405: "method not allowed"}.get(
        exc.status_code, str(exc.detail)
    )
    return error_response(exc.status_code, message)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    return await modelport_error(request, exc)


EXCEPTION_HANDLERS = {
    ModelportError: modelport_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
