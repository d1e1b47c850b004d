"""TensorFlow Serving's REST API on the same port: ``/v1/models/{m}[/versions/{n}|/labels/{l}]``
with ``/metadata``, ``:predict``, and the status. URL matching is case-insensitive, as in
TF Serving; errors are ``{"error": ...}``."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelport.errors import InvalidInput, ModelNotFound, Unsupported, clipped, shown
from modelport.protocol import jsonbody, tfserving
from modelport.rest.endpoints import Endpoints, json_response
from modelport.rest.requestid import SCOPE_KEY

PATH = re.compile(
    r"^(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<action>/metadata|:predict|:classify|:regress)?$",
    re.IGNORECASE,
)


def routes(ep: Endpoints) -> list[BaseRoute]:
    tfs = TfServingRoutes(ep)
    return [
        Route("/v1/models", tfs.missing_name, methods=["GET", "POST"]),
        Route("/v1/models/{rest:path}", tfs.dispatch, methods=["GET", "POST"]),
    ]


class TfServingRoutes:
    def __init__(self, ep: Endpoints) -> None:
        self.ep = ep
        self.dataplane = ep.dataplane

    async def missing_name(self, _: Request) -> Response:
        raise InvalidInput("Missing model name in request")

    async def dispatch(self, request: Request) -> Response:
        match = PATH.match(request.path_params["rest"])
        if match is None:
            raise ModelNotFound(f"malformed TF Serving URL {shown(request.url.path)}")
        name, action = match["name"], (match["action"] or "").lower()
        version = self._version(name, match["version"], match["label"])
        wanted = "POST" if action.startswith(":") else "GET"
        if request.method != wanted:
            raise InvalidInput(f"{request.method} is not supported here; use {wanted}")
        if action in (":classify", ":regress"):
            raise Unsupported(f"{action[1:]} is not supported by modelport; use :predict")
        if action == ":predict":
            return await self.predict(request, name, version)
        if action == "/metadata":
            metadata = self.dataplane.model_metadata(name, version)
            return json_response(
                tfserving.metadata_object(metadata, version or metadata.versions[-1])
            )
        return self.status(name, version)

    def _version(self, name: str, version: str | None, label: str | None) -> str:
        if label is None:
            return version or ""
        if not re.fullmatch(r"[A-Za-z0-9_]+", label):
            raise InvalidInput(f"invalid version label {shown(label)}")
        _, config = self.dataplane.model_config(name)
        if label not in config.version_labels:
            raise ModelNotFound(f"Unrecognized servable version label: {clipped(label)}")
        return str(config.version_labels[label])

    def status(self, name: str, version: str) -> Response:
        entries = [e for e in self.dataplane.repository_index() if e.name == name]
        if version:
            entries = [e for e in entries if e.version == version]
        if not entries:
            suffix = f" version {clipped(version)}" if version else ""
            raise ModelNotFound(f"Could not find any versions of model {clipped(name)}{suffix}")
        return json_response(tfserving.status_object(entries))

    async def predict(self, request: Request, name: str, version: str) -> Response:
        self.dataplane.require_ready(name, version)
        body = await self.ep.body(request)
        obj = jsonbody.loads_lenient(body, self.ep.options.max_json_depth)
        metadata = self.dataplane.decoding_metadata(name, version)
        decoded, row = tfserving.decode_predict(obj, metadata, version)
        response = await self.dataplane.infer(decoded, request.scope.get(SCOPE_KEY, ""))
        return json_response(tfserving.encode_predict(response, row))
