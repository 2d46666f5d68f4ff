"""Exactly-once on DynamoDB Local: concurrent lock-ins, refunds, lifecycle runs, injected faults."""

from __future__ import annotations

import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.auth import Principal
from chalicelib.bootstrap import Services
from chalicelib.errors import AppError
from chalicelib.memberships.domain import expected_balance, fee_balance
from chalicelib.memberships.dynamo import _entry
from chalicelib.memberships.models import MembershipLedgerModel, MembershipModel, active_guard_key
from chalicelib.memberships.schemas import CreatePlan
from chalicelib.storage import GuardModel
from tests.helpers import Api, raw

DAY = 86400
N = 20


def customer() -> Principal:
    return Principal(sub=f"2088{secrets.randbelow(10**12):012d}", role="customer")


@pytest.fixture
def plan(api: Api, services: Services) -> dict[str, Any]:
    shop = api.new_merchant(api.new_partner())
    created = services.memberships.create_plan(
        Principal(sub="admin", role="admin"), shop["merchant_id"],
        raw(CreatePlan(name="Monthly", fee_fen=3000, discount_percent=10, period_days=30, refund_window_days=7)))
    return {**created, "terminal": api.new_terminal(shop)}


def member_payment(api: Api, terminal: Any, buyer: str, discount: int, paid_at: Any) -> int:
    """A payment through the payments endpoint with a 10% member discount; returns what it counted."""
    body = {"out_trade_no": f"o{secrets.token_hex(8)}", "amount_fen": 9 * discount, "discount_fen": discount,
            "buyer_id": buyer, "paid_at": paid_at.isoformat()}
    r = api.signed(terminal, "/v1/terminal/payments", body)
    assert r.status == 200, r.body
    return int(r.body["member_savings_fen"])


def outcome(fn: Any) -> tuple[int, Any]:
    try:
        o = fn()
        return o.status, (o.body["code"] if o.status >= 400 else o.body)
    except AppError as e:
        return e.status, e.code


def ledger_ok(svc: Any, mid: str) -> bool:
    """This membership's ledger balances and matches its stored status (the audit rule)."""
    m = svc.repo.get(mid)
    entries = [_entry(e) for e in MembershipLedgerModel.query(mid, consistent_read=True)]
    return all(e.balanced for e in entries) and fee_balance(entries) == expected_balance(m)


def memberships_of(who: Principal) -> list[MembershipModel]:
    return list(MembershipModel.customer_index.query(who.sub))


def test_concurrent_lock_ins_with_the_same_key_create_one(services: Services, plan: dict[str, Any]) -> None:
    who = customer()
    svc = services.memberships
    with ThreadPoolExecutor(N) as pool:
        body = raw(plan_id=plan["plan_id"])
        results = list(pool.map(lambda _: outcome(lambda: svc.lock_in(who, body, "same-key")), range(N)))
    ok = [body for status, body in results if status == 201]
    assert ok and all(body == ok[0] for body in ok)
    assert all(status == 201 or body == "idempotency_in_progress" for status, body in results), results
    assert len(memberships_of(who)) == 1
    # after the dust settles the key replays the one answer
    assert outcome(lambda: svc.lock_in(who, raw(plan_id=plan["plan_id"]), "same-key")) == (201, ok[0])


def test_concurrent_lock_ins_with_different_keys_create_one(services: Services, plan: dict[str, Any]) -> None:
    who = customer()
    svc = services.memberships
    with ThreadPoolExecutor(N) as pool:
        body = raw(plan_id=plan["plan_id"])
        results = list(pool.map(lambda i: outcome(lambda: svc.lock_in(who, body, f"k{i}")), range(N)))
    counts = Counter(status for status, _ in results)
    assert counts[201] == 1 and counts[409] == N - 1, results
    assert {body for status, body in results if status == 409} == {"already_member"}
    stored = memberships_of(who)
    assert len(stored) == 1
    assert GuardModel.get(active_guard_key(plan["merchant_id"], who.sub)).owner == stored[0].membership_id
    assert len(list(MembershipLedgerModel.query(stored[0].membership_id))) == 1


def test_concurrent_refunds_refund_once(api: Api, services: Services, plan: dict[str, Any]) -> None:
    who = customer()
    svc = services.memberships
    mid = svc.lock_in(who, raw(plan_id=plan["plan_id"]), None).body["membership_id"]
    assert member_payment(api, plan["terminal"], who.sub, 700, services.clock.now()) == 700
    services.clock.advance(30 * DAY + 1)  # type: ignore[attr-defined]
    with ThreadPoolExecutor(N) as pool:
        results = list(pool.map(lambda i: outcome(lambda: svc.refund(who, mid, b"", f"r{i}")), range(N)))
    counts = Counter(status for status, _ in results)
    assert counts[200] == 1 and counts[409] == N - 1, results
    assert {body for status, body in results if status == 409} == {"already_refunded"}
    assert next(body for status, body in results if status == 200)["refund_fen"] == 2300
    stored = MembershipModel.get(mid)
    assert stored.status == "refunded" and stored.refund_fen == 2300
    assert svc.provider.refunded[mid] == 2300 and svc.provider.captured[mid] == 700
    kinds = sorted(e.kind for e in MembershipLedgerModel.query(mid))
    assert kinds == ["LOCK", "REFUND"]
    # each key replays its own first answer
    winner = next(i for i, (status, _) in enumerate(results) if status == 200)
    assert outcome(lambda: svc.refund(who, mid, b"", f"r{winner}")) == results[winner]
    loser = (winner + 1) % N
    assert outcome(lambda: svc.refund(who, mid, b"", f"r{loser}")) == results[loser]
    assert ledger_ok(svc, mid)


def test_refund_amount_is_frozen_against_moving_savings(api: Api, services: Services,
                                                        plan: dict[str, Any]) -> None:
    """Late member payments keep arriving while the refunds run: the refund is computed from the
    savings its own write saw, and payments after it count nothing."""
    from chalice.test import Client

    import app as app_module

    who = customer()
    svc = services.memberships
    mid = svc.lock_in(who, raw(plan_id=plan["plan_id"]), None).body["membership_id"]
    inside = services.clock.now() + timedelta(days=1)
    services.clock.advance(30 * DAY + 1)  # type: ignore[attr-defined]

    def payments() -> list[int]:
        own = Api(Client(app_module.app), services)
        return [member_payment(own, plan["terminal"], who.sub, 10, inside) for _ in range(15)]

    with ThreadPoolExecutor(3) as pool:
        f = pool.submit(payments)
        results = list(pool.map(lambda i: outcome(lambda: svc.refund(who, mid, b"", f"frozen{i}")), range(2)))
        counted = f.result()
    assert sorted(s for s, _ in results) == [200, 409], results
    body = next(b for s, b in results if s == 200)
    stored = MembershipModel.get(mid)
    assert stored.savings_fen == sum(counted)
    assert body["refund_fen"] == 3000 - stored.savings_fen == stored.refund_fen


def test_concurrent_lifecycle_runs_settle_once(services: Services, plan: dict[str, Any]) -> None:
    svc = services.memberships
    whos = [customer() for _ in range(5)]
    mids = [svc.lock_in(w, raw(plan_id=plan["plan_id"]), None).body["membership_id"] for w in whos]
    services.clock.advance(37 * DAY + 1)  # type: ignore[attr-defined]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: svc.run_lifecycle(), range(4)))
    for mid in mids:
        stored = MembershipModel.get(mid)
        assert stored.status == "settled" and stored.due_at is None
        assert sorted(e.kind for e in MembershipLedgerModel.query(mid)) == ["CAPTURE", "LOCK"]
        assert svc.provider.captured[mid] == 3000
    assert sum(r["settled"] for r in results) >= len(mids)  # every one settled (others: earlier tests' too)
    assert all(ledger_ok(svc, mid) for mid in mids)


def test_storage_fault_in_lock_in_leaves_nothing_and_retry_succeeds(
        services: Services, plan: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from pynamodb.transactions import TransactWrite

    who = customer()
    svc = services.memberships
    real_commit = TransactWrite._commit
    calls = {"n": 0}

    def failing_commit(self: Any) -> Any:
        calls["n"] += 1
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "TransactWriteItems")

    monkeypatch.setattr(TransactWrite, "_commit", failing_commit)
    status, body = outcome(lambda: svc.lock_in(who, raw(plan_id=plan["plan_id"]), "fault-key"))
    assert (status, body) == (503, "storage_unavailable")
    monkeypatch.setattr(TransactWrite, "_commit", real_commit)
    assert calls["n"] >= 2  # retried, then gave up
    assert memberships_of(who) == []
    assert svc.provider.released  # the freeze was undone
    status, body = outcome(lambda: svc.lock_in(who, raw(plan_id=plan["plan_id"]), "fault-key"))
    assert status == 201, body
    assert len(memberships_of(who)) == 1


def test_refund_provider_failure_is_retried_by_the_job(services: Services, plan: dict[str, Any]) -> None:
    who = customer()
    svc = services.memberships
    mid = svc.lock_in(who, raw(plan_id=plan["plan_id"]), None).body["membership_id"]
    services.clock.advance(30 * DAY + 1)  # type: ignore[attr-defined]
    svc.provider.fail_next.append("unfreeze")
    status, body = outcome(lambda: svc.refund(who, mid, b"", None))
    assert status == 200 and body["refund_fen"] == 3000
    assert MembershipModel.get(mid).provider_pending == "refund"
    assert mid not in svc.provider.refunded
    result = svc.run_lifecycle()
    assert result["provider_confirmed"] >= 1
    assert svc.provider.refunded[mid] == 3000
    stored = MembershipModel.get(mid)
    assert stored.provider_pending is None and stored.due_at is None
