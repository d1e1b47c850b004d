"""Repositories as a user lays them out: several roots, config files, refusals."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from onnx import TensorProto

from modelport.control import discover
from modelport.server import Server, ServerError
from modelport.settings import Settings
from tests import models


async def serve(*roots: Path, **settings: object) -> tuple[Server, httpx2.AsyncClient]:
    server = Server(Settings(model_repositories=tuple(map(str, roots)), **settings))  # type: ignore[arg-type]
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    return server, httpx2.AsyncClient(transport=transport, base_url="http://modelport")


def identity(root: Path, name: str, version: int = 1) -> Path:
    return models.identity(root / name / str(version) / "model.onnx", TensorProto.FLOAT)


async def test_several_roots_and_a_clash(tmp_path: Path) -> None:
    identity(tmp_path / "a", "one")
    identity(tmp_path / "a", "same")
    identity(tmp_path / "b", "two")
    identity(tmp_path / "b", "same")
    server, client = await serve(tmp_path / "a", tmp_path / "b")
    async with client:
        index = {e["name"]: e for e in (await client.post("/v2/repository/index")).json()}
        assert index["one"]["state"] == index["two"]["state"] == "READY"
        assert index["same"]["state"] == "UNAVAILABLE"
        assert "several repositories" in index["same"]["reason"]
    await server.stop()


async def test_config_renames_limits_batch_and_labels(tmp_path: Path) -> None:
    identity(tmp_path, "dir_name")
    (tmp_path / "dir_name" / "config.yaml").write_text(
        "name: served_name\nmax_batch_size: 2\nlabel_file: labels.txt\n"
    )
    (tmp_path / "dir_name" / "labels.txt").write_text("zero\none\ntwo\n")
    server, client = await serve(tmp_path)
    async with client:
        assert (await client.get("/v2/models/served_name")).status_code == 200
        body = {
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [3, 1], "data": [1, 2, 3]}]
        }
        too_big = await client.post("/v2/models/served_name/infer", json=body)
        assert too_big.status_code == 400
        assert "batch size 3 exceeds the model's max_batch_size 2" in too_big.json()["error"]
        body = {
            "inputs": [
                {"name": "input", "datatype": "FP32", "shape": [1, 3], "data": [0.1, 0.7, 0.2]}
            ],
            "outputs": [{"name": "output", "parameters": {"classification": 1}}],
        }
        top = (await client.post("/v2/models/served_name/infer", json=body)).json()
        assert top["outputs"][0]["data"] == ["0.700000:1:one"]
    await server.stop()


async def test_label_file_outside_the_repository_is_refused(tmp_path: Path) -> None:
    identity(tmp_path / "repo", "m")
    (tmp_path / "secret.txt").write_text("top secret\n")
    (tmp_path / "repo" / "m" / "config.yaml").write_text("label_file: ../../secret.txt\n")
    server, client = await serve(tmp_path / "repo")
    async with client:
        entry = (await client.post("/v2/repository/index")).json()[0]
        assert entry["state"] == "UNAVAILABLE"
        assert "escapes the model repository" in entry["reason"]
    await server.stop()


async def test_unknown_default_model_is_a_startup_error(tmp_path: Path) -> None:
    identity(tmp_path, "m")
    server = Server(Settings(model_repositories=(str(tmp_path),), default_model="other"))
    await server.load_models()
    with pytest.raises(ServerError, match="--default-model 'other' is not in the repository"):
        server.build_app()
    await server.stop()


def test_missing_root_is_reported(tmp_path: Path) -> None:
    found = discover(Settings(model_repositories=(str(tmp_path / "absent"),)))
    assert len(found) == 1 and "is not a directory" in found[0].reason  # type: ignore[union-attr]


async def test_server_start_and_stop_on_port_zero(tmp_path: Path) -> None:
    identity(tmp_path, "m")
    server = Server(Settings(model_repositories=(str(tmp_path),), http_port=0, grpc_port=0))
    await server.start()
    try:
        assert server.http_port > 0
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as client:
            assert (await client.get("/v2/health/ready")).json() == {"ready": True}
    finally:
        await server.stop()
    assert server.dataplane.ready() is False  # draining: readiness turned false at stop
