"""Reading payments and savings over HTTP: a merchant's business day page by page, one payment,
a membership's savings statement; viewers, cursors and every error code of those routes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.payments.alipay import ALIPAY_TZ
from tests.functional.test_alipay_notify import ali, notice, ok, post, seller, signed
from tests.helpers import Api, Reply
from tests.payments_support import (
    Shop,
    audit,
    new_membership,
    new_shop,
    otn,
    pay,
    payment_body,
    refund,
    savings_of,
    today,
)

BUYER = "2088000000000555"
__all__ = ["ali"]  # the Alipay-configured API of test_alipay_notify, a fixture


def day_ago(api: Api, days: int) -> date:
    return date.fromisoformat(today(api)) - timedelta(days=days)


def local(api: Api, day: date, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=api.services.config.tz)


def paid(api: Api, shop: Shop, at: datetime, **body: Any) -> str:
    b = payment_body(paid_at=at, **body)
    r = pay(api, shop, b)
    assert r.status == 200, r.body
    return str(b["out_trade_no"])


def listing(api: Api, merchant_id: str, token: str | None = None, **query: str) -> Reply:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return api.get(f"/v1/merchants/{merchant_id}/payments" + (f"?{qs}" if qs else ""), token=token or api.admin())


def walk(api: Api, merchant_id: str, token: str | None = None, **query: str) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        r = listing(api, merchant_id, token, **query, **({"cursor": cursor} if cursor else {}))
        assert r.status == 200, r.body
        assert set(r.body) == {"payments", "next_cursor"}
        pages.append([p["out_trade_no"] for p in r.body["payments"]])
        cursor = r.body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---------------------------------------------------------------- a business day


def test_a_day_is_its_payments_by_the_business_day_of_paid_at_latest_first(api: Api) -> None:
    shop = new_shop(api)
    d = day_ago(api, 10)
    midnight = paid(api, shop, local(api, d))  # 00:00:00 in Shanghai = 16:00 UTC the day before
    noon = paid(api, shop, local(api, d, 12), amount=2500, discount=0, trade_no="2024T1")
    last = paid(api, shop, local(api, d, 23, 59, 59, 999_000))
    before = paid(api, shop, local(api, d, 0) - timedelta(milliseconds=1))
    after = paid(api, shop, local(api, d + timedelta(days=1)))
    r = listing(api, shop.merchant_id, date=d.isoformat())
    assert r.status == 200, r.body
    assert [p["out_trade_no"] for p in r.body["payments"]] == [last, noon, midnight]
    assert r.body["next_cursor"] is None
    assert [p["out_trade_no"] for p in listing(api, shop.merchant_id, date=(d - timedelta(days=1)).isoformat())
            .body["payments"]] == [before]
    assert [p["out_trade_no"] for p in listing(api, shop.merchant_id, date=(d + timedelta(days=1)).isoformat())
            .body["payments"]] == [after]
    doc = r.body["payments"][1]
    assert doc == {
        "payment_id": doc["payment_id"], "out_trade_no": noon, "trade_no": "2024T1", "amount_fen": 2500,
        "discount_fen": 0, "buyer_id": "2088000000000001", "paid_at": doc["paid_at"], "platform_paid_at": None,
        "refunded_fen": 0, "member_savings_fen": 0, "savings_reversed_fen": 0, "channels": ["terminal"],
        "confirmed": False, "confirmed_at": None, "flags": [],
    }
    assert at(doc["paid_at"]) == local(api, d, 12) and at(doc["paid_at"]).utcoffset() is not None
    first = r.body["payments"][2]
    assert at(first["paid_at"]) == local(api, d) and first["paid_at"].startswith(f"{d - timedelta(days=1)}T16:00:00")


def test_the_day_defaults_to_today_and_an_empty_day_is_empty(api: Api) -> None:
    shop = new_shop(api)
    now = paid(api, shop, api.services.clock.now() - timedelta(seconds=5))
    assert [p["out_trade_no"] for p in listing(api, shop.merchant_id).body["payments"]] == [now]
    assert listing(api, shop.merchant_id, date=today(api)).body["payments"][0]["out_trade_no"] == now
    assert listing(api, shop.merchant_id, date="2001-01-01").body == {"payments": [], "next_cursor": None}


def test_pages_visit_every_payment_once_with_refunds_interleaved(api: Api) -> None:
    shop = new_shop(api)
    d = day_ago(api, 3)
    made = [paid(api, shop, local(api, d, 8, 5 * i), amount=1000 + i) for i in range(11)]
    for i, o in enumerate(made):
        for k in range(i % 3):
            assert refund(api, shop, o, 100 + k).status == 200
    newest_first = list(reversed(made))
    for limit in (1, 3, 4, 10, 11, 50):
        pages = walk(api, shop.merchant_id, date=d.isoformat(), limit=str(limit))
        assert [o for page in pages for o in page] == newest_first, limit
        assert [len(p) for p in pages] == [limit] * (11 // limit) + ([11 % limit] if 11 % limit else []), limit
    docs = {p["out_trade_no"]: p for p in listing(api, shop.merchant_id, date=d.isoformat()).body["payments"]}
    assert [docs[o]["refunded_fen"] for o in made] == [[0, 100, 201][i % 3] for i in range(11)]
    # the page size may change between pages: the cursor holds a position, not a page number
    r = listing(api, shop.merchant_id, date=d.isoformat(), limit="2")
    rest = walk(api, shop.merchant_id, date=d.isoformat(), limit="4")  # from the start, for comparison
    r2 = listing(api, shop.merchant_id, date=d.isoformat(), limit="5", cursor=r.body["next_cursor"])
    assert [p["out_trade_no"] for p in r.body["payments"] + r2.body["payments"]] == newest_first[:7]
    assert [o for page in rest for o in page] == newest_first
    assert audit(api)["ok"]


# ---------------------------------------------------------------- viewers and errors


def test_viewers_of_a_merchants_payments(api: Api) -> None:
    shop = new_shop(api)
    o = paid(api, shop, api.services.clock.now() - timedelta(seconds=5))
    other = new_shop(api)
    for token in (api.admin(), api.partner_token(shop.partner_id), api.merchant_token(shop.merchant_id)):
        assert [p["out_trade_no"] for p in listing(api, shop.merchant_id, token).body["payments"]] == [o]
        assert api.get(f"/v1/merchants/{shop.merchant_id}/payments/{o}", token=token).status == 200
    for token in (api.partner_token(other.partner_id), api.merchant_token(other.merchant_id)):
        for path in (f"/v1/merchants/{shop.merchant_id}/payments", f"/v1/merchants/{shop.merchant_id}/payments/{o}"):
            r = api.get(path, token=token)
            assert (r.status, r.code) == (403, "forbidden_tenant"), path
    r = listing(api, shop.merchant_id, api.customer_token(BUYER))
    assert (r.status, r.code) == (403, "forbidden_role")
    assert api.get(f"/v1/merchants/{shop.merchant_id}/payments").status == 401
    for path in ("/v1/merchants/mch_nobody/payments", f"/v1/merchants/mch_nobody/payments/{o}"):
        r = api.get(path, token=api.admin())
        assert (r.status, r.code) == (404, "merchant_not_found"), path


@pytest.mark.parametrize(("query", "status", "code"), [
    ({"date": "2026-3-1"}, 422, "invalid_date"), ({"date": "2026-02-30"}, 422, "invalid_date"),
    ({"date": "0001-01-01"}, 422, "invalid_date"), ({"date": "9999-12-31"}, 422, "invalid_date"),
    ({"date": "%EF%BC%92026-01-01"}, 422, "invalid_date"), ({"date": ""}, 422, "invalid_date"),
    ({"limit": "0"}, 422, "invalid_value"), ({"limit": "201"}, 422, "invalid_value"),
    ({"limit": "-5"}, 422, "invalid_value"), ({"limit": "--5"}, 422, "invalid_value"),
    ({"limit": "%C2%B2"}, 422, "invalid_value"), ({"limit": "%D9%A3"}, 422, "invalid_value"),
    ({"limit": "+5"}, 422, "invalid_value"), ({"limit": "1e3"}, 422, "invalid_value"),
    ({"limit": "9" * 30}, 422, "invalid_value"),
    ({"cursor": ""}, 400, "invalid_cursor"), ({"cursor": "garbage"}, 400, "invalid_cursor"),
    ({"cursor": "a" * 3000}, 400, "invalid_cursor"), ({"cursor": "%F0%9F%98%80.x"}, 400, "invalid_cursor"),
])
def test_a_bad_query_is_refused_with_its_code(api: Api, query: dict[str, str], status: int, code: str) -> None:
    shop = new_shop(api)
    r = listing(api, shop.merchant_id, **query)
    assert (r.status, r.code) == (status, code), r.body


def test_a_cursor_works_only_for_its_caller_merchant_and_day(api: Api) -> None:
    pid = api.new_partner()
    a, b = api.new_merchant(pid), api.new_merchant(pid)
    shop = Shop(pid, a, api.new_terminal(a))
    d = day_ago(api, 2)
    for minute in range(3):
        paid(api, shop, local(api, d, 9, minute))
    partner = api.partner_token(pid)
    r = listing(api, shop.merchant_id, partner, date=d.isoformat(), limit="1")
    cursor = r.body["next_cursor"]
    assert isinstance(cursor, str) and r.status == 200

    def refused(merchant_id: str, token: str, **query: str) -> None:
        got = listing(api, merchant_id, token, **query)
        assert (got.status, got.code) == (400, "invalid_cursor"), (query, got.body)

    ok = listing(api, shop.merchant_id, partner, date=d.isoformat(), limit="1", cursor=cursor)
    assert ok.status == 200 and ok.body["payments"][0]["out_trade_no"] != r.body["payments"][0]["out_trade_no"]
    refused(shop.merchant_id, api.partner_token(pid), date=d.isoformat(), cursor=cursor)  # another token's sub
    refused(shop.merchant_id, api.admin(), date=d.isoformat(), cursor=cursor)  # another caller, who may see it all
    refused(shop.merchant_id, api.merchant_token(shop.merchant_id), date=d.isoformat(), cursor=cursor)
    refused(str(b["merchant_id"]), partner, date=d.isoformat(), cursor=cursor)  # a sibling merchant
    refused(shop.merchant_id, partner, date=(d - timedelta(days=1)).isoformat(), cursor=cursor)  # another day
    refused(shop.merchant_id, partner, cursor=cursor)  # defaulted: today is another day
    head, _, mac = cursor.partition(".")
    for altered in (head[:-1] + ("A" if head[-1] != "A" else "B") + "." + mac,
                    head + "." + mac[:-1] + ("A" if mac[-1] != "A" else "B"), head + "." + mac + "A", head):
        refused(shop.merchant_id, partner, date=d.isoformat(), cursor=altered)


# ---------------------------------------------------------------- one payment


def test_one_payment_with_its_refunds_and_404s(api: Api) -> None:
    shop = new_shop(api)
    o = paid(api, shop, api.services.clock.now() - timedelta(seconds=5), amount=900, trade_no="T-77")
    assert refund(api, shop, o, 250).status == 200
    r = api.get(f"/v1/merchants/{shop.merchant_id}/payments/{o}", token=api.merchant_token(shop.merchant_id))
    assert r.status == 200, r.body
    assert {k: r.body[k] for k in ("out_trade_no", "trade_no", "amount_fen", "refunded_fen", "channels",
                                   "confirmed", "confirmed_at", "platform_paid_at", "flags")} == {
        "out_trade_no": o, "trade_no": "T-77", "amount_fen": 900, "refunded_fen": 250, "channels": ["terminal"],
        "confirmed": False, "confirmed_at": None, "platform_paid_at": None, "flags": []}
    assert r.body == listing(api, shop.merchant_id).body["payments"][0]
    other = new_shop(api)
    for merchant_id, number in ((shop.merchant_id, otn()), (other.merchant_id, o), (shop.merchant_id, "x" * 65),
                                (shop.merchant_id, "x" * 2000), (shop.merchant_id, "a%23b")):
        got = api.get(f"/v1/merchants/{merchant_id}/payments/{number}", token=api.admin())
        assert (got.status, got.code) == (404, "payment_not_found"), number


def test_a_flagged_payment_shows_its_flags_and_counted_savings(api: Api) -> None:
    shop = new_shop(api)
    new_membership(api, shop, BUYER, percent=10, cap=80)
    over = paid(api, shop, api.services.clock.now(), amount=900, discount=100, buyer=BUYER)
    r = api.get(f"/v1/merchants/{shop.merchant_id}/payments/{over}", token=api.admin())
    assert (r.body["discount_fen"], r.body["member_savings_fen"], r.body["flags"]) == (
        100, 0, ["discount_over_allowance"])


# ---------------------------------------------------------------- savings statement


def statement(api: Api, membership_id: str, token: str) -> Reply:
    return api.get(f"/v1/memberships/{membership_id}/savings", token=token)


def test_a_savings_statement_adds_up_to_the_memberships_savings(api: Api) -> None:
    shop = new_shop(api)
    mid = new_membership(api, shop, BUYER, percent=10)
    me = api.customer_token(BUYER)
    assert statement(api, mid, me).body == {"membership_id": mid, "savings_fen": 0, "entries": []}
    now = api.services.clock.now()
    a = paid(api, shop, now, amount=900, discount=100, buyer=BUYER)
    b = paid(api, shop, now + timedelta(seconds=1), amount=450, discount=50, buyer=BUYER)
    c = paid(api, shop, now + timedelta(seconds=2), amount=1800, discount=200, buyer=BUYER)
    paid(api, shop, now + timedelta(seconds=3), amount=700, buyer=BUYER)  # no discount: counts nothing
    paid(api, shop, now + timedelta(seconds=4), amount=900, discount=100)  # another buyer, not a member
    assert refund(api, shop, a, 301).status == 200  # partial: reverses 100 * 301 // 900 = 33
    assert refund(api, shop, c, 1800).status == 200  # whole: reverses it all, the entry stays at 0

    r = statement(api, mid, me)
    assert r.status == 200, r.body
    assert [(e["out_trade_no"], e["discount_fen"], e["savings_fen"], e["confirmed"]) for e in r.body["entries"]] == [
        (a, 100, 67, False), (b, 50, 50, False), (c, 200, 0, False)]
    assert r.body["savings_fen"] == sum(e["savings_fen"] for e in r.body["entries"]) == 117
    assert r.body["savings_fen"] == savings_of(mid) == api.get(f"/v1/memberships/{mid}", token=me).body["savings_fen"]
    entry = r.body["entries"][0]
    assert set(entry) == {"payment_id", "out_trade_no", "paid_at", "discount_fen", "savings_fen", "confirmed"}
    assert at(entry["paid_at"]) == now
    doc = api.get(f"/v1/merchants/{shop.merchant_id}/payments/{a}", token=api.admin()).body
    assert (doc["payment_id"], doc["member_savings_fen"], doc["savings_reversed_fen"]) == (entry["payment_id"], 100, 33)
    assert audit(api)["ok"]


def test_who_may_read_a_savings_statement(api: Api) -> None:
    shop = new_shop(api)
    mid = new_membership(api, shop, BUYER, percent=10)
    paid(api, shop, api.services.clock.now(), amount=900, discount=100, buyer=BUYER)
    other = new_shop(api)
    for token in (api.customer_token(BUYER), api.admin(), api.partner_token(shop.partner_id),
                  api.merchant_token(shop.merchant_id)):
        r = statement(api, mid, token)
        assert (r.status, r.body["savings_fen"]) == (200, 100), r.body
    for token in (api.customer_token("2088000000000556"), api.partner_token(other.partner_id),
                  api.merchant_token(other.merchant_id)):
        r = statement(api, mid, token)
        assert (r.status, r.code) == (403, "forbidden_tenant"), r.body
    r = statement(api, "mbs_nobody", api.admin())
    assert (r.status, r.code) == (404, "membership_not_found")
    assert api.get(f"/v1/memberships/{mid}/savings").status == 401


# ---------------------------------------------------------------- confirmed by the platform


def test_confirmed_payments_read_as_confirmed_in_either_order(ali: Api) -> None:
    sid = seller()
    shop = new_shop(ali, seller_id=sid)
    assert ali.call("PUT", f"/v1/admin/merchants/{shop.merchant_id}/bindings/alipay", {"id": sid},
                    token=ali.admin()).status == 200
    mid = new_membership(ali, shop, BUYER, percent=10)
    platform_time = datetime.now(ALIPAY_TZ).replace(microsecond=0)
    terminal_first, platform_first, unconfirmed = otn(), otn(), otn()
    now = ali.services.clock.now()
    paid(ali, shop, now, out_trade_no=terminal_first, amount=900, discount=100, buyer=BUYER)
    ok(post(ali, signed(notice(sid, terminal_first, total="9.00", buyer=BUYER, paid=platform_time))))
    ok(post(ali, signed(notice(sid, platform_first, total="4.50", buyer=BUYER, paid=platform_time))))
    paid(ali, shop, now + timedelta(seconds=1), out_trade_no=platform_first, amount=450, discount=50, buyer=BUYER)
    paid(ali, shop, now + timedelta(seconds=2), out_trade_no=unconfirmed, amount=900, discount=100, buyer=BUYER)

    def doc(o: str) -> dict[str, Any]:
        r = ali.get(f"/v1/merchants/{shop.merchant_id}/payments/{o}", token=ali.merchant_token(shop.merchant_id))
        assert r.status == 200, r.body
        return dict(r.body)

    a, b, c = doc(terminal_first), doc(platform_first), doc(unconfirmed)
    assert (a["channels"], a["confirmed"], at(a["platform_paid_at"])) == (["terminal", "alipay"], True, platform_time)
    assert at(a["paid_at"]) == now and a["confirmed_at"] is not None and a["trade_no"] is None
    assert (b["channels"], b["confirmed"], b["discount_fen"], b["member_savings_fen"]) == (
        ["alipay", "terminal"], True, 50, 50)
    assert at(b["paid_at"]) == platform_time and b["trade_no"]  # first recorded from the platform's report
    assert (c["channels"], c["confirmed"], c["confirmed_at"], c["platform_paid_at"]) == (
        ["terminal"], False, None, None)
    listed = {p["out_trade_no"]: p for p in listing(ali, shop.merchant_id, date=today(ali)).body["payments"]}
    assert listed[terminal_first] == a and listed[platform_first] == b

    s = statement(ali, mid, ali.customer_token(BUYER)).body
    assert {e["out_trade_no"]: (e["discount_fen"], e["savings_fen"], e["confirmed"]) for e in s["entries"]} == {
        terminal_first: (100, 100, True), platform_first: (50, 50, True), unconfirmed: (100, 100, False)}
    assert s["savings_fen"] == savings_of(mid) == 250
