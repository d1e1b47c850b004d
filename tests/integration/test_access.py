"""API keys on every route and RPC: no key, a wrong key, the wrong scope and the wrong model
are refused; the right key is served; keys change without a restart; quotas refuse the
excess at once. Over the ASGI app, a real socket (the HTTP lane) and gRPC."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx2
import numpy as np
import orjson
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from onnx import TensorProto

from modelport.auth import Quotas
from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc
from modelport.server import Server
from modelport.settings import Settings
from tests import models

KEYS = {
    "reader": "r" * 24,
    "inferer": "i" * 24,
    "admin": "a" * 24,
    "operator": "o" * 24,
    "narrow": "n" * 24,
    "limited": "l" * 24,
}
KEYS_FILE = f"""
- name: reader
  sha256: {hashlib.sha256(KEYS["reader"].encode()).hexdigest()}
  scopes: [read]
- name: inferer
  sha256: {hashlib.sha256(KEYS["inferer"].encode()).hexdigest()}
  scopes: [infer]
  models: ["add_*"]
- name: admin
  sha256: {hashlib.sha256(KEYS["admin"].encode()).hexdigest()}
  scopes: [admin, read]
- name: operator
  sha256: {hashlib.sha256(KEYS["operator"].encode()).hexdigest()}
  scopes: [admin]
- name: narrow
  sha256: {hashlib.sha256(KEYS["narrow"].encode()).hexdigest()}
  scopes: [read, infer]
  models: [other]
- name: limited
  key: {KEYS["limited"]}
  scopes: [infer]
  rate: 2
"""
ROW = list(range(4))
V2 = {
    "inputs": [{"name": n, "datatype": "FP32", "shape": [1, 4], "data": ROW} for n in "ab"],
}


def binary_body() -> tuple[bytes, dict[str, str]]:
    head = {
        "inputs": [
            {"name": n, "datatype": "FP32", "shape": [1, 4], "parameters": {"binary_data_size": 16}}
            for n in "ab"
        ]
    }
    raw = orjson.dumps(head)
    data = np.arange(4, dtype=np.float32).tobytes() * 2
    return raw + data, {"Inference-Header-Content-Length": str(len(raw))}


@pytest.fixture(scope="module")
def secured_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("secured")
    models.add_sub(root / "add_sub" / "1" / "model.onnx")
    models.identity(root / "other" / "1" / "model.onnx", TensorProto.FLOAT)
    (root / "keys.yaml").write_text(KEYS_FILE)
    return root


def secured_settings(root: Path, **extra: object) -> Settings:
    return Settings(
        model_repositories=(str(root),),
        api_keys=str(root / "keys.yaml"),
        model_control_mode="explicit",
        load_models=("*",),
        http_port=0,
        grpc_port=0,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module", params=["asgi", "socket"])
async def secured(
    request: pytest.FixtureRequest, secured_repository: Path
) -> AsyncIterator[tuple[Server, httpx2.AsyncClient]]:
    server = Server(secured_settings(secured_repository))
    if request.param == "asgi":
        await server.load_models()
        transport = httpx2.ASGITransport(app=server.build_app())
        async with httpx2.AsyncClient(transport=transport, base_url="http://modelport") as c:
            yield server, c
    else:
        await server.start()
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as c:
            yield server, c
    await server.stop()


def auth(name: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"} if name else {}


# route, method, body (JSON, or "binary"), the key that may, one whose scope is wrong,
# and one whose models are wrong (None: the route names no model)
ROUTES = [
    ("GET", "/v2", None, "reader", None, None),
    ("GET", "/v2/models/add_sub", None, "reader", "operator", "narrow"),
    ("GET", "/v2/models/add_sub/versions/1", None, "inferer", None, "narrow"),
    ("GET", "/v2/models/add_sub/config", None, "reader", "operator", "narrow"),
    ("GET", "/v2/models/add_sub/stats", None, "reader", None, "narrow"),
    ("GET", "/v2/models/stats", None, "reader", None, "inferer"),
    ("POST", "/v2/repository/index", None, "reader", None, "inferer"),
    ("POST", "/v2/models/add_sub/infer", V2, "inferer", "reader", "narrow"),
    ("POST", "/v2/models/add_sub/versions/1/infer", V2, "inferer", "admin", "narrow"),
    ("POST", "/v2/models/add_sub/infer", "binary", "inferer", "reader", "narrow"),
    ("POST", "/v2/models/other/infer", {"inputs": []}, "limited", "reader", "inferer"),
    (
        "POST",
        "/models/add_sub/predict",
        {"input": {"a": [ROW], "b": [ROW]}},
        "inferer",
        "reader",
        None,
    ),
    (
        "POST",
        "/v1/models/add_sub:predict",
        {"instances": [{"a": ROW, "b": ROW}]},
        "inferer",
        "reader",
        None,
    ),
    ("GET", "/v1/models/add_sub", None, "reader", "operator", None),
    ("GET", "/v1/models/add_sub/metadata", None, "reader", None, "narrow"),
    ("POST", "/v2/repository/models/add_sub/load", None, "admin", "reader", None),
    ("POST", "/v2/repository/models/add_sub/unload", None, "operator", "inferer", None),
    ("POST", "/v2/repository/models/add_sub/load", None, "operator", "inferer", None),
    ("GET", "/v2/models/add_sub/versions/1/config", None, "reader", "operator", "narrow"),
    ("GET", "/v2/models/add_sub/versions/1/stats", None, "reader", "operator", "narrow"),
    (
        "POST",
        "/v1/models/add_sub/versions/1:predict",
        {"instances": [{"a": ROW, "b": ROW}]},
        "inferer",
        "reader",
        "narrow",
    ),
    ("POST", "/v1/models/add_sub:classify", {"examples": []}, "inferer", "reader", "narrow"),
    ("GET", "/v1/models/add_sub/versions/1", None, "reader", "operator", "narrow"),
    ("POST", "/predict", {"input": [[1]]}, "limited", "reader", "inferer"),
    ("POST", "/invocations", {"instances": [[1]]}, "limited", "reader", "inferer"),
    ("POST", "/score", {"data": [[1]]}, "limited", "reader", "inferer"),
    ("GET", "/no/such/route", None, None, None, None),
]


async def call(
    client: httpx2.AsyncClient, method: str, path: str, body: object, key: str | None
) -> httpx2.Response:
    headers = auth(key)
    if body == "binary":
        content, extra = binary_body()
        return await client.request(method, path, content=content, headers={**headers, **extra})
    return await client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "right", "scope", "model"), ROUTES)
async def test_every_route_asks_for_the_right_key(
    secured: tuple[Server, httpx2.AsyncClient],
    method: str,
    path: str,
    body: object,
    right: str | None,
    scope: str | None,
    model: str | None,
) -> None:
    _, client = secured
    missing = await call(client, method, path, body, None)
    assert missing.status_code == 401, missing.text
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in missing.json()["error"]
    wrong = await client.request(method, path, headers={"Authorization": "Bearer " + "x" * 24})
    assert wrong.status_code == 401
    for refused in (scope, model):
        if refused:
            answer = await call(client, method, path, body, refused)
            assert answer.status_code == 403, (refused, answer.text)
            assert "add_sub" not in answer.json()["error"]  # names no model, no key
    if right:
        answer = await call(client, method, path, body, right)
        assert answer.status_code not in (401, 403, 500), answer.text


async def test_open_routes_stay_open_by_default(secured: tuple[Server, httpx2.AsyncClient]) -> None:
    _, client = secured
    open_paths = ("/v2/health/live", "/v2/health/ready", "/v2/models/add_sub/ready", "/ping")
    for path in (*open_paths, "/metrics"):
        assert (await client.get(path)).status_code == 200, path


async def test_right_keys_get_the_answers(secured: tuple[Server, httpx2.AsyncClient]) -> None:
    _, client = secured
    answer = await client.post("/v2/models/add_sub/infer", json=V2, headers=auth("inferer"))
    assert answer.status_code == 200
    assert answer.json()["outputs"][0]["data"] == [0, 2, 4, 6]
    index = await client.post("/v2/repository/index", headers=auth("reader"))
    assert {e["name"] for e in index.json()} == {"add_sub", "other"}


async def test_health_and_metrics_can_be_closed(secured_repository: Path) -> None:
    settings = secured_settings(secured_repository, auth_health=True, auth_metrics=True)
    server = Server(settings)
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://m") as client:
        for path in ("/v2/health/ready", "/v2/models/add_sub/ready", "/metrics"):
            assert (await client.get(path)).status_code == 401
            assert (await client.get(path, headers=auth("reader"))).status_code == 200
    await server.stop()


async def test_keys_change_without_a_restart(tmp_path: Path, secured_repository: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(KEYS_FILE)
    server = Server(dataclasses.replace(secured_settings(secured_repository), api_keys=str(keys)))
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    assert server.keys_file is not None
    async with httpx2.AsyncClient(transport=transport, base_url="http://m") as client:

        async def status(name: str) -> int:
            return (await client.get("/v2/models/add_sub", headers=auth(name))).status_code

        assert await status("reader") == 200
        keys.write_text(KEYS_FILE.replace("- name: reader", "- name: gone"))  # reader's key out
        keys.write_text(KEYS_FILE.split("- name: inferer")[0].replace("reader", "renamed"))
        assert server.keys_file.refresh()
        assert await status("reader") == 200  # the same key under a new name
        keys.write_text(
            KEYS_FILE.split("- name: reader")[0] + KEYS_FILE.split("scopes: [read]\n")[1]
        )
        assert server.keys_file.refresh()
        assert await status("reader") == 401  # removed
        assert await status("admin") == 200  # added back with the rest
        keys.write_text("- name: [broken\n")
        assert not server.keys_file.refresh()  # a file that does not parse changes nothing
        assert await status("admin") == 200
    await server.stop()


async def test_quota_refuses_the_excess_at_once(secured_repository: Path) -> None:
    now = [100.0]
    server = Server(secured_settings(secured_repository))
    server.policy.quotas = Quotas(clock=lambda: now[0])
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1], "data": [1]}]}
    async with httpx2.AsyncClient(transport=transport, base_url="http://m") as client:

        async def send() -> httpx2.Response:
            return await client.post("/v2/models/other/infer", json=body, headers=auth("limited"))

        assert [(await send()).status_code for _ in range(2)] == [200, 200]  # rate 2: burst 2
        refused = await send()
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert "rate of 2 requests/s" in refused.json()["error"]
        now[0] += 0.5  # one token back
        assert [(await send()).status_code for _ in range(2)] == [200, 429]
        scrape = (await client.get("/metrics")).text
    assert 'modelport_api_key_requests_total{key="limited",outcome="rate_limited"} 2.0' in scrape
    assert KEYS["limited"] not in scrape
    await server.stop()


async def test_quota_per_address_without_keys(secured_repository: Path) -> None:
    settings = dataclasses.replace(
        secured_settings(secured_repository), api_keys="", quota_concurrency=1
    )
    server = Server(settings)
    await server.load_models()
    admitted = server.policy.admit(None, "10.0.0.1", *_infer("other"))
    with pytest.raises(Exception, match="too many requests in flight"):
        server.policy.admit(None, "10.0.0.1", *_infer("other"))
    server.policy.admit(None, "10.0.0.2", *_infer("other")).release()  # another address
    admitted.release()
    server.policy.admit(None, "10.0.0.1", *_infer("other")).release()
    await server.stop()


def _infer(model: str) -> tuple[object, str]:
    from modelport.auth import Action

    return Action.INFER, model


# --- gRPC ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def grpc_server(secured_repository: Path) -> AsyncIterator[Server]:
    server = Server(secured_settings(secured_repository))
    await server.start()
    yield server
    await server.stop()


def infer_request(model: str = "add_sub") -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model)
    for name in "ab":
        request.inputs.add(name=name, datatype="FP32", shape=[1, 4])
        request.raw_input_contents.append(struct.pack("4f", 0, 1, 2, 3))
    return request


def identity_request() -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="other")
    request.inputs.add(name="input", datatype="FP32", shape=[1, 1])
    request.raw_input_contents.append(struct.pack("f", 1))
    return request


RPCS = [
    ("ServerMetadata", pb.ServerMetadataRequest(), "reader", None, None),
    ("ModelMetadata", pb.ModelMetadataRequest(name="add_sub"), "reader", "operator", "narrow"),
    ("ModelConfig", pb.ModelConfigRequest(name="add_sub"), "inferer", None, None),
    ("ModelStatistics", pb.ModelStatisticsRequest(name="add_sub"), "reader", None, None),
    ("ModelStatistics", pb.ModelStatisticsRequest(), "reader", None, "inferer"),
    ("RepositoryIndex", pb.RepositoryIndexRequest(), "admin", "operator", "inferer"),
    (
        "RepositoryModelLoad",
        pb.RepositoryModelLoadRequest(model_name="add_sub"),
        "admin",
        "reader",
        None,
    ),
    ("ModelInfer", infer_request(), "inferer", "reader", "narrow"),
    ("ModelInfer", identity_request(), "limited", "reader", "inferer"),
]


@pytest.mark.parametrize(("rpc", "message", "right", "scope", "model"), RPCS)
async def test_every_rpc_asks_for_the_right_key(
    grpc_server: Server, rpc: str, message: object, right: str, scope: str | None, model: str | None
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.grpc_port}") as channel:
        method = getattr(pb_grpc.GRPCInferenceServiceStub(channel), rpc)
        for key, code in (
            (None, "UNAUTHENTICATED"),
            (scope, "PERMISSION_DENIED"),
            (model, "PERMISSION_DENIED"),
        ):
            if key is None and code != "UNAUTHENTICATED":
                continue
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await method(message, metadata=_metadata(key))
            assert caught.value.code().name == code, (key, caught.value.details())
        if right == "limited":
            grpc_server.policy.quotas = Quotas()  # a fresh bucket for this call
        await method(message, metadata=_metadata(right))


def _metadata(name: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {KEYS[name]}"),) if name else ()


async def test_stream_infer_checks_each_request(grpc_server: Server) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        answers = [
            a
            async for a in stub.ModelStreamInfer(
                iter([infer_request(), infer_request("other")]), metadata=_metadata("inferer")
            )
        ]
        errors = sorted(a.error_message for a in answers)
        assert errors[0] == "" and "may not infer this model" in errors[1]
        refused = [a async for a in stub.ModelStreamInfer(iter([infer_request()]))]
        assert "API key is required" in refused[0].error_message


async def test_grpc_health_open_and_reflection_keyed(grpc_server: Server) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        assert (await stub.ServerReady(pb.ServerReadyRequest())).ready
        health = health_pb2_grpc.HealthStub(channel)
        check = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert check.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [r async for r in reflect.ServerReflectionInfo(iter([ask]))]
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
        listed = [
            r async for r in reflect.ServerReflectionInfo(iter([ask]), metadata=_metadata("reader"))
        ]
        assert listed and listed[0].list_services_response.service


def test_keys_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every entry is compared with hmac.compare_digest, even after a match."""
    import hmac

    from modelport import auth
    from modelport.keys import read_keyring

    calls: list[bytes] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    path = Path(__file__).parent / "keys-for-test.yaml"
    try:
        path.write_text(KEYS_FILE)
        keyring = read_keyring(path)
    finally:
        path.unlink()
    assert (
        keyring.find(KEYS["reader"]) is not None and keyring.find(KEYS["reader"]).name == "reader"
    )
    assert len(calls) == 2 * len(keyring.keys)


async def test_keys_never_reach_logs_or_answers(
    secured_repository: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    server = Server(secured_settings(secured_repository))  # logs the clear-text entry's name
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    answers = []
    async with httpx2.AsyncClient(transport=transport, base_url="http://m") as client:
        for name in KEYS:
            for path in ("/v2/models/add_sub", "/v2/repository/index", "/metrics"):
                answers.append((await client.get(path, headers=auth(name))).text)
            answers.append((await client.post("/v2/models/nope/infer", headers=auth(name))).text)
    await server.stop()
    assert "stored in clear" in caplog.text  # the warning names the entry, not its key
    for key in KEYS.values():
        assert key not in caplog.text and not any(key in text for text in answers)


async def test_grpc_quota_refuses_with_retry_after(grpc_server: Server) -> None:
    now = [500.0]
    grpc_server.policy.quotas = Quotas(clock=lambda: now[0])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for _ in range(2):  # rate 2: a burst of 2
            await stub.ModelInfer(identity_request(), metadata=_metadata("limited"))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ModelInfer(identity_request(), metadata=_metadata("limited"))
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ("retry-after", "1") in tuple(caught.value.trailing_metadata() or ())


def test_exposed_without_keys_or_tls_says_what_is_open(caplog: pytest.LogCaptureFixture) -> None:
    from modelport.server import warn_if_exposed

    warn_if_exposed(Settings(host="0.0.0.0", model_control_mode="explicit"))
    assert "without --api-keys: anyone who reaches these ports can run inference" in caplog.text
    assert "load or unload models" in caplog.text and "without TLS" in caplog.text
    caplog.clear()
    warn_if_exposed(Settings(host="127.0.0.1"))
    assert caplog.text == ""


async def test_sagemaker_model_api_asks_for_admin(secured_repository: Path, tmp_path: Path) -> None:
    server = Server(secured_settings(secured_repository, multi_model_root=str(tmp_path)))
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    load = {"model_name": "m", "url": str(tmp_path / "m")}
    async with httpx2.AsyncClient(transport=transport, base_url="http://m") as client:
        assert (await client.post("/models", json=load)).status_code == 401
        assert (await client.post("/models", json=load, headers=auth("reader"))).status_code == 403
        assert (await client.get("/models", headers=auth("reader"))).status_code == 200
        gone = await client.delete("/models/add_sub", headers=auth("reader"))
        assert gone.status_code == 403
        nothing = await client.post("/models", json=load, headers=auth("admin"))
        assert nothing.status_code == 400  # admitted, then: no model at that url
    await server.stop()


async def test_grpc_feedback_needs_a_key_that_may_infer_its_model(grpc_server: Server) -> None:
    from modelport.protocol._generated import feedback_pb2 as fb
    from modelport.protocol._generated import feedback_pb2_grpc as fb_grpc

    label = fb.Label(int64_value=1)
    message = fb.ModelFeedbackRequest(model_name="add_sub", id="a", labels=[label])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.grpc_port}") as channel:
        stub = fb_grpc.FeedbackStub(channel)
        for key, code in (
            (None, "UNAUTHENTICATED"),
            ("reader", "PERMISSION_DENIED"),
            ("narrow", "PERMISSION_DENIED"),
            ("inferer", "INVALID_ARGUMENT"),  # admitted: add_sub keeps no request log
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ModelFeedback(message, metadata=_metadata(key))
            assert caught.value.code().name == code, (key, caught.value.details())
