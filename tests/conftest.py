from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx2
import pytest
from starlette.types import ASGIApp

from modelport.examples import digits
from modelport.grpc.server import GrpcServer
from modelport.server import Server
from modelport.settings import Settings
from tests import models


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.build_repository(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="session")
def digits_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digits")
    digits.build(root)
    return root


async def _app(settings: Settings) -> AsyncIterator[ASGIApp]:
    server = Server(settings)
    await server.load_models()
    yield server.build_app()
    await server.stop()


async def _client(app: ASGIApp) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://modelport") as client:
        yield client


def _repository_settings(repository: Path) -> Settings:
    return Settings(model_repositories=(str(repository),), max_request_bytes=1 << 20)


@pytest.fixture(scope="session")
async def repository_app(repository: Path) -> AsyncIterator[ASGIApp]:
    async for app in _app(_repository_settings(repository)):
        yield app


@pytest.fixture(scope="session", params=["asgi", "socket"])
async def repository_target(
    request: pytest.FixtureRequest, repository: Path
) -> AsyncIterator[ASGIApp | str]:
    """The test repository in process (an ASGI app), or served on a real socket (its base
    URL, 127.0.0.1 and a free port), where inference goes through the HTTP lane."""
    settings = _repository_settings(repository)
    if request.param == "asgi":
        async for app in _app(settings):
            yield app
        return
    server = Server(dataclasses.replace(settings, http_port=0, allow_grpc=False))
    await server.start()
    yield f"http://127.0.0.1:{server.http_port}"
    await server.stop()


@pytest.fixture(scope="session")
async def digits_app(digits_repository: Path) -> AsyncIterator[ASGIApp]:
    async for app in _app(Settings(model_repositories=(str(digits_repository),))):
        yield app


@pytest.fixture
async def client(repository_target: ASGIApp | str) -> AsyncIterator[httpx2.AsyncClient]:
    """REST client over the test repository (several models, one broken): in process through
    the ASGI app, and over a real socket through the HTTP lane."""
    if not isinstance(repository_target, str):
        async for c in _client(repository_target):
            yield c
        return
    async with httpx2.AsyncClient(base_url=repository_target, timeout=30) as c:
        yield c


@pytest.fixture
async def digits_client(digits_app: ASGIApp) -> AsyncIterator[httpx2.AsyncClient]:
    """In-process REST client serving only the digits demo model."""
    async for c in _client(digits_app):
        yield c


@pytest.fixture(scope="session")
async def grpc_channel(repository: Path) -> AsyncIterator[grpc.aio.Channel]:
    server = Server(Settings(model_repositories=(str(repository),)))
    await server.load_models()
    grpc_server = GrpcServer(server.dataplane, max_message_bytes=1 << 20)
    port = await grpc_server.start("127.0.0.1", 0)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await grpc_server.stop(1)
    await server.stop()
