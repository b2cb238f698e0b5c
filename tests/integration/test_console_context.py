"""The console's "show context" in a real browser: the hit among its source's neighbours, in order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from tests.support.api import call
from tests.support.browser import Screenshots
from tests.support.deadlines import wait_for
from tests.support.rows import query
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.integration
DAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()  # within RETENTION_DAYS, as ingest requires


async def test_show_context_in_event_details(
    workers: WorkerFactory,
    database_url: str,
    http: aiohttp.ClientSession,
    browser: Browser,
    screenshots: Screenshots,
) -> None:
    api = (await workers.ready()).url
    source = f"billing-{uuid.uuid4().hex[:6]}"
    batch = [
        {
            "level": ("INFO", "WARN", "ERROR")[i % 3],
            "message": "charge declined" if i == 4 else f"step {i}",
            "source": source,
            "timestamp": f"{DAY}T10:00:{i:02d}Z",
        }
        for i in range(9)
    ]
    status, body, _ = await call(http, "POST", api + "/api/v1/logs/batch", batch)
    assert status == 202, body
    await wait_for(
        lambda: query(database_url, "SELECT count(*) FROM logs WHERE source = %s", source)[0][0] == 9,
        timeout=30,
        what="the seeded events in PostgreSQL",
    )
    viewer = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await viewer.new_page()
    await page.goto(f"{api}/?source={source}&q=declined&range=all")
    hit = page.locator("#events > li", has_text="charge declined")
    await expect(hit).to_have_count(1)
    await hit.locator("summary").click()
    await hit.locator("button.show-context").click()
    rows = hit.locator(".context .context-event")
    await expect(rows).to_have_count(9)
    await expect(rows.locator(".message")).to_have_text(
        [*(f"step {i}" for i in range(4)), "charge declined", *(f"step {i}" for i in range(5, 9))]
    )
    await expect(hit.locator(".context .hit")).to_contain_text("charge declined")
    await screenshots.shot(page, "20-show-context")
    await hit.locator("button.show-context").click()
    await expect(hit.locator(".context")).to_be_hidden()
