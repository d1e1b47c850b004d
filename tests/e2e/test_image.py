"""The container image, built with ``make image`` and run for real on a Docker engine: the
repository mounted read-only, the root filesystem read-only, ports on 127.0.0.1 only.

Runs when a Docker engine answers (``.ci/run`` installs and starts one); skipped otherwise.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pytest

from modelport.client import Client
from modelport.datasets import load_digits_28x28
from modelport.examples import digits
from tests import models

pytestmark = [pytest.mark.e2e, pytest.mark.docker]
ROOT = Path(__file__).parents[2]
IMAGE = "modelport:test"


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    return done.returncode == 0


@pytest.fixture(scope="module")
def image() -> str:
    if not engine_answers():
        pytest.skip("no Docker engine answers (.ci/run starts one)")
    build = subprocess.run(
        ["make", "image", f"IMAGE={IMAGE}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    return IMAGE


@dataclass
class Container:
    id: str
    http: int
    grpc: int

    def logs(self) -> str:
        return docker("logs", self.id, check=False) + docker("logs", self.id, check=False)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("image-repo")
    digits.build(root)
    models.slow_model(root / "slow")
    root.chmod(0o755)  # the container's user (10001) reads it
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


@pytest.fixture(scope="module")
def container(image: str, repository: Path) -> Iterator[Container]:
    cid = docker(
        "run", "--detach", "--read-only", "--tmpfs", "/tmp",
        "--volume", f"{repository}:/models:ro",
        "--publish", "127.0.0.1::8000", "--publish", "127.0.0.1::8001",
        image,
    )  # fmt: skip
    try:
        http = int(docker("port", cid, "8000/tcp").rsplit(":", 1)[1])
        grpc = int(docker("port", cid, "8001/tcp").rsplit(":", 1)[1])
        running = Container(cid, http, grpc)
        wait_ready(running)
        yield running
    finally:
        docker("rm", "--force", cid, check=False)


def wait_ready(container: Container) -> None:
    for _ in range(600):  # 60 s at most
        try:
            url = f"http://127.0.0.1:{container.http}/v2/health/ready"
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the container never became ready:\n" + container.logs())


def test_predict_v2_and_grpc_answer(container: Container) -> None:
    x, y = load_digits_28x28()
    body = orjson.dumps({"input": x[:4].tolist()})
    url = f"http://127.0.0.1:{container.http}/models/digits/predict"  # two models: name one
    request = urllib.request.Request(url, data=body)
    with urllib.request.urlopen(request, timeout=10) as answer:
        plain = np.array(orjson.loads(answer.read())["output"])
    with Client(f"127.0.0.1:{container.http}") as rest:
        v2 = rest.predict("digits", x[:4])
    with Client(f"127.0.0.1:{container.grpc}", protocol="grpc") as grpc:
        over_grpc = grpc.predict("digits", x[:4])
    np.testing.assert_allclose(plain, v2, rtol=1e-6)
    np.testing.assert_allclose(over_grpc, v2, rtol=1e-6)
    assert (v2.argmax(axis=1) == y[:4]).mean() >= 0.75


def test_the_server_is_not_root(container: Container) -> None:
    assert docker("exec", container.id, "id", "-u") == "10001"
    user = docker("inspect", "--format", "{{.Config.User}}", container.id)
    assert user.split(":")[0] == "10001"


def test_the_health_check_turns_healthy(container: Container) -> None:
    status = ""
    for _ in range(120):  # the first check runs 10 s after start; 60 s at most
        status = docker("inspect", "--format", "{{.State.Health.Status}}", container.id)
        if status == "healthy":
            break
        time.sleep(0.5)
    assert status == "healthy"


def test_docker_stop_drains_in_flight_requests(image: str, repository: Path) -> None:
    cid = docker(
        "run", "--detach", "--read-only", "--tmpfs", "/tmp",
        "--volume", f"{repository}:/models:ro", "--publish", "127.0.0.1::8000", image,
    )  # fmt: skip
    try:
        running = Container(cid, int(docker("port", cid, "8000/tcp").rsplit(":", 1)[1]), 0)
        wait_ready(running)
        answers: list[object] = []

        def slow_request() -> None:  # the slow model sleeps for its input: 2 s
            body = orjson.dumps(
                {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [2.0]}]}
            )
            url = f"http://127.0.0.1:{running.http}/v2/models/slow/infer"
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(url, data=body), timeout=30
                ) as r:
                    answers.append(json.loads(r.read())["outputs"][0]["data"])
            except OSError as exc:
                answers.append(exc)

        worker = threading.Thread(target=slow_request)
        worker.start()
        time.sleep(0.5)  # in flight
        docker("stop", "--time", "40", cid, timeout=60)
        worker.join(30)
        assert answers == [[4.0]]  # answered, not cut off
        assert docker("inspect", "--format", "{{.State.ExitCode}}", cid) == "0"
        assert "draining in-flight requests" in running.logs()
    finally:
        docker("rm", "--force", cid, check=False)


def test_the_kubernetes_probes_answer(container: Container) -> None:
    """What deploy/kubernetes's Deployment asks of a pod, asked of the real image."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    import grpc
    import yaml
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    rendered = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "deploy" / "kubernetes" / "overlays" / "cpu")],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    deployment = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment")
    spec = deployment["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "readinessProbe"):
        url = f"http://127.0.0.1:{container.http}{spec[probe]['httpGet']['path']}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert answer.status == 200
    with grpc.insecure_channel(f"127.0.0.1:{container.grpc}") as channel:
        check = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    assert check.status == health_pb2.HealthCheckResponse.SERVING
    docker("exec", container.id, *spec["lifecycle"]["preStop"]["exec"]["command"][:1], "0")
