"""The plain API: ``POST /predict`` (default model) and ``POST /models/{model}/predict``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelport.errors import ModelNotFound
from modelport.protocol import predict
from modelport.rest.endpoints import Endpoints, json_response


def routes(ep: Endpoints) -> list[BaseRoute]:
    async def default_predict(request: Request) -> Response:
        if not ep.options.default_model:
            raise ModelNotFound(
                "no default model: several models are served; start the server with "
                "--default-model NAME or POST /models/{name}/predict"
            )
        return await _predict(ep, request, ep.options.default_model)

    async def named_predict(request: Request) -> Response:
        return await _predict(ep, request, request.path_params["model"])

    return [
        Route("/predict", default_predict, methods=["POST"]),
        Route("/models/{model}/predict", named_predict, methods=["POST"]),
    ]


async def _predict(ep: Endpoints, request: Request, name: str) -> Response:
    obj = await ep.json(request)
    metadata = ep.dataplane.model_metadata(name)
    decoded, single = predict.decode_request(obj, metadata)
    response = await ep.dataplane.infer(decoded)
    return json_response(predict.response_object(response, single))
