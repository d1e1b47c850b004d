"""``create_app``: the ASGI application over a ready data plane. No startup logic here."""

from __future__ import annotations

from starlette.applications import Starlette

from modelport.dataplane import DataPlane
from modelport.rest import predict, tfserving, v2
from modelport.rest.endpoints import Endpoints, RestOptions
from modelport.rest.errors import EXCEPTION_HANDLERS

__all__ = ["RestOptions", "create_app"]


def create_app(dataplane: DataPlane, options: RestOptions) -> Starlette:
    endpoints = Endpoints(dataplane, options)
    routes = [*v2.routes(endpoints), *predict.routes(endpoints), *tfserving.routes(endpoints)]
    return Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS)
