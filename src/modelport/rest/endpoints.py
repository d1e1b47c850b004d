"""What every route module shares: the data plane, the limits, body and JSON helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

from modelport.auth import AccessPolicy
from modelport.dataplane import DataPlane
from modelport.protocol import jsonbody, v2_binary
from modelport.rest.body import read_body


@dataclass(frozen=True)
class RestOptions:
    max_request_bytes: int
    max_json_depth: int = 100
    default_model: str = ""
    """The model ``POST /predict`` serves; empty when none could be chosen."""
    metrics: bool = True
    """Serve Prometheus metrics at ``/metrics``."""
    predict_route: str = ""
    """Also answer Vertex AI's predict (``{"instances": [...]}``) at this path."""
    health_route: str = ""
    """Also answer readiness (200, or 503) at this path (Vertex AI's health route)."""
    deployed_model_id: str = ""
    """What Vertex AI's answers carry as ``deployedModelId``."""
    multi_model: bool = False
    """Serve SageMaker's multi-model API (``rest/sagemaker.py``)."""


class Endpoints:
    def __init__(
        self, dataplane: DataPlane, options: RestOptions, policy: AccessPolicy | None = None
    ) -> None:
        self.dataplane = dataplane
        self.options = options
        self.policy = policy or AccessPolicy()
        self.binary_headers = v2_binary.HeaderMemo()
        """JSON headers of the binary extension, decoded once per kind of request."""

    async def body(self, request: Request) -> bytes:
        return await read_body(request.headers, request.receive, self.options.max_request_bytes)

    async def json(self, request: Request) -> object:
        return jsonbody.loads(await self.body(request), self.options.max_json_depth)


async def send_reply(send: Send, status: int, headers: Mapping[str, str], content: bytes) -> None:
    """A whole response as pure ASGI: status, headers (with its length) and body."""
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(content)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


def json_response(value: object, status: int = 200) -> Response:
    return Response(jsonbody.dumps(value), status_code=status, media_type="application/json")
