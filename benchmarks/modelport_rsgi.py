"""A measurement, not a front end: modelport's inference service behind granian's RSGI.

Run: ``python benchmarks/modelport_rsgi.py REPOSITORY PORT_FILE`` (granian installed).
Issue 17 asked for granian's RSGI to be measured against modelport's own HTTP server before
deciding what the inference path rests on. This serves the inference routes with the same
:class:`~modelport.rest.inference.InferenceService` that ``rest/lane.py`` serves them with
(decode, data plane, encode, request ids, access policy), with granian (Rust, hyper) doing
the HTTP; every other path answers 404. It has none of the server's HTTP limits (body size
while reading, head and body deadlines), which is why it is only measured here
(``http_frontends.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.granian_embed import serve
from modelport.rest.inference import InferenceService
from modelport.server import Server
from modelport.settings import Settings


def handler(service: InferenceService) -> Any:
    async def rsgi(scope: Any, proto: Any) -> None:
        found = service.route(scope.path) if scope.method == "POST" else None
        if found is None:
            proto.response_bytes(404, [], b"")
            return
        client = scope.client.rsplit(":", 1)[0]
        request_headers = dict(scope.headers.items())
        status, headers, content = await service.answer(*found, request_headers, client, proto)
        proto.response_bytes(status, list(headers.items()), content)

    return rsgi


async def main(repository: str, port_file: str) -> None:
    settings = Settings(
        model_repositories=(repository,), http_port=0, allow_grpc=False,
        intra_op_threads=1, inter_op_threads=1, metrics_port=-1,
    )  # fmt: skip
    server = Server(settings)
    await server.load_models()
    await serve(handler(server.build_app().service), "rsgi", port_file)


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], sys.argv[2]))
