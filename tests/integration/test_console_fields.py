"""The console's field chips in a real browser: an event's fields as chips; a click filters on one, in the URL too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from tests.support.api import call
from tests.support.browser import Screenshots, messages
from tests.support.deadlines import wait_for
from tests.support.rows import query
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.integration


async def test_field_chips_filter_the_search_and_the_url(
    workers: WorkerFactory,
    database_url: str,
    http: aiohttp.ClientSession,
    browser: Browser,
    screenshots: Screenshots,
) -> None:
    api = (await workers.ready()).url
    source = f"shop-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    lines = [
        '{"status": 500, "user": {"id": "u1"}, "path": "/pay", "tags": ["a", "b"]}',
        'status=200 user.id=u2 path=/cart msg="a, b"',
        'status=500 user.id=u3 path="/pay, again"',
        '{"status": 404, "user": {"id": "u1"}}',
        "plain text without fields",
    ]
    batch = [
        {"message": line, "source": source, "level": "INFO", "timestamp": (now - timedelta(seconds=i)).isoformat()}
        for i, line in enumerate(lines)
    ]
    status, body, _ = await call(http, "POST", api + "/api/v1/logs/batch", batch)
    assert status == 202, body
    await wait_for(
        lambda: query(database_url, "SELECT count(*) FROM logs WHERE source = %s", source)[0][0] == len(lines),
        timeout=30,
        what="the events in PostgreSQL",
    )
    viewer = await browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page = await viewer.new_page()
    await page.goto(f"{api}/?source={source}")
    await expect(messages(page)).to_have_count(len(lines))
    await expect(page.locator("#field-filters-wrap")).to_be_hidden()

    first = page.locator("#events li").first
    await first.locator("summary").click()
    chips = first.locator(".event-fields .chip")
    await expect(chips).to_have_text(["path=/pay", "status=500", 'tags=["a","b"]', "user.id=u1"])
    await expect(first.locator("button.chip")).to_have_count(3)  # a list is shown, not searched into
    await screenshots.shot(page, "31-field-chips")

    await first.locator("button.chip", has_text="status=500").click()
    await expect(messages(page)).to_have_count(2)
    await expect(messages(page)).to_have_text([lines[0], lines[2]])
    await expect(page.locator("#field-filters .chip")).to_have_count(1)
    await expect(page.locator("#field-filters .chip")).to_contain_text("status=500")
    assert parse_qs(urlsplit(page.url).query)["field.status"] == ["500"]
    await screenshots.shot(page, "32-filtered-by-a-field")

    # A second key narrows further; a value with a comma is one value, not "any of".
    third = page.locator("#events li", has_text="/pay, again")
    await third.locator("summary").click()
    await third.locator("button.chip", has_text="path=/pay, again").click()
    await expect(messages(page)).to_have_text([lines[2]])
    assert parse_qs(urlsplit(page.url).query)["field.path"] == ["/pay\\, again"]

    # The URL holds the filter: opened elsewhere, the same results and chips.
    other = await viewer.new_page()
    await other.goto(page.url)
    await expect(messages(other)).to_have_text([lines[2]])
    await expect(other.locator("#field-filters .chip")).to_have_count(2)
    await screenshots.shot(other, "33-fields-from-the-url")
    await other.close()

    # Removing the chips widens the search again.
    await page.get_by_role("button", name="Remove the filter path=/pay\\, again").click()
    await expect(messages(page)).to_have_count(2)
    await page.get_by_role("button", name="Remove the filter status=500").click()
    await expect(messages(page)).to_have_count(len(lines))
    await expect(page.locator("#field-filters-wrap")).to_be_hidden()
    assert not any(name.startswith("field.") for name in parse_qs(urlsplit(page.url).query))

    # Another value of the same key replaces the one set.
    await page.locator("#events li").nth(3).locator("summary").click()
    await page.locator("#events li").nth(3).locator("button.chip", has_text="status=404").click()
    await expect(messages(page)).to_have_text([lines[3]])
    await page.locator("#events li").first.locator("summary").click()
    await page.locator("#events li").first.locator("button.chip", has_text="user.id=u1").click()
    await expect(messages(page)).to_have_text([lines[3]])  # status=404 and user.id=u1
    await expect(page.locator("#field-filters .chip")).to_have_count(2)
    await screenshots.shot(page, "34-two-fields")
