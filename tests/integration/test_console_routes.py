"""The console's server side without a browser: /v2/models, /openapi.json (whose examples
must work as requests), the page and asset routes, their caching, keys, and turning it off."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from modelport.server import Server
from modelport.settings import Settings


async def test_v2_models_lists_every_version_with_its_signature(client: httpx2.AsyncClient) -> None:
    rows = (await client.get("/v2/models")).json()
    by_name = {(r["name"], r["version"]): r for r in rows}
    add_sub = by_name["add_sub", "1"]
    assert add_sub["state"] == "READY" and add_sub["platform"] == "onnxruntime_onnx"
    assert [t["name"] for t in add_sub["inputs"]] == ["a", "b"]
    batched = by_name["batched", "1"]
    assert batched["dynamic_batching"]["max_queue_delay_microseconds"] == 3000
    assert batched["max_batch_size"] == 16
    broken = by_name["broken", "1"]
    assert broken["state"] == "UNAVAILABLE" and broken["reason"] and "inputs" not in broken
    ready = (await client.get("/v2/models?ready=true")).json()
    assert {r["state"] for r in ready} == {"READY"} and len(ready) == len(rows) - 1


async def test_openapi_examples_are_requests_the_server_answers(client: httpx2.AsyncClient) -> None:
    """Every model's documented V2, /predict and TF Serving examples, sent as they are."""
    doc = (await client.get("/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    assert "/v2/models/broken/infer" not in doc["paths"]
    tried = 0
    for path, item in doc["paths"].items():
        post = item.get("post", {})
        example = post.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "example" not in example or "identity_bytes" in path:
            continue
        answer = await client.post(path, json=example["example"])
        assert answer.status_code == 200, (path, answer.text)
        tried += 1
    assert tried >= 3 * 8
    inputs = doc["paths"]["/v2/models/add_sub/infer"]["post"]["requestBody"]["content"]
    schema = inputs["application/json"]["schema"]["properties"]["inputs"]["prefixItems"]
    assert [s["properties"]["name"]["const"] for s in schema] == ["a", "b"]


async def test_pages_and_assets_are_served_with_caching_headers(client: httpx2.AsyncClient) -> None:
    for path in ("/", "/docs", "/console/live", "/console/models/add_sub"):
        page = await client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
    asset = await client.get("/console/assets/swagger-ui/swagger-ui-bundle.js")
    assert asset.status_code == 200 and asset.headers["cache-control"] == "public, max-age=3600"
    assert asset.headers["content-type"].startswith("text/javascript")
    again = await client.get(
        "/console/assets/console.js", headers={"if-none-match": asset.headers.get("etag", "")}
    )
    assert again.status_code == 200  # a different file: its own ETag


@pytest.mark.parametrize(
    "path",
    [
        "/console/assets/../../settings.py",
        "/console/assets/%2e%2e/%2e%2e/server.py",
        "/console/assets//etc/passwd",
        "/console/assets/swagger-ui/SOURCE",
        "/console/assets/index.html",
    ],
)
async def test_no_path_reaches_a_file_the_console_does_not_ship(
    client: httpx2.AsyncClient, path: str
) -> None:
    answer = await client.get(path)
    assert answer.status_code == 404
    assert "from __future__" not in answer.text and "root:x:" not in answer.text


async def test_allow_console_false_removes_it_but_not_v2_models(repository: Path) -> None:
    server = Server(Settings(model_repositories=(str(repository),), allow_console=False))
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://modelport") as http:
        for path in ("/", "/docs", "/openapi.json", "/console/live", "/console/overview.json"):
            assert (await http.get(path)).status_code == 404, path
        assert (await http.get("/v2/models")).status_code == 200
    await server.stop()


async def test_with_keys_pages_are_public_and_their_data_needs_a_key(
    repository: Path, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("- name: viewer\n  key: a-key-for-the-console\n  scopes: [read]\n")
    server = Server(Settings(model_repositories=(str(repository),), api_keys=str(keys)))
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://modelport") as http:
        assert (await http.get("/")).status_code == 200
        assert (await http.get("/console/assets/console.js")).status_code == 200
        for path in ("/console/overview.json", "/openapi.json", "/v2/models", "/console/live.json"):
            assert (await http.get(path)).status_code == 401, path
        key = {"authorization": "Bearer a-key-for-the-console"}
        overview = (await http.get("/console/overview.json", headers=key)).json()
        assert overview["keys"] is True and overview["model_control_mode"] == "none"
        assert overview["admin"] == []  # no load/unload buttons: not explicit mode
        live = (await http.get("/console/live.json", headers=key)).json()
        assert len(live["bounds"]["latency_ms"]) + 1 == len(live["models"][0]["latency_buckets"])
    await server.stop()


async def test_load_and_unload_are_offered_only_for_models_the_key_may_administer(
    repository: Path, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "- {name: viewer, key: a-key-that-only-reads, scopes: [read]}\n"
        "- {name: ops, key: a-key-that-administers, scopes: [read, admin], models: ['add_*']}\n"
    )
    settings = Settings(
        model_repositories=(str(repository),),
        api_keys=str(keys),
        model_control_mode="explicit",
        load_models=("*",),
    )
    server = Server(settings)
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://modelport") as http:

        async def admin(key: str) -> list[str]:
            headers = {"authorization": f"Bearer {key}"}
            return (await http.get("/console/overview.json", headers=headers)).json()["admin"]

        assert await admin("a-key-that-only-reads") == []
        assert await admin("a-key-that-administers") == ["add_sub"]
    await server.stop()
