"""``checksums.sha256``: a version whose files differ from it is refused, naming the file;
``--require-checksums`` refuses versions without one; what modelport writes carries one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx2
import pytest
from onnx import TensorProto

from modelport.examples import digits
from modelport.repository import checksums
from modelport.server import Server
from modelport.settings import Settings
from tests import models


async def index(settings: Settings) -> dict[str, tuple[str, str]]:
    server = Server(settings)
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://m") as client:
        entries = (await client.post("/v2/repository/index")).json()
    await server.stop()
    return {e["name"]: (e["state"], e["reason"]) for e in entries}


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    for name in ("good", "tampered", "added", "unlisted"):
        models.identity(tmp_path / name / "1" / "model.onnx", TensorProto.FLOAT)
        if name != "unlisted":
            checksums.write(tmp_path / name / "1")
    with (tmp_path / "tampered" / "1" / "model.onnx").open("ab") as handle:
        handle.write(b"\0")  # one byte more
    (tmp_path / "added" / "1" / "model.py").write_text("print('not listed')\n")
    return tmp_path


async def test_a_tampered_file_is_refused_and_named(repository: Path) -> None:
    found = await index(Settings(model_repositories=(str(repository),)))
    assert found["good"] == ("READY", "")
    assert found["tampered"][0] == "UNAVAILABLE"
    assert "model.onnx does not match its checksum" in found["tampered"][1]
    assert found["added"] == ("UNAVAILABLE", "model.py is not listed in checksums.sha256")
    assert found["unlisted"] == ("READY", "")  # no listing: nothing to verify


async def test_require_checksums_refuses_versions_without(repository: Path) -> None:
    settings = Settings(model_repositories=(str(repository),), require_checksums=True)
    found = await index(settings)
    assert found["good"] == ("READY", "")
    assert found["unlisted"] == ("UNAVAILABLE", "version 1 has no checksums.sha256 (required)")


def test_examples_write_a_listing_sha256sum_accepts(tmp_path: Path) -> None:
    digits.build(tmp_path)
    version = tmp_path / "digits" / "1"
    assert checksums.verify(version, tmp_path, required=True)
    check = subprocess.run(
        ["sha256sum", "-c", checksums.FILENAME], cwd=version, capture_output=True, text=True
    )
    assert check.returncode == 0 and "model.onnx: OK" in check.stdout
