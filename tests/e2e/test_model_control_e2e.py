"""Explicit model control through NVIDIA's clients, and poll mode on a real process."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningServer, serve_args, start_server

pytestmark = pytest.mark.e2e
httpclient = pytest.importorskip("tritonclient.http")

GRPC_LOAD = """
import sys, tritonclient.grpc as g
c = g.InferenceServerClient(sys.argv[1])
c.unload_model("digits"); print(c.is_model_ready("digits"))
c.load_model("digits"); print(c.is_model_ready("digits"))
"""


@pytest.fixture
def explicit_server(digits_repository: Path, tmp_path: Path) -> RunningServer:
    args = serve_args(
        str(digits_repository), "--model-control-mode", "explicit", "--load-model", "digits"
    )
    return start_server(args, tmp_path)


def test_load_and_unload_with_tritonclient_http(explicit_server: RunningServer) -> None:
    client = httpclient.InferenceServerClient(explicit_server.url)
    assert client.is_model_ready("digits")
    client.unload_model("digits")
    assert not client.is_model_ready("digits")
    client.load_model("digits")
    assert client.is_model_ready("digits")
    assert explicit_server.stop()[0] == 0


@pytest.mark.skipif(importlib.util.find_spec("tritonclient.grpc") is None, reason="no grpc")
def test_load_and_unload_with_tritonclient_grpc(explicit_server: RunningServer) -> None:
    run = subprocess.run(
        [sys.executable, "-c", GRPC_LOAD, explicit_server.grpc_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True"]  # the model name arrived in field 2
    explicit_server.stop()


def test_poll_mode_picks_up_a_new_version(digits_repository: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(digits_repository, repo)
    args = serve_args(str(repo), "--model-control-mode", "poll", "--repository-poll-secs", "0.2")
    server = start_server(args, tmp_path)
    client = httpclient.InferenceServerClient(server.url)
    assert client.get_model_metadata("digits")["versions"] == ["1"]
    shutil.copytree(repo / "digits" / "1", repo / "digits" / "2")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and client.get_model_metadata("digits")["versions"] != ["2"]:
        time.sleep(0.1)
    assert client.get_model_metadata("digits")["versions"] == ["2"]
    assert server.stop()[0] == 0
