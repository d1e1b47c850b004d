"""Screenshots of the web console for the README, from a real run.

    .venv/bin/python scripts/screenshots.py

Serves the digits demo, the diagnosis example and a broken model on 127.0.0.1 (explicit
model control), drives Debian's chromium with Playwright through each page (a 7 drawn on
the digits playground, a row scored by the diagnosis model, /docs "try it", the live view
under a bounded load) and writes ``docs/images/console-*.png``. Also records each page's
load time (navigation start to the load event) in ``benchmarks/results/<date>-console.md``.
"""

from __future__ import annotations

import asyncio
import datetime
import sys
import tempfile
from pathlib import Path

import httpx2
from playwright.async_api import Page, async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from modelport.examples import diagnosis, digits  # noqa: E402
from modelport.server import Server  # noqa: E402
from modelport.settings import Settings  # noqa: E402

IMAGES = ROOT / "docs" / "images"
RESULTS = ROOT / "benchmarks" / "results"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"]
PAGES = ["/", "/console/models/digits", "/console/models/diagnosis", "/console/live", "/docs"]


async def draw_seven(page: Page) -> None:
    box = await page.locator("#pad").bounding_box()
    assert box is not None
    x, y, mouse = box["x"], box["y"], page.mouse
    await mouse.move(x + 70, y + 60)
    await mouse.down()
    for step in range(11):
        await mouse.move(x + 70 + 14 * step, y + 60)
    for step in range(1, 13):
        await mouse.move(x + 210 - 9 * step, y + 60 + 15 * step)
    await mouse.up()
    await page.wait_for_selector("#top-class")


async def load_time_ms(page: Page, url: str) -> float:
    await page.goto(url)
    await page.wait_for_load_state("load")
    timing = await page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return n.loadEventEnd - n.startTime; }"
    )
    return float(timing)


async def send_load(base: str, seconds: float) -> None:
    body = {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 784], "data": [0.5] * 784}]
    }
    deadline = asyncio.get_running_loop().time() + seconds
    async with httpx2.AsyncClient(base_url=base) as http:
        while asyncio.get_running_loop().time() < deadline:  # bounded in time
            await http.post("/v2/models/digits/infer", json=body)


async def shoot(base: str) -> dict[str, float]:
    IMAGES.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = await browser.new_page(viewport={"width": 1100, "height": 760})
        timings = {path: await load_time_ms(page, base + path) for path in PAGES}
        await page.goto(base + "/")
        await page.wait_for_selector("#model-table")
        await page.screenshot(path=IMAGES / "console-landing.png", full_page=True)
        await page.goto(base + "/console/models/digits")
        await page.wait_for_selector("#pad")
        await draw_seven(page)
        await page.screenshot(path=IMAGES / "console-digits.png", full_page=True)
        await page.goto(base + "/console/models/diagnosis")
        await page.fill(
            "#paste",
            "17.99,10.38,122.8,1001,0.1184,0.2776,0.3001,0.1471,0.2419,0.07871,1.095,0.9053,8.589,153.4,0.006399,0.04904,0.05373,0.01587,0.03003,0.006193,25.38,17.33,184.6,2019,0.1622,0.6656,0.7119,0.2654,0.4601,0.1189",
        )
        await page.click("#send")
        await page.wait_for_selector("[data-values=predict]")
        await page.screenshot(path=IMAGES / "console-diagnosis.png", full_page=True)
        await page.goto(base + "/console/live")
        await send_load(base, 6.0)
        await page.screenshot(path=IMAGES / "console-live.png", full_page=True)
        await page.goto(base + "/docs")
        operation = page.locator("#operations-digits-post_v2_models_digits_infer")
        await operation.locator(".opblock-summary").click()
        await operation.locator("button.execute").click()
        await operation.locator(".live-responses-table tr.response").first.wait_for()
        await operation.screenshot(path=IMAGES / "console-docs.png")
        phone = await browser.new_page(viewport={"width": 375, "height": 740})
        await phone.goto(base + "/console/models/digits")
        await phone.wait_for_selector("#pad")
        await phone.screenshot(path=IMAGES / "console-phone.png")
        await browser.close()
    return timings


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        digits.build(repo)
        diagnosis.build(repo)
        (repo / "broken" / "1").mkdir(parents=True)
        (repo / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx model")
        settings = Settings(
            model_repositories=(str(repo),),
            http_port=0,
            allow_grpc=False,
            model_control_mode="explicit",
            load_models=("*",),
        )
        server = Server(settings)
        await server.start()
        try:
            timings = await shoot(f"http://127.0.0.1:{server.http_port}")
        finally:
            await server.stop()
    write(timings)


def write(timings: dict[str, float]) -> None:
    today = datetime.date.today().isoformat()
    lines = [
        f"# Console page load times ({today})",
        "",
        "Command: `.venv/bin/python scripts/screenshots.py` (Playwright, Debian's chromium,",
        "server on 127.0.0.1 on this 2-core VM, a fresh browser cache: the first visit).",
        "Navigation start to the load event; the target is under 1 s.",
        "",
        "| page | load (ms) |",
        "|---|---|",
        *(f"| `{path}` | {ms:.0f} |" for path, ms in timings.items()),
    ]
    out = RESULTS / f"{today}-console.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    asyncio.run(main())
