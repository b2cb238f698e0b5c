"""The console's histogram in a real browser: stacked bars in level colours, dragging narrows the time range."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from tests.support.api import call
from tests.support.browser import Screenshots, messages
from tests.support.deadlines import wait_for
from tests.support.rows import query
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.integration
DAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()  # within RETENTION_DAYS, as ingest requires


async def test_histogram_bars_and_drag_to_narrow(
    workers: WorkerFactory,
    database_url: str,
    http: aiohttp.ClientSession,
    browser: Browser,
    screenshots: Screenshots,
) -> None:
    api = (await workers.ready()).url
    source = f"web-{uuid.uuid4().hex[:6]}"
    batch = [
        {
            "level": "ERROR" if i % 4 == 0 else "INFO",
            "message": f"request {i}",
            "source": source,
            "timestamp": f"{DAY}T10:{i:02d}:30Z",
        }
        for i in range(60)
    ]
    status, body, _ = await call(http, "POST", api + "/api/v1/logs/batch", batch)
    assert status == 202, body
    await wait_for(
        lambda: query(database_url, "SELECT count(*) FROM logs WHERE source = %s", source)[0][0] == 60,
        timeout=30,
        what="the seeded events in PostgreSQL",
    )
    viewer = await browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page = await viewer.new_page()
    await page.goto(f"{api}/?source={source}&range=custom&start={DAY}T10:00:00Z&end={DAY}T10:59:59Z")
    await expect(messages(page)).to_have_count(50)  # a page
    await expect(page.locator("#histogram rect.bar-ERROR")).to_have_count(15)
    await expect(page.locator("#histogram rect.bar-INFO")).to_have_count(45)
    await screenshots.shot(page, "21-histogram")

    svg = page.locator("#histogram svg")
    box = await svg.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    await page.mouse.move(box["x"] + 2, y)
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] * 9.5 / 60, y)
    await page.mouse.up()
    await expect(page.locator("#f-range")).to_have_value("custom")
    await expect(messages(page)).to_have_count(10)  # the buckets of 10:00 to 10:09
    await expect(page.locator("#f-end")).to_have_value(f"{DAY}T10:09:59")
    await screenshots.shot(page, "22-histogram-narrowed")
