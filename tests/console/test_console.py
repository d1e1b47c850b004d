"""The web console in a real browser: Playwright driving Debian's chromium against a server
on 127.0.0.1 (the digits demo, the diagnosis example and a broken model; explicit model
control with every model loaded, so load and unload can be tried)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import numpy as np
import pytest
from onnx import TensorProto

from modelport.examples import diagnosis, digits
from modelport.server import Server
from modelport.settings import Settings
from tests import models

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("no chromium (apt-get install chromium)", allow_module_level=True)
async_api = pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def console_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("console")
    digits.build(root)
    diagnosis.build(root)
    (root / "broken" / "1").mkdir(parents=True)
    (root / "broken" / "1" / "model.onnx").write_bytes(b"this is not an onnx model")
    models.channel_means(root / "colours" / "1" / "model.onnx")
    models.add_sub(root / "add_sub" / "1" / "model.onnx")
    models.identity(root / "watched" / "1" / "model.onnx", TensorProto.FLOAT)
    block = f"logging: {{sink: {root / '.logs'}, drift: {{reference_rows: 1000, window: 500}}}}"
    (root / "watched" / "config.yaml").write_text(block + "\n")
    return root


async def _serve(settings: Settings) -> Server:
    server = Server(settings)
    await server.start()
    return server


@pytest.fixture(scope="module")
async def base_url(console_repository: Path) -> AsyncIterator[str]:
    server = await _serve(
        Settings(
            model_repositories=(str(console_repository),),
            http_port=0,
            allow_grpc=False,
            model_control_mode="explicit",
            load_models=("*",),
        )
    )
    yield f"http://127.0.0.1:{server.http_port}"
    await server.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[object]:
    async with async_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: object) -> AsyncIterator[object]:
    """A page that fails the test on any script error or failed load."""
    context = await browser.new_context(viewport={"width": 1100, "height": 800})  # type: ignore[attr-defined]
    opened = await context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda exc: problems.append(str(exc)))
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    yield opened
    await context.close()
    assert problems == []


async def test_the_landing_page_lists_models_with_state_and_reason(page, base_url: str) -> None:
    await page.goto(base_url + "/")
    await page.wait_for_selector("#model-table")
    digits_row = page.locator("tr[data-model=digits]")
    assert "READY" in await digits_row.inner_text()
    assert "input FP32 [-1, 784]" in await digits_row.inner_text()
    broken = await page.locator("tr[data-model=broken]").inner_text()
    assert "UNAVAILABLE" in broken and "INVALID_PROTOBUF" in broken
    server = await page.inner_text("#server")
    assert base_url in server and "explicit" in server
    assert await page.locator("#version").inner_text() == "version " + _version()


async def test_drawing_a_seven_on_the_digits_playground_shows_class_7(page, base_url) -> None:
    await page.goto(base_url + "/console/models/digits")
    await page.wait_for_selector("#pad")
    box = await page.locator("#pad").bounding_box()
    x, y, mouse = box["x"], box["y"], page.mouse
    await mouse.move(x + 70, y + 60)
    await mouse.down()
    for step in range(11):  # the bar
        await mouse.move(x + 70 + 14 * step, y + 60)
    for step in range(1, 13):  # the stem, down and to the left
        await mouse.move(x + 210 - 9 * step, y + 60 + 15 * step)
    await mouse.up()  # lifting the pen sends it
    await page.wait_for_selector("#top-class")
    assert await page.inner_text("#top-class") == "7"
    assert float(await page.inner_text("#latency")) > 0


async def test_the_tabular_playground_scores_the_diagnosis_model(page, base_url) -> None:
    from sklearn.datasets import load_breast_cancer

    rows = load_breast_cancer().data
    async with httpx2.AsyncClient(base_url=base_url) as http:
        for row in (rows[0], rows[-1]):
            body = {
                "inputs": [
                    {"name": "input", "datatype": "FP32", "shape": [1, 30], "data": row.tolist()}
                ]
            }
            direct = (await http.post("/v2/models/diagnosis/infer", json=body)).json()
            expected = next(o["data"] for o in direct["outputs"] if o["name"] == "predict")
            await page.goto(base_url + "/console/models/diagnosis")
            await page.fill("#paste", ",".join(str(v) for v in row))
            assert await page.input_value("[data-feature='29']") == str(row[29])
            await page.click("#send")
            await page.wait_for_selector("[data-values=predict]")
            assert await page.inner_text("[data-values=predict]") == str(expected[0])


@pytest.mark.parametrize(("colour", "channel"), [((220, 30, 30), "0"), ((20, 40, 230), "2")])
async def test_the_image_playground_sends_an_uploaded_picture(
    page, base_url: str, tmp_path: Path, colour: tuple[int, int, int], channel: str
) -> None:
    """A 100x60 picture, resized to the model's 32x32 NCHW input: its strongest channel wins."""
    from PIL import Image

    picture = tmp_path / "picture.png"
    Image.new("RGB", (100, 60), colour).save(picture)
    await page.goto(base_url + "/console/models/colours")
    await page.set_input_files("#file", str(picture))
    await page.wait_for_selector("[data-values=means]")
    means = [float(v) for v in (await page.inner_text("[data-values=means]")).split(", ")]
    assert str(means.index(max(means))) == channel
    assert abs(max(means) - max(colour) / 255) < 0.02
    assert await page.get_attribute("body", "data-kind") == "image"


async def test_a_model_of_several_inputs_gets_its_v2_request_to_edit(page, base_url) -> None:
    await page.goto(base_url + "/console/models/add_sub")
    request = await page.input_value("#request")
    assert '"name": "a"' in request and '"name": "b"' in request
    edited = json.loads(request)
    edited["inputs"][0]["data"][0] = 3
    await page.fill("#request", json.dumps(edited))
    await page.click("#send")
    await page.wait_for_selector("[data-values=sum]")
    assert (await page.inner_text("[data-values=sum]")).startswith("3, 0, 0, 0")


async def test_docs_try_it_returns_a_prediction(page, base_url: str) -> None:
    await page.goto(base_url + "/docs")
    operation = page.locator("#operations-digits-post_v2_models_digits_infer")
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    await status.wait_for()
    assert (await status.inner_text()).strip() == "200"
    assert "probabilities" in await operation.locator(".live-responses-table").inner_text()


async def test_the_live_charts_move_while_load_is_sent(page, base_url: str) -> None:
    await page.goto(base_url + "/console/live")
    body = {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 784], "data": [0.5] * 784}]
    }

    async def load() -> None:
        async with httpx2.AsyncClient(base_url=base_url) as http:
            for _ in range(400):  # bounded; about 3 s of requests
                await http.post("/v2/models/digits/infer", json=body)

    sender = asyncio.create_task(load())
    selector = "section[data-model='digits/1'] [data-metric=rps]"
    rps = page.locator(selector)
    moving = f"() => Number(document.querySelector({selector!r})?.textContent) > 0"
    await page.wait_for_function(moving, timeout=30_000)
    await sender
    assert float(await rps.inner_text()) > 0
    chart = page.locator("section[data-model='digits/1'] [data-chart=rps]")
    assert int(await chart.get_attribute("data-points")) >= 2


async def test_drift_shows_on_the_live_view_as_the_traffic_shifts(page, base_url: str) -> None:
    await page.goto(base_url + "/console/live")
    rng = np.random.default_rng(0)

    async def send(rows: np.ndarray) -> None:
        body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [50, 3],
                            "data": rows.ravel().tolist()}]}  # fmt: skip
        async with httpx2.AsyncClient(base_url=base_url) as http:
            assert (await http.post("/v2/models/watched/infer", json=body)).status_code == 200

    for _ in range(20):  # 1,000 rows: the reference
        await send(rng.normal(size=(50, 3)))
    for _ in range(10):  # 500 rows like it
        await send(rng.normal(size=(50, 3)))
    section = "section[data-model='watched/1']"
    await page.wait_for_function(
        f"() => document.querySelector({section!r})?.dataset.drift === 'stable'", timeout=30_000
    )
    for _ in range(10):  # 500 shifted rows fill the window
        await send(rng.normal(3.0, 1.0, size=(50, 3)))
    await page.wait_for_function(
        f"() => document.querySelector({section!r})?.dataset.drift === 'shift'", timeout=30_000
    )
    badge = page.locator(f"{section} .drift-shift[data-tensor=input]")
    assert "out of range" in await badge.inner_text()


async def test_unload_and_load_from_the_landing_page_in_explicit_mode(page, base_url) -> None:
    await page.goto(base_url + "/")
    row = page.locator("tr[data-model=diagnosis]")
    await row.locator("button[data-action=unload]").click()
    await page.locator("tr[data-model=diagnosis] button[data-action=load]").wait_for()
    assert "UNAVAILABLE" in await page.locator("tr[data-model=diagnosis]").inner_text()
    await page.locator("tr[data-model=diagnosis] button[data-action=load]").click()
    await page.locator("tr[data-model=diagnosis] button[data-action=unload]").wait_for()
    assert "READY" in await page.locator("tr[data-model=diagnosis]").inner_text()


@pytest.mark.parametrize(
    "path", ["/", "/console/models/digits", "/console/models/diagnosis", "/console/live", "/docs"]
)
async def test_every_page_fits_a_375px_screen(browser, base_url: str, path: str) -> None:
    context = await browser.new_context(viewport={"width": 375, "height": 740})
    page = await context.new_page()
    await page.goto(base_url + path)
    await page.wait_for_load_state("networkidle")
    width = await page.evaluate("document.documentElement.scrollWidth")
    await context.close()
    assert width <= 375


async def test_with_api_keys_the_page_asks_for_a_key(browser, console_repository, tmp_path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("- name: viewer\n  key: let-me-see-the-models\n  scopes: [read]\n")
    server = await _serve(
        Settings(
            model_repositories=(str(console_repository),),
            http_port=0,
            allow_grpc=False,
            api_keys=str(keys),
        )
    )
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(f"http://127.0.0.1:{server.http_port}/")
        await page.wait_for_selector("#apikey")
        await page.fill("#apikey", "let-me-see-the-models")
        await page.click("#keybox button")
        await page.wait_for_selector("#model-table")
        assert "READY" in await page.locator("tr[data-model=digits]").inner_text()
    finally:
        await context.close()
        await server.stop()


def _version() -> str:
    from modelport.version import __version__

    return __version__
