"""Real headless Chromium for report tests (Debian's /usr/bin/chromium, driven by Playwright).

The `browser` fixture (tests/conftest.py) skips when /usr/bin/chromium is missing, unless
GPUSCHED_REQUIRE_BROWSER=1 (CI sets it): then it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch_browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("GPUSCHED_REQUIRE_BROWSER") == "1":
            pytest.fail(f"GPUSCHED_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed (set GPUSCHED_REQUIRE_BROWSER=1 to make this a failure)")
    try:
        import playwright.sync_api as sync_api
    except ImportError:
        if os.environ.get("GPUSCHED_REQUIRE_BROWSER") == "1":
            pytest.fail("GPUSCHED_REQUIRE_BROWSER=1 but Playwright is missing (pip install -e '.[test]')")
        pytest.skip("Playwright not installed (pip install -e '.[test]')")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


@dataclass
class PageCheck:
    images: list[dict[str, Any]]
    console_errors: list[str]
    page_errors: list[str]
    requests: list[str]  # every URL asked for, other than the page itself and data: URIs


def open_page(browser: Any, path: Path) -> PageCheck:
    page = browser.new_page()
    check = PageCheck([], [], [], [])
    url = path.resolve().as_uri()
    page.on("console", lambda m: check.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: check.page_errors.append(str(e)))
    page.on("request", lambda r: None if r.url == url or r.url.startswith("data:") else check.requests.append(r.url))
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    check.images = page.evaluate(
        "Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth,"
        " src: i.currentSrc.slice(0, 30)}))")
    page.close()
    return check
