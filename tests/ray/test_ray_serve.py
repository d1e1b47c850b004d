"""modelport on Ray Serve, for real: a two-node Ray cluster on 127.0.0.1, and the CLI
(`modelport serve REPO --ray ADDRESS --http-port P`) deploying a repository onto it.

Every model is its own deployment (autoscaling from 1 to 2 replicas on ongoing requests);
clients talk to modelport's protocols on Ray's proxy as they would to one server. The
cluster, the CLI and every Ray process are stopped at the end of the module.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import pytest

from modelport.client import Client
from modelport.errors import ModelportError
from tests import models

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed: pip install 'modelport[ray]'", allow_module_level=True)

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    # Ray Serve's own models still use pydantic 1-style Field arguments.
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
]

ADD = {
    "inputs": [
        {"name": n, "datatype": "FP32", "shape": [2, 4], "data": list(range(8))} for n in "ab"
    ]
}


@dataclass
class Deployed:
    url: str
    cluster_address: str
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ray-repo")
    models.add_sub(root / "add_sub" / "1" / "model.onnx")
    models.slow_model(root / "slow")  # batched, one instance: batches form in the replica
    models.python_model(root / "custom" / "1")
    (root / "broken" / "1").mkdir(parents=True)
    (root / "broken" / "1" / "model.onnx").write_bytes(b"this is not an onnx model")
    return root


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A head and a worker node, both on 127.0.0.1, with a temp dir of the test's own."""
    temp = tmp_path_factory.mktemp("ray")
    (temp / "ray").mkdir()  # Ray writes its address file under $RAY_TMPDIR/ray
    env = {"RAY_TMPDIR": str(temp), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # before Ray is imported: it reads them at import
    import ray
    from ray import cluster_utils

    node = {"node_ip_address": "127.0.0.1", "num_cpus": 3, "include_dashboard": False}
    started = cluster_utils.Cluster(
        initialize_head=True, head_node_args={**node, "temp_dir": str(temp)}
    )
    try:
        started.add_node(**node)
        started.wait_for_nodes()
        ray.init(address=started.address, logging_level="WARNING", log_to_driver=False)
        yield started.address
    finally:
        ray.shutdown()
        started.shutdown()
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    assert _ray_processes(temp) == []


def _status() -> Any:
    from ray import serve

    return serve.status()


def _ray_processes(temp: Path) -> list[str]:
    """Processes still running that belong to this test's cluster."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(temp) in cmdline:
            found.append(f"{pid}: {cmdline[:120]}")
    return found


@pytest.fixture(scope="module")
def deployed(
    cluster: str, repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    """`modelport serve REPO --ray ADDRESS` as a user runs it, until SIGTERM."""
    port = _free_port()
    log = tmp_path_factory.mktemp("ray-cli") / "serve.log"
    command = [
        sys.executable, "-m", "modelport", "serve", str(repository), "--ray", cluster,
        "--http-port", str(port), "--ray-max-replicas", "2",
        "--ray-target-ongoing-requests", "1", "--ray-replica-cpus", "0.5",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield Deployed(url, cluster, log)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
    assert code == 0, log.read_text()[-3000:]
    assert "modelport" not in _status().applications  # the CLI deleted its application


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(600):  # up to ~2 minutes: the replicas start and load their models
        if process.poll() is not None:
            pytest.fail(f"modelport serve --ray exited {process.returncode}: {log.read_text()}")
        try:
            if httpx2.get(f"{url}/v2/health/live", timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"not serving after 2 minutes: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
async def single(repository: Path) -> AsyncIterator[str]:
    """The same repository on one modelport process: the answers to compare with."""
    from modelport.server import Server
    from modelport.settings import Settings

    server = Server(Settings(model_repositories=(str(repository),), http_port=0, allow_grpc=False))
    await server.start()
    yield f"http://127.0.0.1:{server.http_port}"
    await server.stop()


SLOW = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [0.01]}]}
WORDS = {"name": "text", "datatype": "BYTES", "shape": [2], "data": ["ab", "cde"]}
REJECT = {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["reject"]}
TWO = {"name": "x", "datatype": "FP32", "shape": [2], "data": [1, 2]}
ONE = {"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}
SHORT = {"name": "a", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}
TF_BODY = {"inputs": {"a": [[1, 2, 3, 4]], "b": [[4, 3, 2, 1]]}}
REQUESTS = [
    ("POST", "/v2/models/add_sub/infer", ADD),
    ("POST", "/v2/models/add_sub/versions/1/infer", {**ADD, "id": "req-7"}),
    ("POST", "/v2/models/slow/infer", SLOW),
    ("POST", "/v2/models/custom/infer", {"inputs": [WORDS, TWO]}),
    ("POST", "/v1/models/add_sub:predict", TF_BODY),
    ("POST", "/v2/models/add_sub/infer", {"inputs": [SHORT]}),
    ("POST", "/v2/models/custom/infer", {"inputs": [REJECT, ONE]}),
    ("POST", "/v2/models/nope/infer", ADD),
    ("POST", "/v2/models/broken/infer", ADD),
    ("GET", "/v2/models/add_sub", None),
    ("GET", "/v2/models/slow/config", None),
    ("GET", "/v2/health/ready", None),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS, ids=[r[1] for r in REQUESTS])
async def test_answers_equal_the_single_process_server(
    deployed: Deployed, single: str, method: str, path: str, body: dict | None
) -> None:
    """Same status and same body (answers, errors, metadata) as one modelport process."""
    async with httpx2.AsyncClient(timeout=30) as http:
        on_ray = await http.request(method, deployed.url + path, json=body)
        alone = await http.request(method, single + path, json=body)
    assert (on_ray.status_code, on_ray.json()) == (alone.status_code, alone.json())


def test_every_model_is_a_deployment_named_after_it(deployed: Deployed) -> None:
    status = _status().applications["modelport"]
    assert set(status.deployments) == {"modelport", "add_sub", "slow", "custom", "broken"}
    index = httpx2.post(f"{deployed.url}/v2/repository/index").json()
    states = {e["name"]: (e["state"], e["reason"]) for e in index}
    assert states["add_sub"] == ("READY", "")
    assert states["broken"][0] == "UNAVAILABLE" and "onnx" in states["broken"][1].lower()
    names = _replica_titles()
    assert any(title.startswith("ray::ServeReplica:modelport:add_sub") for title in names)


def _replica_titles() -> list[str]:
    titles = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            titles.append(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode())
        except (OSError, UnicodeDecodeError):
            continue
    return [t for t in titles if t.startswith("ray::ServeReplica:")]


def _replicas(deployment: str) -> int:
    status = _status().applications["modelport"].deployments[deployment]
    return int(status.replica_states.get("RUNNING", 0))


def _load(url: str, model: str, seconds: float, clients: int, x: float) -> tuple[int, int]:
    """``clients`` threads send requests for up to ``seconds``; (succeeded, failed)."""
    deadline = time.monotonic() + seconds

    def loop() -> tuple[int, int]:
        good = bad = 0
        inputs = {"x": np.array([[x]], np.float32)}
        with Client(url.removeprefix("http://"), timeout=30) as client:
            while time.monotonic() < deadline and good + bad < 2000:
                try:
                    y = client.infer(model, inputs)["y"]
                    good, bad = (good + 1, bad) if y[0, 0] == 2 * x else (good, bad + 1)
                except ModelportError:
                    bad += 1
        return good, bad

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda _: loop(), range(clients)))
    return sum(g for g, _ in results), sum(b for _, b in results)


def test_scaling_from_one_to_two_replicas_under_load(deployed: Deployed) -> None:
    """Six clients keep the slow model (0.2 s a request) busy: the autoscaler adds its second
    replica, and no request fails while it does."""
    assert _replicas("slow") == 1
    good, bad = 0, 0
    for _ in range(12):  # bounded: up to 12 rounds of 5 s
        g, b = _load(deployed.url, "slow", 5.0, clients=6, x=0.2)
        good, bad = good + g, bad + b
        if _replicas("slow") == 2:
            break
    assert _replicas("slow") == 2
    assert (bad, good > 0) == (0, True)


def test_killing_a_replica_under_load_loses_at_most_its_requests_in_flight(
    deployed: Deployed,
) -> None:
    """SIGKILL to one of the slow model's replica processes while four clients send requests:
    at most the four in flight could fail (the front retries them on another replica), the
    rest succeed, and Serve starts a replacement."""
    victims = _replica_pids("slow")
    assert victims, "no replica process of model slow"
    with ThreadPoolExecutor(1) as killer:
        killer.submit(lambda: (time.sleep(1.0), os.kill(victims[0], signal.SIGKILL)))
        good, bad = _load(deployed.url, "slow", 6.0, clients=4, x=0.05)
    assert bad <= 4 and good > 50, (good, bad)
    for _ in range(150):  # bounded: up to 30 s for Serve to replace it
        if _replicas("slow") >= 1 and victims[0] not in _replica_pids("slow"):
            break
        time.sleep(0.2)
    assert victims[0] not in _replica_pids("slow")
    assert _load(deployed.url, "slow", 1.0, clients=2, x=0.01)[1] == 0


def _replica_pids(model: str) -> list[int]:
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except (OSError, UnicodeDecodeError):
            continue
        if title.startswith(f"ray::ServeReplica:modelport:{model}"):
            pids.append(int(pid))
    return pids
