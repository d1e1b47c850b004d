"""Open Inference Protocol V2 over REST: health, metadata, infer, repository index."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelport.errors import InvalidInput
from modelport.protocol import jsonbody, v2_extensions, v2_json
from modelport.rest.endpoints import Endpoints, json_response

MODEL = "/v2/models/{model}"
VERSIONED = "/v2/models/{model}/versions/{version}"


def routes(ep: Endpoints) -> list[BaseRoute]:
    v2 = V2Routes(ep)
    # POST .../infer is served by rest/inference.py before requests reach these routes.
    found: list[BaseRoute] = [
        Route("/v2/health/live", v2.live, methods=["GET"]),
        Route("/v2/health/ready", v2.ready, methods=["GET"]),
        Route("/v2", v2.server_metadata, methods=["GET"]),
        Route("/v2/repository/index", v2.repository_index, methods=["POST"]),
        Route("/v2/repository/models/{model}/load", v2.load, methods=["POST"]),
        Route("/v2/repository/models/{model}/unload", v2.unload, methods=["POST"]),
        Route("/v2/models/stats", v2.statistics, methods=["GET"]),
        Route("/v2/models", v2.catalog, methods=["GET"]),
        Route("/ping", v2.ping, methods=["GET"]),  # SageMaker's health check
    ]
    if ep.options.health_route:  # Vertex AI's (AIP_HEALTH_ROUTE), or any other probe's
        found.append(Route(ep.options.health_route, v2.ping, methods=["GET"]))
    for prefix in (MODEL, VERSIONED):
        found += [
            Route(prefix, v2.model_metadata, methods=["GET"]),
            Route(prefix + "/ready", v2.model_ready, methods=["GET"]),
            Route(prefix + "/config", v2.model_config, methods=["GET"]),
            Route(prefix + "/stats", v2.statistics, methods=["GET"]),
        ]
    found.append(Route(MODEL + "/feedback", v2.feedback, methods=["POST"]))
    return found


def _target(request: Request) -> tuple[str, str]:
    params = request.path_params
    return params["model"], params.get("version", "")


class V2Routes:
    def __init__(self, ep: Endpoints) -> None:
        self.ep = ep
        self.dataplane = ep.dataplane

    async def live(self, _: Request) -> Response:
        live = self.dataplane.live()
        return json_response({"live": live}, 200 if live else 400)

    async def ready(self, _: Request) -> Response:
        ready = self.dataplane.ready()
        return json_response({"ready": ready}, 200 if ready else 400)

    async def ping(self, _: Request) -> Response:
        """Readiness as the clouds' probes read it: 200 when ready, else 503."""
        ready = self.dataplane.ready()
        return json_response({"status": "ready" if ready else "not ready"}, 200 if ready else 503)

    async def server_metadata(self, _: Request) -> Response:
        meta = self.dataplane.server_metadata()
        return json_response(
            {"name": meta.name, "version": meta.version, "extensions": list(meta.extensions)}
        )

    async def feedback(self, request: Request) -> Response:
        """Labels for an earlier prediction, by its request id (modelport's extension)."""
        request_id, labels = v2_json.decode_feedback(await self.ep.json(request))
        joined = self.dataplane.feedback(request.path_params["model"], request_id, labels)
        return json_response({"id": request_id, "joined": joined})

    async def catalog(self, request: Request) -> Response:
        """Every model version with its state and signature; ``?ready=true``: ready ones."""
        ready = request.query_params.get("ready", "false").lower() in ("1", "true")
        rows = self.dataplane.catalog(ready)
        return json_response([v2_json.catalog_row(r.entry, r.metadata, r.config) for r in rows])

    async def model_metadata(self, request: Request) -> Response:
        metadata = self.dataplane.model_metadata(*_target(request))
        return json_response(v2_json.metadata_object(metadata))

    async def model_ready(self, request: Request) -> Response:
        name, version = _target(request)
        ready = self.dataplane.model_ready(name, version)
        return json_response({"name": name, "ready": ready}, 200 if ready else 400)

    async def repository_index(self, request: Request) -> Response:
        body = await self.ep.body(request)
        options = jsonbody.loads(body, self.ep.options.max_json_depth) if body.strip() else {}
        if not isinstance(options, dict) or not isinstance(options.get("ready", False), bool):
            raise InvalidInput('repository index body must be {"ready": true|false} or empty')
        entries = self.dataplane.repository_index(options.get("ready", False))
        return json_response(v2_json.index_object(entries))

    async def model_config(self, request: Request) -> Response:
        metadata, config = self.dataplane.model_config(*_target(request))
        return json_response(v2_extensions.model_config_object(metadata, config))

    async def statistics(self, request: Request) -> Response:
        name = request.path_params.get("model", "")
        entries = self.dataplane.statistics(name, request.path_params.get("version", ""))
        return json_response(v2_extensions.statistics_object(entries))

    async def load(self, request: Request) -> Response:
        parameters = await self._repository_parameters(request)
        await self.dataplane.load_model(request.path_params["model"], parameters)
        return json_response({})

    async def unload(self, request: Request) -> Response:
        await self._repository_parameters(request)
        await self.dataplane.unload_model(request.path_params["model"])
        return json_response({})

    async def _repository_parameters(self, request: Request) -> dict[str, object]:
        body = await self.ep.body(request)
        obj = jsonbody.loads(body, self.ep.options.max_json_depth) if body.strip() else {}
        if not isinstance(obj, dict):
            raise InvalidInput("repository request body must be a JSON object")
        return dict(v2_json.parameters_of(obj.get("parameters"), "repository request"))
