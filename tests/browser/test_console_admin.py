"""The admin in the console: a contest created, its ranking run and charted, a round settled
after confirming (cancel first: nothing settles), its winners; partners, binding verification,
the audit and the callback log."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from playwright.sync_api import Page, expect

from tests.browser.conftest import Console
from tests.browser.console_support import (
    admin_token,
    alipay_confirms,
    new_buyer,
    sign_in,
    terminal_payment,
    zoned_local,
)


def test_admin_creates_a_contest_ranks_it_and_settles_a_round_after_confirming(page: Page, console: Console) -> None:
    m1 = console.demo["merchants"][0]
    # a confirmed payment of the demo partner's first merchant now: inside round 2 of the contest
    # below, which started a week ago in 7-day rounds (round 1 holds the demo's earlier days)
    out, buyer = f"bt-{secrets.token_hex(4)}", new_buyer()  # a new buyer: the per-buyer daily cap
    terminal_payment(console, m1["terminals"][0], out, 4200, buyer)
    alipay_confirms(console, out, 4200, m1["alipay_seller_id"], buyer)

    sign_in(page, console, console.key("admin"))
    expect(page.get_by_role("heading", name="竞赛", exact=True)).to_be_visible()
    name = f"浏览器测试竞赛 {secrets.token_hex(3)}"
    contest_form = page.locator("#create-contest")
    contest_form.get_by_label("名称").fill(name)
    contest_form.get_by_label("开始时间").fill(zoned_local(-timedelta(days=7, minutes=1)))
    contest_form.get_by_label("每轮天数").fill("7")
    contest_form.get_by_label("轮次").fill("3")
    contest_form.get_by_role("button", name="创建竞赛").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    contest_id = page.url.split("#/contests/")[1].split("?")[0]
    created = console.request("GET", f"/v1/contests/{contest_id}", token=admin_token(console)).body
    assert created["name"] == name and created["round_days"] == 7 and len(created["rounds"]) == 3
    assert created["rules"]["require_platform_confirmation"] is True
    assert created["prizes"][0] == {"rank_from": 1, "rank_to": 1, "prize": "冠军奖金 ¥10,000"}

    # round 2 runs now (today's payment counts there); round 1 ended a minute ago
    expect(page.get_by_text("第 2 轮排行榜")).to_be_visible()
    page.get_by_role("button", name="立即刷新排名").click()
    expect(page.get_by_text(re.compile(r"已刷新 \d+ 个轮次的排名"))).to_be_visible()
    board = page.locator("#board")
    expect(board.get_by_text(console.demo["partner_name"])).to_be_visible()
    expect(page.locator("#board-chart")).to_be_visible()
    points = int(page.locator("#board-chart").get_attribute("data-points") or 0)
    assert points >= 1

    page.get_by_role("link", name="第 1 轮", exact=True).click()
    expect(page.get_by_text("第 1 轮排行榜")).to_be_visible()
    settle = page.get_by_role("button", name="结算第 1 轮")
    settle.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(name)
    dialog.get_by_role("button", name="取消").click()
    expect(dialog).to_have_count(0)
    rounds = console.request("GET", f"/v1/contests/{contest_id}", token=admin_token(console)).body["rounds"]
    assert rounds[0]["settled"] is False  # cancelled: nothing settled

    settle.click()
    page.get_by_role("dialog").get_by_role("button", name="确认结算").click()
    winners = page.locator("#winners")
    expect(winners.get_by_role("heading", name="第 1 轮获奖者")).to_be_visible()
    expect(page.locator("#board").get_by_text("最终结果")).to_be_visible()
    settled = console.request("POST", f"/v1/contests/{contest_id}/rounds/1/settle", token=admin_token(console)).body
    shown = winners.locator("tbody tr")
    expect(shown).to_have_count(len(settled["winners"]))
    if not settled["winners"]:
        expect(winners.get_by_text("本轮没有获奖者。")).to_be_visible()

    # the round that has not ended says so in words
    page.get_by_role("link", name="第 2 轮", exact=True).click()
    page.get_by_role("button", name="结算第 2 轮").click()
    page.get_by_role("dialog").get_by_role("button", name="确认结算").click()
    expect(page.get_by_role("alert")).to_have_text("本轮尚未结束，不能结算。")


def test_admin_verifies_a_claimed_binding_sets_and_deletes_another(page: Page, console: Console) -> None:
    admin = admin_token(console)
    seller = "2088" + "".join(secrets.choice("0123456789") for _ in range(12))
    sub_mchid = "19" + "".join(secrets.choice("0123456789") for _ in range(8))
    partner = console.request("POST", "/v1/partners", {"name": f"Partner {secrets.token_hex(3)}"}, token=admin).body
    merchant = console.request("POST", f"/v1/partners/{partner['partner_id']}/merchants", {
        "name": "Claim Shop", "category": "retail", "alipay_seller_id": seller, "stores": [{"name": "Main"}]},
        token=admin).body  # the seller id a partner typed in: a claim

    sign_in(page, console, console.key("admin"))
    page.get_by_role("link", name="绑定核验").click()
    page.get_by_label("商户 ID").fill(merchant["merchant_id"])
    page.get_by_role("button", name="查看绑定").click()
    expect(page.get_by_role("heading", name="Claim Shop")).to_be_visible()
    claim = page.locator("tbody tr").filter(has_text=seller)
    expect(claim.get_by_text("声明（未核验）")).to_be_visible()
    claim.get_by_role("button", name="核验").click()
    expect(page.locator("tbody tr").filter(has_text=seller).get_by_text("已核验")).to_be_visible()

    verify = page.locator("form").filter(has=page.get_by_label("平台账号"))
    verify.get_by_label("平台", exact=True).select_option("wechatpay")
    verify.get_by_label("平台账号").fill(sub_mchid)
    verify.get_by_role("button", name="核验").click()
    expect(page.locator("tbody tr").filter(has_text=sub_mchid).get_by_text("已核验")).to_be_visible()
    bindings = console.request("GET", f"/v1/merchants/{merchant['merchant_id']}", token=admin).body["bindings"]
    assert sorted((b["platform"], b["id"], b["verified"]) for b in bindings) == [
        ("alipay", seller, True), ("wechatpay", sub_mchid, True)]

    page.locator("tbody tr").filter(has_text=sub_mchid).get_by_role("button", name="删除").click()
    page.get_by_role("dialog").get_by_role("button", name="删除").click()
    expect(page.locator("tbody tr").filter(has_text=sub_mchid)).to_have_count(0)
    bindings = console.request("GET", f"/v1/merchants/{merchant['merchant_id']}", token=admin).body["bindings"]
    assert [(b["platform"], b["id"]) for b in bindings] == [("alipay", seller)]

    # an id verified for another merchant is refused, in words
    verify = page.locator("form").filter(has=page.get_by_label("平台账号"))
    verify.get_by_label("平台", exact=True).select_option("alipay")
    verify.get_by_label("平台账号").fill(console.demo["merchants"][0]["alipay_seller_id"])
    verify.get_by_role("button", name="核验").click()
    expect(page.get_by_role("alert")).to_have_text("该平台账号已绑定到其他商户。")


def test_admin_sees_partners_the_audit_and_the_callback_log(page: Page, console: Console) -> None:
    sign_in(page, console, console.key("admin"))
    page.get_by_role("link", name="服务商", exact=True).click()
    expect(page.get_by_role("link", name=console.demo["partner_name"])).to_be_visible()
    name = f"新服务商 {secrets.token_hex(3)}"
    page.get_by_label("名称").fill(name)
    page.get_by_role("button", name="创建").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    expect(page.get_by_text("还没有商户。")).to_be_visible()

    page.get_by_role("link", name="审计").click()
    expect(page.get_by_text("所有核对均通过：汇总数据与已记录的收款一致。")).to_be_visible()
    expect(page.locator("tbody tr").first).to_be_visible()

    # a notification for a seller id no merchant holds: the platform is told `fail`, an admin sees it
    out = f"bt-lost-{secrets.token_hex(4)}"
    alipay_confirms(console, out, 990, new_buyer(), new_buyer(), answer="fail")
    page.get_by_role("link", name="回调日志").click()
    expect(page.get_by_role("heading", name="未能归属商户的回调")).to_be_visible()
    row = page.locator("tbody tr").filter(has_text=out)
    expect(row).to_have_count(1)
    expect(row.locator("td[data-label='来源']")).to_have_text("支付宝")

    # a merchant's own log has its terminal's callbacks
    m1 = console.demo["merchants"][0]
    paid = f"bt-{secrets.token_hex(4)}"
    terminal_payment(console, m1["terminals"][0], paid, 1500, new_buyer())
    page.goto(f"/console#/merchants/{m1['merchant_id']}/callbacks")
    row = page.locator("tbody tr").filter(has_text=paid)
    expect(row.locator("td[data-label='来源']")).to_have_text("终端")
