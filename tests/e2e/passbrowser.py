"""Headless Debian Chromium for the pass tests (test_pass_pages, test_pass_sale_browser): one
browser per module, phone-sized pages, and the drop check both make once a phone holds a pass."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
PHONE = {"width": 360, "height": 740}

playwright = pytest.importorskip("playwright.sync_api")
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian chromium not installed"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module's tests."""
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def early_access_only_with_the_pass(browser: Any, page: Any, url: str, drop_id: int) -> None:
    """Before the drop's public start, `page` (holding the pass) claims through its early form;
    a fresh phone without the pass sees no early form, and its claim is refused as not open."""
    page.goto(url + f"/d/{drop_id}")
    assert page.locator("#countdown").is_visible() and page.locator("#early").is_visible()
    page.click("#early button[value=cash]")
    page.wait_for_url("**/pay")

    stranger = browser.new_context(viewport=PHONE, locale="en")
    other = stranger.new_page()
    other.goto(url + f"/d/{drop_id}")
    assert not other.locator("#early").is_visible()
    refused = stranger.request.post(
        url + f"/d/{drop_id}/claim",
        data="qty=1&tender=cash",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert refused.status == 409 and 'data-error="not_open"' in refused.text()
    stranger.close()
