"""The console's security in a real browser: values from the API stay text, the token lives in
the tab's sessionStorage only (never localStorage or a URL) and is renewed before it expires; a
revoked key and an expired session land on the sign-in page with a message; and every page of
every role is usable on a phone-sized screen."""

from __future__ import annotations

import json
import secrets
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Console, PageLog
from tests.browser.console_support import admin_token, new_key, no_sideways_scroll, sign_in

XSS = "<img src=x onerror=alert(1)>"


def test_a_merchant_named_like_markup_renders_as_that_text(page: Page, console: Console, page_log: PageLog) -> None:
    admin = admin_token(console)
    merchant = console.request("POST", f"/v1/partners/{console.demo['partner_id']}/merchants", {
        "name": XSS, "category": "retail", "city": "<script>alert(2)</script>",
        "stores": [{"name": "<b>bold</b> store", "address": "\" onmouseover=\"alert(3)"}]}, token=admin).body
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, console, console.key("partner"))
    page.get_by_role("link", name="我的商户").click()
    link = page.locator(f"a[href='#/merchants/{merchant['merchant_id']}/dashboard']")
    expect(link).to_have_text(XSS)
    link.click()
    expect(page.locator("h1")).to_have_text(XSS)
    expect(page.locator(".page-head .sub")).to_contain_text("<script>alert(2)</script>")
    page.get_by_role("link", name="终端").click()
    expect(page.get_by_label("门店")).to_contain_text("<b>bold</b> store")
    assert page.locator("#view img, #view script, #view b").count() == 0
    assert dialogs == []
    assert merchant["merchant_id"] in page.url
    page.get_by_role("link", name="我的商户").click()
    assert page.locator("#view img, #view script, #view b").count() == 0


def test_the_token_stays_in_the_tab_and_is_renewed_before_it_expires(page: Page, console: Console) -> None:
    sign_in(page, console, console.key("merchant"))
    first = json.loads(page.evaluate("() => sessionStorage.getItem('yundian.session')"))
    assert first["token"].count(".") == 2 and first["role"] == "merchant"
    assert "eyJ" not in page.evaluate("() => JSON.stringify(localStorage)")
    assert "eyJ" not in page.url and "secret" not in page.url
    # the key's secret was dropped: not in the form, not in any storage
    assert page.locator("input[type=password]").count() == 0
    _, secret = console.key("merchant")
    assert secret not in page.evaluate("() => JSON.stringify(sessionStorage) + JSON.stringify(localStorage)")
    lifetime = (first["expiresAt"] - first["issuedAt"]) / 1000
    assert lifetime <= console.key_token_seconds + 1
    page.wait_for_function("(t) => JSON.parse(sessionStorage.getItem('yundian.session')).token !== t",
                           arg=first["token"], timeout=console.key_token_seconds * 1000)
    renewed = json.loads(page.evaluate("() => sessionStorage.getItem('yundian.session')"))
    assert renewed["expiresAt"] > first["expiresAt"]
    time.sleep(max(0.0, first["expiresAt"] / 1000 - time.time()) + 0.5)  # the first token has expired
    page.get_by_role("link", name="收款记录").click()
    expect(page.get_by_role("heading", name="收款记录")).to_be_visible()  # still signed in
    # a new tab is a new session: nothing to restore
    other = page.context.new_page()
    other.goto("/console")
    expect(other.get_by_role("button", name="登录")).to_be_visible()
    other.close()


def test_a_revoked_key_lands_on_the_sign_in_page_with_a_message(page: Page, console: Console) -> None:
    key = new_key(console, {"role": "merchant", "merchant_id": console.demo["merchants"][0]["merchant_id"]})
    sign_in(page, console, key)
    expect(page.get_by_role("heading", name="经营概况").or_(page.locator("#days-chart"))).to_be_visible()
    assert console.request("DELETE", f"/v1/api-keys/{key[0]}", token=admin_token(console)).status == 204
    page.get_by_role("link", name="收款记录").click()
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("此 API 密钥已被吊销，请使用其他密钥登录。")
    assert page.evaluate("() => sessionStorage.getItem('yundian.session')") is None
    # signing in again with it says so too
    page.get_by_label("密钥 ID").fill(key[0])
    page.get_by_label("密钥", exact=True).fill(key[1])
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".form-result [role=alert]")).to_have_text("此 API 密钥已被吊销。")


def test_an_expired_session_lands_on_the_sign_in_page_with_a_message(page: Page, console: Console) -> None:
    sign_in(page, console, console.key("merchant"))
    session = json.loads(page.evaluate("() => sessionStorage.getItem('yundian.session')"))
    # the network drops every renewal (a phone in a lift): the token runs out in the tab
    refreshes: list[str] = []
    page.route("**/v1/auth/refresh", lambda route: (refreshes.append(route.request.url), route.abort()))
    expect(page.get_by_role("button", name="登录")).to_be_visible(timeout=(console.key_token_seconds + 10) * 1000)
    expect(page.get_by_role("alert")).to_have_text("会话已过期，请重新登录。")
    assert refreshes, "the console tried to renew the token before it expired"
    assert time.time() >= session["expiresAt"] / 1000 - 1  # not before the token actually expired
    assert page.evaluate("() => sessionStorage.getItem('yundian.session')") is None
    # and an expired token the server refuses (a tab that slept through it) ends the same way
    page.unroute("**/v1/auth/refresh")
    expired = console.request("GET", f"/v1/merchants/{console.demo['merchants'][0]['merchant_id']}",
                              token=session["token"])
    assert (expired.status, expired.body["code"]) == (401, "token_expired")


def test_a_wrong_secret_says_so_and_signing_out_forgets_the_token(page: Page, console: Console) -> None:
    key_id, _ = console.key("admin")
    page.goto("/console")
    page.get_by_label("密钥 ID").fill(key_id)
    page.get_by_label("密钥", exact=True).fill("not-the-secret-" + secrets.token_hex(8))
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".form-result [role=alert]")).to_have_text("密钥 ID 或密钥不正确。")
    expect(page.get_by_label("密钥", exact=True)).to_have_value("")  # dropped at once, even when refused
    sign_in(page, console, console.key("admin"))
    page.get_by_role("button", name="退出").click()
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0


PAGES = {
    "admin": ["#/contests", "#/partners", "#/bindings", "#/callbacks", "#/audit", "#/keys"],
    "partner": ["#/standing", "#/contests", "#/merchants", "#/keys"],
    "merchant": ["dashboard", "payments", "members", "plans", "terminals", "callbacks", "#/keys"],
}


@pytest.mark.parametrize("role", sorted(PAGES))
def test_every_page_is_usable_on_a_phone(phone_page: Page, console: Console, role: str) -> None:
    page = phone_page
    sign_in(page, console, console.key(role))
    m1 = console.demo["merchants"][0]["merchant_id"]
    routes = [r if r.startswith("#") else f"#/merchants/{m1}/{r}" for r in PAGES[role]]
    if role == "partner":
        routes += [f"#/merchants/{m1}/{tab}" for tab in ("dashboard", "payments", "terminals", "bindings")]
    for route in routes:
        page.evaluate("(r) => { location.hash = r; }", route)
        expect(page.locator("#view h1, #view h2").first).to_be_visible()
        expect(page.locator("#view .loading")).to_have_count(0)
        assert page.locator("#view [role=alert]").count() == 0, (route, page.locator("#view").inner_text())
        assert no_sideways_scroll(page), route
        nav = page.get_by_role("navigation", name="主导航")
        expect(nav).to_be_in_viewport()
        # buttons and inputs big enough for a thumb
        small = page.evaluate("""() => [...document.querySelectorAll(
                '#view button, #view input:not([type=checkbox]), #view select')]
            .filter((e) => e.offsetParent && e.getBoundingClientRect().height < 40)
            .map((e) => e.outerHTML.slice(0, 80))""")
        assert small == [], (route, small)
    page.screenshot(path=str(console.data_dir / f"phone-{role}.png"), full_page=True)
