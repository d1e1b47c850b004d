"""The web console: a landing page at ``/``, Swagger UI at ``/docs`` over ``/openapi.json``
(generated from the loaded models), a playground per model and a live view.

The pages are plain HTML, CSS and JavaScript shipped in ``modelport/console/`` (Swagger UI
vendored there, no CDN, no build step); they read the server's own JSON: the V2 routes,
``/console/overview.json`` (version, ports, control mode) and ``/console/live.json`` (each
version's counters, latency histogram, queue depth, every second). Files are served from a
table built at start: no path from a request reaches the filesystem. Pages are public (they
hold no data); what they fetch goes through the access policy with the key the page asks
for. ``--allow-console false`` removes all of it but ``GET /v2/models``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from modelport.auth import Action
from modelport.metrics import ModelGauges
from modelport.protocol import openapi
from modelport.rest.endpoints import Endpoints, json_response
from modelport.types import BATCH_BOUNDS, LATENCY_BOUNDS_NS, ModelMetadata
from modelport.version import __version__

PAGES = {"/": "index.html", "/docs": "docs.html", "/console/live": "live.html"}
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
ASSET_CACHE = "public, max-age=3600"
PAGE_CACHE = "no-cache"


@dataclass(frozen=True)
class ConsoleInfo:
    """What the pages show about the server that the V2 API does not say."""

    ports: Callable[[], dict[str, int]]
    control_mode: str
    keys: bool


def routes(ep: Endpoints, info: ConsoleInfo) -> list[BaseRoute]:
    console = Console(ep, info, _files())
    found: list[BaseRoute] = [
        Route(path, console.page(name), methods=["GET"]) for path, name in PAGES.items()
    ]
    return [
        *found,
        Route("/console/models/{model}", console.page("model.html"), methods=["GET"]),
        Route("/console/assets/{path:path}", console.asset, methods=["GET"]),
        Route("/openapi.json", console.openapi, methods=["GET"]),
        Route("/console/overview.json", console.overview, methods=["GET"]),
        Route("/console/live.json", console.live, methods=["GET"]),
    ]


def _files() -> dict[str, Path]:
    """Every file the console ships, by its path under ``console/``."""
    root = Path(str(resources.files("modelport") / "console"))
    return {
        f.relative_to(root).as_posix(): f
        for f in root.rglob("*")
        if f.is_file() and f.suffix in (".html", *ASSET_TYPES)
    }


class Console:
    def __init__(self, ep: Endpoints, info: ConsoleInfo, files: dict[str, Path]) -> None:
        self.ep = ep
        self.info = info
        self.files = files

    def page(self, name: str) -> Callable[[Request], Response]:
        path = self.files[name]

        def endpoint(_: Request) -> Response:
            return FileResponse(path, media_type="text/html", headers={"cache-control": PAGE_CACHE})

        return endpoint

    def asset(self, request: Request) -> Response:
        path = self.files.get("assets/" + request.path_params["path"])
        if path is None:
            return json_response({"error": "no such console file"}, 404)
        media = ASSET_TYPES[path.suffix]
        return FileResponse(path, media_type=media, headers={"cache-control": ASSET_CACHE})

    def openapi(self, _: Request) -> Response:
        models = [row.metadata for row in self.ep.dataplane.catalog(ready_only=True)]
        ready = [m for m in models if m is not None]
        return json_response(openapi.document(_newest(ready), __version__))

    def overview(self, request: Request) -> Response:
        return json_response(
            {
                "version": __version__,
                "ports": self.info.ports(),
                "model_control_mode": self.info.control_mode,
                "keys": self.info.keys,
                "metrics": self.ep.options.metrics,
                "default_model": self.ep.options.default_model,
                "admin": self._administered(request.headers.get("authorization")),
            }
        )

    def _administered(self, authorization: str | None) -> list[str]:
        """The models this caller may load and unload (none unless control is explicit)."""
        if self.info.control_mode != "explicit":
            return []
        names = sorted({row.entry.name for row in self.ep.dataplane.catalog()})
        policy = self.ep.policy
        return [name for name in names if policy.permits(authorization, Action.ADMIN, name)]

    def live(self, _: Request) -> Response:
        rows = [_live_row(g) for g in self.ep.dataplane.gauges() if g.stats is not None]
        bounds = {
            "latency_ms": [ns / 1e6 for ns in LATENCY_BOUNDS_NS],
            "batch_size": list(BATCH_BOUNDS),
        }
        return json_response({"bounds": bounds, "models": rows})


def _newest(models: list[ModelMetadata]) -> list[ModelMetadata]:
    """One entry per model name (the index lists every ready version)."""
    return list({m.name: m for m in models}.values())


def _live_row(g: ModelGauges) -> dict[str, object]:
    s = g.stats
    assert s is not None
    return {
        "model": g.model,
        "version": g.version,
        "success": s.success.count,
        "fail": s.fail.count,
        "inferences": s.inference_count,
        "executions": s.execution_count,
        "latency_buckets": list(s.success.buckets),
        "batch_buckets": list(s.batch_sizes),
        "queue_depth": g.queue_depth,
        "inflight": g.inflight,
        "quality": dict(g.live or {}),
        "drift": {tensor: dict(figures) for tensor, figures in (g.drift or {}).items()},
    }
