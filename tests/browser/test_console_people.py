"""Partners and merchants in the console: a partner's standing, its merchant's dashboard (and
not another partner's merchant), terminals registered (the secret once) and revoked, the Alipay
authorization QR code; a merchant's chart, payments confirmed or not, members, plans and API keys."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, expect

from tests.browser.conftest import Console
from tests.browser.console_support import (
    admin_token,
    alipay_confirms,
    new_buyer,
    sign_in,
    signed,
    terminal_payment,
)


def test_partner_sees_its_standing_and_merchant_dashboard_but_not_another_partners_merchant(
        page: Page, console: Console) -> None:
    admin = admin_token(console)
    m1 = console.demo["merchants"][0]
    out, buyer = f"bt-{secrets.token_hex(4)}", new_buyer()
    terminal_payment(console, m1["terminals"][0], out, 8800, buyer)
    alipay_confirms(console, out, 8800, m1["alipay_seller_id"], buyer)
    # a contest that started a minute ago: its creation folds the payment in, the ranking ranks it
    now = datetime.fromisoformat(console.request("GET", "/v1/admin/clock", token=admin).body["now"])
    created = console.request("POST", "/v1/contests", {
        "name": f"Partner view {secrets.token_hex(3)}", "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "round_days": 7, "rounds": 2,
        "weights": {"merchants_onboarded": 0, "active_merchants": 0, "gmv_yuan": 1, "new_members": 0}},
        token=admin).body
    assert console.request("POST", "/v1/admin/jobs/rank_contests", {}, token=admin).status == 200

    sign_in(page, console, console.key("partner"))
    expect(page.get_by_role("heading", name="我的排名")).to_be_visible()
    card = page.locator("section").filter(has_text=created["name"])
    expect(card.locator("[data-figure='rank']")).to_contain_text("第 1 名")
    card.get_by_role("link", name="查看排行榜").click()
    expect(page.get_by_text("第 1 轮排行榜")).to_be_visible()
    own = page.locator("#board tbody tr").filter(has_text="(我)")
    expect(own).to_have_count(1)
    expect(page.locator("#board-chart")).to_be_visible()
    assert page.get_by_role("button", name="立即刷新排名").count() == 0  # admins only

    page.get_by_role("link", name="我的商户").click()
    page.get_by_role("link", name=m1["name"]).click()
    expect(page.get_by_role("heading", name=m1["name"])).to_be_visible()
    chart = page.locator("#days-chart")
    expect(chart).to_be_visible()
    assert chart.get_attribute("data-points") == "30"
    expect(page.locator("[data-figure='day-gmv'] dd")).not_to_have_text("¥0.00")

    # another partner's merchant: refused, in words, and nothing of it shown
    admin = admin_token(console)  # key tokens live seconds here
    other = console.request("POST", "/v1/partners", {"name": f"Rival {secrets.token_hex(3)}"}, token=admin).body
    theirs = console.request("POST", f"/v1/partners/{other['partner_id']}/merchants", {
        "name": "Rival Noodles", "category": "restaurant", "stores": [{"name": "Main"}]}, token=admin).body
    page.goto(f"/console#/merchants/{theirs['merchant_id']}/dashboard")
    expect(page.get_by_role("alert")).to_have_text("无权查看或操作此服务商或商户的数据。")
    expect(page.get_by_text("Rival Noodles")).to_have_count(0)
    page.goto(f"/console#/partners/{other['partner_id']}")
    expect(page.get_by_role("alert")).to_have_text("无权查看或操作此服务商或商户的数据。")


def test_partner_onboards_a_shop_registers_a_terminal_and_revokes_it(page: Page, console: Console) -> None:
    sign_in(page, console, console.key("partner"))
    page.get_by_role("link", name="我的商户").click()
    onboard = page.locator("#onboard-merchant")
    name = f"街角面馆 {secrets.token_hex(2)}"
    onboard.get_by_label("商户名称").fill(name)
    onboard.get_by_label("类别").select_option("restaurant")
    onboard.get_by_label("城市").fill("杭州")
    onboard.get_by_label("门店名称").fill("总店")
    onboard.get_by_role("button", name="接入").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    expect(page.get_by_text("还没有终端。")).to_be_visible()

    page.get_by_label("类型").select_option("qr")
    page.get_by_role("button", name="登记终端").click()
    box = page.locator(".secret")
    expect(box).to_be_visible()
    terminal_id, secret = (box.locator("code").nth(i).inner_text() for i in range(2))
    assert terminal_id.startswith("tml_") and len(secret) >= 32
    terminal = {"terminal_id": terminal_id, "secret": secret}
    assert signed(console, terminal, "/v1/terminal/ping", "{}").status == 200  # the real secret
    box.get_by_role("button", name="我已保存").click()
    expect(box).to_have_count(0)
    expect(page.get_by_text(secret)).to_have_count(0)  # shown once: gone from the page

    row = page.locator("tbody tr").filter(has_text=terminal_id)
    row.get_by_role("button", name="吊销").click()
    page.get_by_role("dialog").get_by_role("button", name="吊销").click()
    expect(page.locator("tbody tr").filter(has_text=terminal_id).get_by_text("已吊销")).to_be_visible()
    r = signed(console, terminal, "/v1/terminal/ping", "{}")
    assert r.status == 401, r.body


def test_partner_shows_the_alipay_authorization_qr_and_the_owner_authorizes(page: Page, console: Console) -> None:
    admin = admin_token(console)
    merchant = console.request("POST", f"/v1/partners/{console.demo['partner_id']}/merchants", {
        "name": "扫码授权小店", "category": "retail", "stores": [{"name": "Main"}]}, token=admin).body
    sign_in(page, console, console.key("partner"))
    page.goto(f"/console#/merchants/{merchant['merchant_id']}/bindings")
    expect(page.get_by_text("还没有平台绑定。")).to_be_visible()
    page.get_by_role("button", name="生成授权二维码").click()
    qr = page.locator("#authorize-qr")
    expect(qr).to_be_visible()
    expect(page.get_by_text("二维码有效期至")).to_be_visible()
    link = qr.get_attribute("data-url") or ""
    assert page.get_by_role("link", name="在本机打开授权链接").get_attribute("href") == link
    # the QR code is drawn: dark and light modules on the canvas
    shades = page.evaluate("""() => { const c = document.getElementById('authorize-qr');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const s = new Set();
        for (let i = 0; i < d.length; i += 4) s.add(d[i]); return [...s].sort((a, b) => a - b); }""")
    assert shades[0] < 50 and shades[-1] > 200, shades
    query = parse_qs(urlsplit(link).query)
    assert query["state"] and query["redirect_uri"][0].endswith("/v1/auth/alipay/app-authorized")

    # the owner scanned it and authorized: Alipay redirects with a code (the simulator's sandbox code)
    seller = "2088" + "".join(secrets.choice("0123456789") for _ in range(12))
    back = urlsplit(query["redirect_uri"][0])
    r = console.request("GET", f"{back.path}?app_auth_code=sandbox:{seller}&state={query['state'][0]}")
    assert r.status == 200, r.body
    page.reload()
    expect(page.locator("tbody tr").filter(has_text=seller).get_by_text("已核验")).to_be_visible()


def test_merchant_sees_its_chart_payments_confirmed_or_not_members_and_plans(page: Page, console: Console) -> None:
    m1 = console.demo["merchants"][0]
    confirmed, unconfirmed, buyer = f"bt-c-{secrets.token_hex(3)}", f"bt-u-{secrets.token_hex(3)}", new_buyer()
    terminal_payment(console, m1["terminals"][0], confirmed, 2350, buyer)
    alipay_confirms(console, confirmed, 2350, m1["alipay_seller_id"], buyer)
    terminal_payment(console, m1["terminals"][0], unconfirmed, 1205, buyer)
    # a customer locks the merchant's plan
    plans = console.request("GET", f"/v1/merchants/{m1['merchant_id']}/plans", token=admin_token(console)).body["plans"]
    login = console.request("POST", "/v1/auth/alipay", {"auth_code": f"sandbox:{new_buyer()}"}).body
    locked = console.request("POST", "/v1/memberships", {"plan_id": plans[0]["plan_id"]}, token=login["token"],
                             headers={"Idempotency-Key": secrets.token_hex(8)})
    assert locked.status == 201, locked.body

    sign_in(page, console, console.key("merchant"))
    expect(page.get_by_role("heading", name=m1["name"])).to_be_visible()
    assert page.locator("#days-chart").get_attribute("data-points") == "30"
    expect(page.locator("[data-figure='members-active'] dd")).not_to_have_text("0")

    page.get_by_role("link", name="收款记录").click()
    row = page.locator("tbody tr").filter(has_text=confirmed)
    expect(row.get_by_text("已确认")).to_be_visible()
    expect(row.locator("td[data-label='金额']")).to_have_text("¥23.50")
    expect(row.locator("td[data-label='来源']")).to_have_text("终端 + 支付宝")
    row = page.locator("tbody tr").filter(has_text=unconfirmed)
    expect(row.get_by_text("未确认")).to_be_visible()
    expect(row.locator("td[data-label='金额']")).to_have_text("¥12.05")

    page.get_by_role("link", name="会员", exact=True).click()
    expect(page.locator("tbody tr").filter(has_text=locked.body["membership_id"]).get_by_text("有效")).to_be_visible()
    page.get_by_label("状态").select_option("refunded")
    expect(page.locator("tbody tr").filter(has_text=locked.body["membership_id"])).to_have_count(0)

    page.get_by_role("link", name="会员方案").click()
    plan = f"午餐月卡 {secrets.token_hex(2)}"
    page.get_by_label("方案名称").fill(plan)
    page.get_by_label("会费（元）").fill("19.999")  # not an amount in fen: refused before any request
    page.get_by_role("button", name="创建方案").click()
    expect(page.locator(".form-result [role=alert]")).to_have_text("金额格式不正确（例如 30 或 30.50）")
    page.get_by_label("会费（元）").fill("19.9")
    page.get_by_label("单笔最高优惠（元）").fill("3")
    page.get_by_role("button", name="创建方案").click()
    row = page.locator("tbody tr").filter(has_text=plan)
    expect(row.locator("td[data-label='会费（元）']")).to_have_text("¥19.90")
    after = console.request("GET", f"/v1/merchants/{m1['merchant_id']}/plans", token=admin_token(console)).body
    made = [p for p in after["plans"] if p["name"] == plan][-1]
    assert (made["fee_fen"], made["max_discount_per_order_fen"]) == (1990, 300)


def test_merchant_creates_an_api_key_sees_its_secret_once_and_revokes_it(page: Page, console: Console) -> None:
    sign_in(page, console, console.key("merchant"))
    page.get_by_role("link", name="API 密钥").click()
    form = page.locator("#create-key")
    form.get_by_label("名称").fill("收银台程序")
    form.get_by_role("button", name="创建密钥").click()
    box = page.locator(".secret")
    expect(box).to_contain_text("收银台程序")
    key_id, secret = (box.locator("code").nth(i).inner_text() for i in range(2))
    assert console.request("POST", "/v1/auth/token", basic=(key_id, secret)).status == 200
    row = page.locator("tbody tr").filter(has_text=key_id)
    row.get_by_role("button", name="吊销").click()
    page.get_by_role("dialog").get_by_role("button", name="吊销").click()
    expect(page.locator("tbody tr").filter(has_text=key_id).get_by_text("已吊销")).to_be_visible()
    r = console.request("POST", "/v1/auth/token", basic=(key_id, secret))
    assert (r.status, r.body["code"]) == (401, "key_revoked")


def test_english_switch(page: Page, console: Console) -> None:
    sign_in(page, console, console.key("merchant"))
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("link", name="Payments")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="Payments").click()
    expect(page.get_by_role("heading", name="Payments")).to_be_visible()
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("link", name="收款记录")).to_be_visible()
