"""KServe's argument conventions: ``--model_name``, ``--http_port``, ``--grpc_port``, and the
model in /mnt/models served under the InferenceService's name."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx2

from modelport.cli import parser
from modelport.cli.serve import settings
from modelport.examples import digits
from modelport.server import Server


async def test_kserve_arguments_name_the_model(tmp_path: Path) -> None:
    digits.build(tmp_path / "repo")
    mnt = tmp_path / "mnt-models"  # what the storage initializer leaves: the model's files
    mnt.mkdir()
    shutil.copy(tmp_path / "repo" / "digits" / "1" / "model.onnx", mnt / "model.onnx")
    argv = ["serve", str(mnt), "--model_name=mnist", "--http_port=8080", "--grpc_port=8081"]
    config = settings(parser().parse_args(argv), env={})
    assert (config.http_port, config.grpc_port, config.model_name) == (8080, 8081, "mnist")
    server = Server(config)
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://m") as client:
        answer = await client.get("/v2/models/mnist")
        assert answer.status_code == 200 and answer.json()["name"] == "mnist"
    await server.stop()
