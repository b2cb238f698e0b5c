"""The console in Debian's chromium, headless, driven by Playwright; screenshots for people to look at."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page

# Headless on a machine without internet: no GPU, no sandbox as root, and none of the
# background connections a desktop browser would try (they would be refused, many at a time).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("no chromium on PATH: `make test` installs Debian's chromium package (make chromium)")
    return path


def messages(page: Page) -> Locator:
    """The messages of the events listed, newest first."""
    return page.locator("#events li .message")


@dataclass
class Screenshots:
    """Saves what the browser shows, as ``<name>.png`` in ``directory`` (the ``screenshots`` fixture's)."""

    directory: Path

    async def shot(self, page: Page, name: str) -> Path:
        path = self.directory / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        print(f"screenshot {path}")
        return path
