"""The web console in a real browser (Debian's chromium, headless, driven by Playwright).

Each state is saved as a screenshot (the ``screenshots`` fixture: ``$SCREENSHOT_DIR``, else a temp dir
named at the end of the run) for people to look at.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import orjson
import pytest
from playwright.async_api import Browser, Request, Route, expect

from app.domain.keys import hash_key, new_key
from tests.support.api import call
from tests.support.browser import Screenshots, messages
from tests.support.deadlines import wait_for
from tests.support.kafka import produce
from tests.support.rows import query
from tests.support.workers import WorkerFactory, worker_cut_off_from_postgres

pytestmark = pytest.mark.integration


async def post(http: aiohttp.ClientSession, api: str, event: dict[str, Any], **kwargs: Any) -> str:
    status, body, _ = await call(http, "POST", api + "/api/v1/logs", event, **kwargs)
    assert status == 202, body
    return str(body["id"])


async def test_search_filter_share_and_follow_live(
    workers: WorkerFactory,
    broker: str,
    database_url: str,
    http: aiohttp.ClientSession,
    browser: Browser,
    screenshots: Screenshots,
) -> None:
    api = (await workers.ready()).url
    source = f"checkout-{uuid.uuid4().hex[:6]}"
    seeded: list[dict[str, Any]] = [
        {"level": "INFO", "message": "user 17 logged in", "metadata": {"user": 17}},
        {"level": "WARN", "message": "payment slow for order 42", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"},
        {"level": "ERROR", "message": "payment failed for order 43: card declined"},
        {"level": "DEBUG", "message": "cache warm " + "x" * 900},
    ]
    for event in seeded:
        await post(http, api, {**event, "source": source})
    await wait_for(
        lambda: query(database_url, "SELECT count(*) FROM logs WHERE source = %s", source)[0][0] == 4,
        timeout=30,
        what="the seeded events in PostgreSQL",
    )

    await produce(broker, "logs.raw", [b'{"message": "no source"}'])
    # The viewer is in New York: times are shown there, not in UTC.
    viewer = await browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="America/New_York")
    page = await viewer.new_page()

    # The page's first (unfiltered) search answers late, after the user's own: its late answer is dropped.
    async def answer_late(route: Route) -> None:
        if "q=" not in route.request.url:
            await asyncio.sleep(1.0)
        await route.continue_()

    def unfiltered(request: Request) -> bool:
        return "/api/v1/logs?" in request.url and "q=" not in request.url

    await page.route("**/api/v1/logs?*", answer_late)
    async with page.expect_event("requestfinished", predicate=unfiltered, timeout=10_000):
        await page.goto(api + "/")
        await expect(page.locator("h1")).to_have_text("logpipe")
        await expect(page.locator("#tz")).to_have_text("America/New_York")
        # Search by text within the source: the matching event, newest first, its details expandable.
        await page.fill("#f-source", source)
        await page.fill("#f-q", "payment")
        await page.press("#f-q", "Enter")
        await expect(messages(page)).to_have_count(2)
    await page.unroute("**/api/v1/logs?*")
    await expect(messages(page)).to_have_count(2)
    await expect(messages(page).first).to_contain_text("payment")
    await page.locator("#events li", has_text="payment slow").locator("summary").click()
    await expect(page.locator("#events li", has_text="payment slow").locator("dd").nth(3)).to_have_text(
        "4bf92f3577b34da6a3ce929d0e0e4736"
    )
    await expect(page.locator("#total")).to_have_text(re.compile(r"^[0-9][0-9,. ]*$"))
    first_time = page.locator("#events li time").first
    stored = datetime.fromisoformat(str(await first_time.get_attribute("datetime")))
    local = stored.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M:%S")
    assert local in await first_time.inner_text()
    await screenshots.shot(page, "01-search-by-text")

    # A level filter: only ERROR.
    await page.fill("#f-q", "")
    await page.check("input[name=level][value=ERROR]")
    await page.click("#search-button")
    await expect(messages(page)).to_have_count(1)
    await expect(messages(page)).to_contain_text("card declined")
    await expect(page.locator("#events .badge")).to_have_text(["ERROR"])
    await screenshots.shot(page, "02-level-filter")

    # The URL carries the query: opened elsewhere, it shows the same results.
    shared = page.url
    assert "level=ERROR" in shared and f"source={source}" in shared and "api-key" not in shared.lower()
    other = await viewer.new_page()
    await other.goto(shared)
    await expect(messages(other)).to_have_count(1)
    assert await messages(other).all_inner_texts() == await messages(page).all_inner_texts()
    await expect(other.locator("input[name=level][value=ERROR]")).to_be_checked()
    await expect(other.locator("#f-source")).to_have_value(source)
    await screenshots.shot(other, "03-shared-url")
    await other.close()

    # Long messages are folded, and unfold on request.
    await page.uncheck("input[name=level][value=ERROR]")
    await page.check("input[name=level][value=DEBUG]")
    await page.click("#search-button")
    await expect(messages(page)).to_have_count(1)
    assert len(await messages(page).inner_text()) < 500
    await page.get_by_role("button", name="show all").click()
    assert len(await messages(page).inner_text()) > 900

    # Live: follow ERROR and WARN of this source; a new event appears within 2 s of its POST.
    await page.uncheck("input[name=level][value=DEBUG]")
    await page.check("input[name=level][value=ERROR]")
    await page.check("input[name=level][value=WARN]")
    await page.click("#search-button")
    await expect(messages(page)).to_have_count(2)
    await page.check("#live")
    await expect(page.locator("#status")).to_contain_text("Following live")
    assert "live=1" in page.url
    posted = time.monotonic()
    await post(http, api, {"level": "ERROR", "message": "refund failed for order 44", "source": source})
    await expect(messages(page).first).to_contain_text("refund failed", timeout=2000)
    seen_after = time.monotonic() - posted
    await post(http, api, {"level": "INFO", "message": "not an error, not shown", "source": source})
    await screenshots.shot(page, "04-live")

    # Pause holds new events back; resume shows them.
    await page.click("#pause")
    await expect(page.locator("#pause")).to_have_attribute("aria-pressed", "true")
    await post(http, api, {"level": "WARN", "message": "arrived while paused", "source": source})
    await expect(page.locator("#status")).to_contain_text("1 new events waiting")
    await expect(page.locator("#events li", has_text="arrived while paused")).to_have_count(0)
    await screenshots.shot(page, "05-live-paused")
    await page.click("#pause")
    await expect(messages(page).first).to_contain_text("arrived while paused")
    await expect(page.locator("#events li", has_text="not an error")).to_have_count(0)
    print(f"console: a live event appeared {seen_after * 1000:.0f} ms after its POST")

    # Counts: per level and the per-minute chart, from /api/v1/stats.
    await expect(page.locator("#level-counts [data-level=ERROR]")).to_have_count(1)
    await expect(page.locator("#rate span")).to_have_count(60)

    # The dead-letter count links to the dead letters, with the reason for each.
    await wait_for(
        lambda: query(database_url, "SELECT count(*) FROM dead_letters")[0][0] == 1,
        timeout=30,
        what="the dead letter in its table",
    )
    await expect(page.locator("#dlq-count")).to_have_text("1 dead letter", timeout=10_000)
    await page.click("#dlq-count")
    await expect(page.locator("#letters tr")).to_have_count(1)
    await expect(page.locator("#letters tr td").nth(1)).to_have_text("invalid")
    await expect(page.locator("#letters tr td").nth(2)).to_contain_text("source")
    await screenshots.shot(page, "10-dead-letters")
    await viewer.close()


async def test_narrow_screens_labels_and_an_unreachable_api(
    workers: WorkerFactory, browser: Browser, screenshots: Screenshots
) -> None:
    api = (await workers.ready()).url
    page = await browser.new_page(viewport={"width": 390, "height": 844})
    await page.goto(api + "/ui/")
    await expect(page.locator("#status")).to_contain_text("events")
    # Nothing wider than a phone's screen.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    await screenshots.shot(page, "06-narrow-screen")

    # Every form control has a label a screen reader can read.
    unlabeled = await page.evaluate(
        """[...document.querySelectorAll('input, select')]
             .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
             .map((el) => el.id || el.name)"""
    )
    assert unlabeled == []

    # The API unreachable: a clear message instead of an empty page.
    await page.route("**/api/v1/logs?*", lambda route: route.abort())
    await page.click("#search-button")
    await expect(page.locator("#error")).to_contain_text("Cannot reach the logpipe API")
    await screenshots.shot(page, "07-api-unreachable")
    await page.unroute("**/api/v1/logs?*")

    await page.close()


async def test_console_with_api_keys(
    workers: WorkerFactory,
    database_url: str,
    http: aiohttp.ClientSession,
    browser: Browser,
    screenshots: Screenshots,
) -> None:
    key = new_key()
    keys = {hash_key(key): {"organization": "acme", "roles": ["ingest", "query"]}}
    api = (await workers.ready(AUTH_ENABLED="true", API_KEYS=orjson.dumps(keys).decode())).url
    await post(http, api, {"message": "acme deploy finished", "source": "ci"}, headers={"X-API-Key": key})
    await wait_for(
        lambda: query(database_url, "SELECT count(*) FROM logs WHERE source = 'ci'")[0][0] == 1,
        timeout=30,
        what="the event in PostgreSQL",
    )

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(api + "/")  # the page itself is open; the API is not
    await expect(page.locator("#error")).to_contain_text("An API key is required")  # the API's own 401 message
    await screenshots.shot(page, "08-auth-asks-for-a-key")

    await page.fill("#api-key", key)
    await page.click("text=Use key")
    await expect(page.locator("#error")).to_be_hidden()
    await expect(messages(page)).to_contain_text(["acme deploy finished"], timeout=10_000)
    assert key not in page.url
    assert await page.evaluate("sessionStorage.getItem('logpipe.apiKey')") == key
    await expect(page.locator("#api-key")).to_have_value(key)
    await expect(page.locator("#dlq-count")).to_have_text("needs an admin key")
    await screenshots.shot(page, "09-auth-with-key")

    # Live view sends the key as a header too (EventSource could not).
    await page.check("#live")
    await expect(page.locator("#status")).to_contain_text("Following live")
    await post(http, api, {"message": "acme rollback started", "source": "ci"}, headers={"X-API-Key": key})
    await expect(messages(page).first).to_contain_text("acme rollback started", timeout=2000)
    await page.close()


async def test_banner_while_answers_are_stale(
    workers: WorkerFactory,
    database_url: str,
    http: aiohttp.ClientSession,
    browser: Browser,
    screenshots: Screenshots,
) -> None:
    source = f"stale-{uuid.uuid4().hex[:6]}"
    env = {"CACHE_QUERY_TTL": "1", "PG_BREAKER_RESET": "1"}
    async with worker_cut_off_from_postgres(workers, database_url, **env) as (worker, proxy):
        api = worker.url
        for message in ("checkout started", "checkout paid"):
            await post(http, api, {"message": message, "source": source})
        await wait_for(
            lambda: query(database_url, "SELECT count(*) FROM logs WHERE source = %s", source)[0][0] == 2,
            timeout=30,
            what="the events in PostgreSQL",
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
        made_from = datetime.now(UTC)
        async with page.expect_request(lambda r: "/api/v1/logs?" in r.url) as searched:
            await page.goto(f"{api}/?source={source}")
        await expect(messages(page)).to_have_count(2)
        made_until = datetime.now(UTC)
        asked = (await searched.value).url
        banner = page.locator("#stale")
        await expect(banner).to_be_hidden()

        await proxy.cut()

        async def breaker_open() -> bool:
            return bool((await worker.fetch("/ready"))[1]["circuits"]["postgres"] == "open")

        await wait_for(breaker_open, timeout=10, what="the breaker open")

        async def stale_now() -> bool:
            return "Warning" in (await call(http, "GET", asked))[2]

        await wait_for(stale_now, timeout=10, what="the answer on screen past its TTL")
        # Searching again: the new time window is not cached, the results on screen are; they stay, marked.
        await page.click("#search-button")
        await expect(banner).to_be_visible()
        text = await banner.inner_text()
        found = re.fullmatch(r"database unavailable: showing results from (\d\d:\d\d:\d\d)", text)
        assert found, text
        # When the answer on screen was made (Age is whole seconds: a second either side).
        span = int((made_until - made_from).total_seconds()) + 2
        made = {(made_from + timedelta(seconds=s)).strftime("%H:%M:%S") for s in range(-2, span + 1)}
        assert found.group(1) in made, (text, sorted(made))
        await expect(messages(page)).to_have_count(2)
        await expect(page.locator("#error")).to_be_hidden()
        await screenshots.shot(page, "11-database-unavailable-stale")

        await proxy.restore()

        async def fresh_again() -> bool:
            await page.click("#search-button")
            await page.wait_for_function("document.getElementById('status').textContent !== 'Searching…'")
            return await banner.is_hidden()

        await wait_for(fresh_again, timeout=15, what="the banner gone with fresh answers", interval=0.5)
        await expect(messages(page)).to_have_count(2)
        await screenshots.shot(page, "12-database-back-fresh")
        await page.close()
