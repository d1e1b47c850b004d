"""SageMaker's multi-model endpoint API (on with ``--multi-model-root``, which SageMaker's
``SAGEMAKER_MULTI_MODEL=true`` sets): SageMaker unpacks each model under ``/opt/ml/models``
and asks the container to load it, list, describe and unload it. Inference reaches a loaded
model at ``POST /models/{name}/invoke`` and at ``/invocations`` with
``X-Amzn-SageMaker-Target-Model`` (``rest/inference.py``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelport.errors import InvalidInput, ModelNotFound, shown
from modelport.rest.endpoints import Endpoints, json_response


def routes(ep: Endpoints) -> list[BaseRoute]:
    if not ep.options.multi_model:
        return []
    api = MultiModelApi(ep)
    return [
        Route("/models", api.load, methods=["POST"]),
        Route("/models", api.listing, methods=["GET"]),
        Route("/models/{model}", api.describe, methods=["GET"]),
        Route("/models/{model}", api.unload, methods=["DELETE"]),
    ]


class MultiModelApi:
    def __init__(self, ep: Endpoints) -> None:
        self.ep = ep
        self.dataplane = ep.dataplane

    async def load(self, request: Request) -> Response:
        body = await self.ep.json(request)
        if not isinstance(body, dict):
            raise InvalidInput('expected {"model_name": ..., "url": ...}')
        name, url = body.get("model_name"), body.get("url")
        if not isinstance(name, str) or not isinstance(url, str):
            raise InvalidInput("'model_name' and 'url' must be strings")
        await self.dataplane.load_from(name, url)
        return json_response({"message": f"model {name} loaded"})

    async def listing(self, _: Request) -> Response:
        models = [{"modelName": n, "modelUrl": u} for n, u in self.dataplane.multi_models()]
        return json_response({"models": models})

    async def describe(self, request: Request) -> Response:
        name = request.path_params["model"]
        urls = dict(self.dataplane.multi_models())
        if name not in urls:
            raise ModelNotFound(f"model {shown(name)} is not loaded")
        return json_response({"modelName": name, "modelUrl": urls[name]})

    async def unload(self, request: Request) -> Response:
        await self.dataplane.unload_multi(request.path_params["model"])
        return json_response({"message": "model unloaded"})
