"""Platform bindings (claimed or verified) and payments confirmed by the platform's verified word,
through the HTTP routes (contract, "Platform bindings and confirmed payments")."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from chalicelib.payments.alipay import ALIPAY_TZ
from chalicelib.payments.models import PAYMENT_SK, PaymentModel, payment_pk
from tests.functional.test_alipay_notify import ali, fail, notice, ok, post, seller, signed  # noqa: F401
from tests.helpers import Api
from tests.payments_support import audit, new_membership, new_shop, otn, pay, payment_body, savings_of

BUYER = "2088102116773037"
__all__ = ["ali"]


def put(api: Api, merchant_id: str, platform: str, pid: str, token: str | None = None) -> Any:
    return api.call("PUT", f"/v1/admin/merchants/{merchant_id}/bindings/{platform}", {"id": pid},
                    token=token or api.admin())


def stored(merchant_id: str, out_trade_no: str) -> PaymentModel:
    return PaymentModel.get(payment_pk(merchant_id, out_trade_no), PAYMENT_SK, consistent_read=True)


def wechat_id() -> str:
    return "1" + "".join(secrets.choice("0123456789") for _ in range(9))


# ---------------------------------------------------------------- bindings


def test_ids_in_a_merchant_body_are_claims_held_by_one_merchant(api: Api) -> None:
    pid, sid, wid = api.new_partner(), seller(), wechat_id()
    body = {"name": "Tea", "category": "retail", "stores": [{"name": "S"}], "alipay_seller_id": sid,
            "wechat_sub_mchid": wid}
    r = api.post(f"/v1/partners/{pid}/merchants", body, token=api.admin())
    assert r.status == 201 and r.body["wechat_sub_mchid"] == wid, r.body
    assert api.services.onboarding.binding("wechatpay", wid).verified is False
    again = api.post(f"/v1/partners/{pid}/merchants", {**body, "alipay_seller_id": seller()}, token=api.admin())
    assert (again.status, again.code) == (409, "platform_id_taken")
    again = api.post(f"/v1/partners/{pid}/merchants", {**body, "wechat_sub_mchid": wechat_id()}, token=api.admin())
    assert (again.status, again.code) == (409, "seller_id_taken")
    bad = api.post(f"/v1/partners/{pid}/merchants", {**body, "wechat_sub_mchid": "12ab"}, token=api.admin())
    assert bad.status == 422


def test_an_admin_verifies_replaces_and_releases_a_binding(api: Api) -> None:
    sid = seller()
    shop = new_shop(api, seller_id=sid)
    m = shop.merchant_id
    r = put(api, m, "alipay", sid)
    assert r.status == 200 and r.body["platform"] == "alipay" and r.body["id"] == sid, r.body
    assert r.body["verified"] is True and r.body["verified_at"]
    assert put(api, m, "alipay", sid).body == r.body  # verifying again keeps the first verification
    assert put(api, m, "alipay", sid, token=api.partner_token(shop.partner_id)).status == 403
    assert (put(api, m, "paypal", sid).status, put(api, m, "paypal", sid).code) == (404, "not_found")
    assert put(api, m, "wechatpay", "12ab").status == 422
    assert put(api, "mch_missing", "alipay", seller()).code == "merchant_not_found"
    other = seller()
    assert put(api, m, "alipay", other).status == 200  # a PUT replaces: the old id is released
    assert api.services.onboarding.binding("alipay", sid) is None
    assert api.services.onboarding_repo.merchant_by_seller(other).merchant_id == m
    assert api.delete(f"/v1/admin/merchants/{m}/bindings/alipay", token=api.admin()).status == 204
    assert api.services.onboarding.binding("alipay", other) is None
    assert api.delete(f"/v1/admin/merchants/{m}/bindings/alipay", token=api.admin()).status == 204


def test_verifying_takes_an_id_from_a_mere_claim_and_the_move_is_in_the_trail(api: Api) -> None:
    sid = seller()
    claimant = new_shop(api, seller_id=sid)  # a partner typed in someone else's seller id
    owner = new_shop(api)
    r = put(api, owner.merchant_id, "alipay", sid)
    assert r.status == 200 and r.body["verified"] is True
    assert api.services.onboarding_repo.merchant_by_seller(sid).merchant_id == owner.merchant_id
    assert api.services.onboarding_repo.get_merchant(claimant.merchant_id).alipay_seller_id is None
    month = api.services.clock.now().strftime("%Y-%m")
    moves = [e for e in api.services.contests.trail.entries(month)
             if e["action"] == "merchant.binding_move" and e["what"]["id"] == sid]
    assert moves and moves[0]["what"]["from_merchant_id"] == claimant.merchant_id
    # a verified id stays: neither a claim nor another PUT takes it
    third = put(api, claimant.merchant_id, "alipay", sid)
    assert (third.status, third.code) == (409, "platform_id_taken")
    body = {"name": "Copy", "category": "retail", "stores": [{"name": "S"}], "alipay_seller_id": sid}
    again = api.post(f"/v1/partners/{claimant.partner_id}/merchants", body, token=api.admin())
    assert again.status == 409 and again.code in ("seller_id_taken", "platform_id_taken")


# ---------------------------------------------------------------- confirmation


def test_a_verified_notification_confirms_in_either_order_and_redeliveries_change_nothing(ali: Api) -> None:
    sid = seller()
    shop = new_shop(ali, seller_id=sid)
    assert put(ali, shop.merchant_id, "alipay", sid).status == 200
    paid = datetime.now(ALIPAY_TZ).replace(microsecond=0) - timedelta(minutes=5)  # the platform's clock
    first_terminal, first_platform = otn(), otn()
    assert pay(ali, shop, payment_body(first_terminal, amount=1000, buyer=BUYER)).status == 200
    assert not stored(shop.merchant_id, first_terminal).confirmed_at
    for n in range(3):  # the platform's notification, delivered three times
        ok(post(ali, signed(notice(sid, first_terminal, total="10.00", buyer=BUYER, paid=paid))))
        item = stored(shop.merchant_id, first_terminal)
        assert item.confirmed_at is not None and item.platform_paid_at == paid and item.platform_amount_fen == 1000
        assert item.channels == ["terminal", "alipay"] and item.source == "terminal"
        if n == 0:
            confirmed_at = item.confirmed_at
        assert item.confirmed_at == confirmed_at
    ok(post(ali, signed(notice(sid, first_platform, total="20.00", buyer=BUYER, paid=paid))))
    r = pay(ali, shop, payment_body(first_platform, amount=2000, buyer=BUYER))
    assert r.status == 200 and r.body["duplicate"] is True
    item = stored(shop.merchant_id, first_platform)
    assert item.confirmed_at is not None and item.channels == ["alipay", "terminal"]
    assert item.paid_at == paid  # paid_at stays as first recorded
    assert audit(ali)["ok"]


def test_a_claimed_binding_confirms_nothing_until_verified_then_within_the_request(ali: Api) -> None:
    sid = seller()
    shop = new_shop(ali, seller_id=sid)
    numbers = [otn() for _ in range(3)]
    for o in numbers:
        assert pay(ali, shop, payment_body(o, amount=500, buyer=BUYER)).status == 200
        ok(post(ali, signed(notice(sid, o, total="5.00", buyer=BUYER))))
    assert all(stored(shop.merchant_id, o).confirmed_at is None for o in numbers)
    assert all(stored(shop.merchant_id, o).channels == ["terminal", "alipay"] for o in numbers)
    assert put(ali, shop.merchant_id, "alipay", sid).status == 200
    assert all(stored(shop.merchant_id, o).confirmed_at is not None for o in numbers)
    r = ali.post("/v1/admin/jobs/confirm_bindings", token=ali.admin())
    assert r.status == 200 and r.body["result"]["bindings_left"] == 0


def test_a_moved_claim_does_not_confirm_the_claimants_payments(ali: Api) -> None:
    sid = seller()
    claimant = new_shop(ali, seller_id=sid)
    o = otn()
    ok(post(ali, signed(notice(sid, o, total="7.00", buyer=BUYER))))  # routed to the claimant
    owner = new_shop(ali)
    assert put(ali, owner.merchant_id, "alipay", sid).status == 200
    assert stored(claimant.merchant_id, o).confirmed_at is None


def test_a_disagreeing_notification_is_a_conflict_that_changes_nothing_but_a_flag(ali: Api) -> None:
    sid = seller()
    shop = new_shop(ali, seller_id=sid)
    assert put(ali, shop.merchant_id, "alipay", sid).status == 200
    o = otn()
    assert pay(ali, shop, payment_body(o, amount=1000, buyer=BUYER)).status == 200
    fail(post(ali, signed(notice(sid, o, total="9.99", buyer=BUYER))), 409)
    item = stored(shop.merchant_id, o)
    assert item.confirmed_at is None and item.flags == ["platform_conflict"] and item.amount_fen == 1000
    logged = ali.get(f"/v1/merchants/{shop.merchant_id}/callbacks", token=ali.admin()).body["callbacks"]
    assert logged[0]["source"] == "alipay" and logged[0]["status"] == 409


def test_buyer_open_id_is_the_buyer_when_the_notification_carries_only_that(ali: Api) -> None:
    sid = seller()
    shop = new_shop(ali, seller_id=sid)
    assert put(ali, shop.merchant_id, "alipay", sid).status == 200
    o, open_id = otn(), "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"
    params = {k: v for k, v in notice(sid, o, total="3.00").items() if k != "buyer_id"}
    ok(post(ali, signed({**params, "buyer_open_id": open_id})))
    assert stored(shop.merchant_id, o).buyer_id == open_id
    r = pay(ali, shop, payment_body(o, amount=300, buyer=open_id))
    assert r.status == 200 and r.body["duplicate"] is True


# ---------------------------------------------------------------- savings whichever came first


def test_member_savings_count_when_the_platform_reported_first(ali: Api) -> None:
    sid = seller()
    shop = new_shop(ali, seller_id=sid)
    mid = new_membership(ali, shop, BUYER, percent=10)
    o = otn()
    ok(post(ali, signed(notice(sid, o, total="9.00", buyer=BUYER))))
    r = pay(ali, shop, payment_body(o, amount=900, buyer=BUYER, discount=100))
    assert r.status == 200 and r.body["duplicate"] is True and r.body["member_savings_fen"] == 100
    assert savings_of(mid) == 100
    again = pay(ali, shop, payment_body(o, amount=900, buyer=BUYER, discount=100))  # a redelivery counts nothing
    assert again.body["duplicate"] is True and savings_of(mid) == 100
    assert audit(ali)["ok"]
