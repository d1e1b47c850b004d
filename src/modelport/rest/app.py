"""``create_app``: the ASGI application over a ready data plane. No startup logic here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from modelport.dataplane import DataPlane
from modelport.metrics import Metrics
from modelport.rest import tfserving, v2
from modelport.rest.endpoints import Endpoints, RestOptions
from modelport.rest.errors import EXCEPTION_HANDLERS
from modelport.rest.inference import InferenceRoutes, InferenceService

__all__ = ["RestOptions", "create_app"]


def create_app(dataplane: DataPlane, options: RestOptions, metrics: Metrics) -> InferenceRoutes:
    """The inference routes in front of a Starlette app for the rest; its ``service`` is
    what ``rest/lane.py`` serves the same routes with."""
    endpoints = Endpoints(dataplane, options)
    routes = [*v2.routes(endpoints), *tfserving.routes(endpoints)]
    if options.metrics:
        routes.append(Route("/metrics", metrics_endpoint(metrics), methods=["GET"]))
    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS)
    app.state.dataplane = dataplane
    return InferenceRoutes(app, InferenceService(endpoints))


def metrics_app(metrics: Metrics) -> ASGIApp:
    """Only ``GET /metrics``: for ``--metrics-port`` (Triton serves metrics on 8002)."""
    return Starlette(
        routes=[Route("/metrics", metrics_endpoint(metrics), methods=["GET"])],
        exception_handlers=EXCEPTION_HANDLERS,
    )


def metrics_endpoint(metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return endpoint
