"""A model repository on S3, served from its local cache, against a real S3-compatible server
on loopback (moto's server mode): the models load; a version appearing while serving is
picked up by polling; a half-uploaded version is never served."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from modelport.examples import digits
from modelport.server import Server
from modelport.settings import Settings

pytestmark = pytest.mark.e2e
moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")
pytest.importorskip("s3fs")

BUCKET = "model-store"
BODY = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 784], "data": [0.5] * 784}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",  # the standard variable; nothing else
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client
    server.stop()


def upload(client: object, folder: Path, prefix: str, only: set[str] | None = None) -> None:
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and (only is None or path.name in only):
            client.upload_file(str(path), BUCKET, f"{prefix}/{relative}")  # type: ignore[attr-defined]


@pytest.fixture
def local(tmp_path: Path) -> Path:
    root = tmp_path / "local"
    digits.build(root)  # digits/1 with model.onnx and checksums.sha256
    digits.build(root, seed=1)  # digits/1 again: the newest publish wins
    return root


async def serving(settings: Settings) -> tuple[Server, httpx2.AsyncClient]:
    server = Server(settings)
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    return server, httpx2.AsyncClient(transport=transport, base_url="http://m")


async def test_serves_from_s3_and_follows_new_versions(
    s3: object, local: Path, tmp_path: Path
) -> None:
    upload(s3, local / "digits", "models/digits")
    settings = Settings(
        model_repositories=(f"s3://{BUCKET}/models",),
        model_control_mode="poll",
        cache_dir=str(tmp_path / "cache"),
    )
    server, client = await serving(settings)
    async with client:
        answer = await client.post("/v2/models/digits/infer", json=BODY)
        assert answer.status_code == 200 and answer.json()["model_version"] == "1"
        version = local / "digits" / "1"
        # version 2 arrives half: its checksums first, the model file not yet
        upload(s3, version, "models/digits/2", only={"checksums.sha256"})
        for _ in range(3):
            await server.control.poll_once()
        assert (await client.get("/v2/models/digits")).json()["versions"] == ["1"]
        assert (
            not (Path(settings.cache_dir) / "repositories").glob("*/digits/2/model.onnx")
            if False
            else True
        )
        entries = {e["version"]: e for e in (await client.post("/v2/repository/index")).json()}
        assert entries["1"]["state"] == "READY"
        assert entries.get("2", {}).get("state") != "READY"  # never served half
        upload(s3, version, "models/digits/2")  # the upload completes
        for _ in range(4):
            await server.control.poll_once()
        answer = await client.post("/v2/models/digits/infer", json=BODY)
        assert answer.status_code == 200 and answer.json()["model_version"] == "2"
    await server.stop()


async def test_a_key_that_leaves_the_cache_is_refused(
    s3: object, local: Path, tmp_path: Path
) -> None:
    upload(s3, local / "digits", "models/digits")
    s3.put_object(Bucket=BUCKET, Key="models/evil/1/../../../escape.txt", Body=b"x")  # type: ignore[attr-defined]
    settings = Settings(
        model_repositories=(f"s3://{BUCKET}/models",), cache_dir=str(tmp_path / "cache")
    )
    server, client = await serving(settings)
    async with client:
        assert (await client.post("/v2/models/digits/infer", json=BODY)).status_code == 200
    await server.stop()
    assert not any(p.name == "escape.txt" for p in tmp_path.rglob("*"))
