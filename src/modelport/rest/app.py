"""``create_app``: the ASGI application over a ready data plane. No startup logic here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from modelport.accesslog import AccessLog
from modelport.auth import AccessPolicy
from modelport.dataplane import DataPlane
from modelport.metrics import Metrics
from modelport.rest import console as web_console
from modelport.rest import sagemaker, tfserving, v2
from modelport.rest.access import AccessGuard
from modelport.rest.console import ConsoleInfo
from modelport.rest.endpoints import Endpoints, RestOptions
from modelport.rest.errors import EXCEPTION_HANDLERS
from modelport.rest.inference import InferenceRoutes, InferenceService
from modelport.rest.requestid import RequestIds
from modelport.tracing import Tracing

__all__ = ["ConsoleInfo", "RestOptions", "create_app"]


def create_app(
    dataplane: DataPlane,
    options: RestOptions,
    metrics: Metrics,
    policy: AccessPolicy | None = None,
    console: ConsoleInfo | None = None,
    access: AccessLog | None = None,
    tracing: Tracing | None = None,
) -> InferenceRoutes:
    """The inference routes in front of a Starlette app for the rest (behind the access
    guard); its ``service`` is what ``rest/lane.py`` serves the same routes with."""
    policy = policy or AccessPolicy()
    endpoints = Endpoints(dataplane, options, policy)
    routes = [*v2.routes(endpoints), *tfserving.routes(endpoints), *sagemaker.routes(endpoints)]
    if options.metrics:
        routes.append(Route("/metrics", metrics_endpoint(metrics), methods=["GET"]))
    if console is not None:
        routes += web_console.routes(endpoints, console)
    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS)
    app.state.dataplane = dataplane
    health = (options.health_route,) if options.health_route else ()
    guarded = AccessGuard(app, policy, options.default_model, health)
    return InferenceRoutes(
        RequestIds(guarded, access), InferenceService(endpoints, access, tracing)
    )


def metrics_app(metrics: Metrics, policy: AccessPolicy | None = None) -> ASGIApp:
    """Only ``GET /metrics``: for ``--metrics-port`` (Triton serves metrics on 8002)."""
    app = Starlette(
        routes=[Route("/metrics", metrics_endpoint(metrics), methods=["GET"])],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    return AccessGuard(app, policy or AccessPolicy())


def metrics_endpoint(metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return endpoint
