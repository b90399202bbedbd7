"""report.html in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): every image
decodes, nothing is logged as an error, nothing is fetched but the file itself and its data: URIs.

Skipped when /usr/bin/chromium is missing, unless GPUSCHED_REQUIRE_BROWSER=1 (CI sets it): then it fails.
A control page with an external image proves the checks catch what they look for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from browser import open_page
from test_report import every_kind

from executor.report import build_report


def test_report_renders_with_every_image_and_no_error_or_request(browser: Any, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    folders = every_kind(tmp_path / "in")
    result = build_report(folders, tmp_path / "out")
    check = open_page(browser, result.html)
    assert len(check.images) == len(result.images) >= 15
    broken = [i for i in check.images if not (i["complete"] and i["width"] > 0)]
    assert broken == []
    assert all(i["src"].startswith("data:image/png;base64,") for i in check.images)
    assert check.console_errors == []
    assert check.page_errors == []
    assert check.requests == []


def test_the_checks_catch_a_broken_page(browser: Any, tmp_path: Path) -> None:
    """A control: an external image is both a request and a broken image, a script error a page error."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body>'
                    '<img alt="far" src="http://127.0.0.1:9/x.png"><script>undefinedFunction()</script></body></html>')
    check = open_page(browser, page)
    assert check.requests == ["http://127.0.0.1:9/x.png"]
    assert [i["width"] for i in check.images] == [0]
    assert check.page_errors and "undefinedFunction" in check.page_errors[0]
    assert check.console_errors  # the failed load is logged
