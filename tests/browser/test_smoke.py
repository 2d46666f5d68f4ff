"""Smoke tests of the browser-test machinery: Chromium reaches the local stack, the fixtures'
helpers work, and the page checks catch what they are meant to catch."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest
from playwright.sync_api import Page, Route

from tests.browser.conftest import Console, PageLog


def test_chromium_reads_the_meta_document(page: Page, console: Console) -> None:
    response = page.goto(console.base + "/v1/meta")
    assert response is not None and response.status == 200
    assert "json" in (response.header_value("content-type") or "")
    assert response.json() == {"time_zone": "Asia/Shanghai", "stage": "local"}
    # and the same JSON as the page shows it, fetched by the page's own script
    assert page.evaluate("() => fetch('/v1/meta').then((r) => r.json())") == response.json()
    assert console.request("GET", "/v1/meta").body == response.json()


def test_console_page_is_chinese(page: Page, console: Console) -> None:
    response = page.goto(console.url)
    assert response is not None and response.status == 200
    assert page.locator("html").get_attribute("lang") == "zh-CN"


def test_kept_api_keys_exchange_for_short_tokens(console: Console) -> None:
    if not console.keys:
        pytest.skip("scripts/run_local.py wrote no api-keys.json")
    for role in ("admin", "partner", "merchant"):
        r = console.request("POST", "/v1/auth/token", basic=console.key(role))
        assert r.status == 200, r.body
        assert r.body["token_type"] == "Bearer"
        # YUNDIAN_KEY_TOKEN_SECONDS reached the server: key tokens live seconds, not an hour
        lifetime = datetime.fromisoformat(r.body["expires_at"]).timestamp() - time.time()
        assert 0 < lifetime <= console.key_token_seconds + 1, r.body
    admin = console.token("admin")
    assert console.request("GET", "/v1/admin/clock", token=admin).status == 200


@pytest.mark.allow_page_errors
def test_page_log_catches_page_errors_and_csp_violations(page: Page, console: Console,
                                                         page_log: PageLog) -> None:
    def probe(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8",
                      headers={"Content-Security-Policy": "default-src 'self'"},
                      body="<!doctype html><html lang='zh-CN'><body><p>探针</p>"
                           "<script>throw new Error('not run: inline')</script>"
                           "<script src='data:text/javascript,1'></script></body></html>")

    page.route(console.base + "/__probe", probe)
    page.goto("/__probe")
    page.evaluate("() => { setTimeout(() => { throw new Error('boom from a timer'); }, 0); }")
    page.wait_for_function("() => true")
    page.wait_for_timeout(200)
    assert any("boom from a timer" in e for e in page_log.page_errors), page_log
    assert any("script-src-elem" in v for v in page_log.csp_violations), page_log
    with pytest.raises(AssertionError, match="CSP violation"):
        page_log.assert_clean()
    assert json.dumps(page_log.console)  # plain strings, printable in a failure
