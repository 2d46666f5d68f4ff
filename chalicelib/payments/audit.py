"""Audit checks of the payments area: recompute from the recorded payments and refunds what
the aggregates and memberships store, and report every difference."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from chalicelib.payments.dynamo import DynamoPaymentsRepository
from chalicelib.payments.models import AGGREGATE_SK, CUSTOMER_SK_PREFIX, day_key, month_key
from chalicelib.payments.ports import MemberSavings, PaymentHistory

Check = Callable[[], dict[str, Any]]
MAX_DETAIL = 20


def _result(name: str, problems: list[str], checked: int) -> dict[str, Any]:
    detail = f"{checked} checked, {len(problems)} differences"
    if problems:
        detail += ": " + "; ".join(problems[:MAX_DETAIL])
    return {"name": name, "ok": not problems, "detail": detail}


def aggregates_check(repo: DynamoPaymentsRepository) -> dict[str, Any]:
    """Day and month gmv/payments/refunds and distinct customers vs the payments and refunds."""
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # gmv, payments, refunds_fen
    customers: dict[str, set[str]] = defaultdict(set)
    for p in repo.scan_payments():
        for pk in (day_key(p["merchant_id"], p["business_day"]), month_key(p["merchant_id"], p["business_day"][:7])):
            expected[pk][0] += p["amount_fen"]
            expected[pk][1] += 1
            customers[pk].add(p["buyer_id"])
    for r in repo.scan_refunds():
        for pk in (day_key(r["merchant_id"], r["business_day"]), month_key(r["merchant_id"], r["business_day"][:7])):
            expected[pk][0] -= r["amount_fen"]
            expected[pk][2] += r["amount_fen"]
    stored: dict[str, list[int]] = {}
    stored_customers: dict[str, set[str]] = defaultdict(set)
    for a in repo.scan_aggregates():
        if a["sk"] == AGGREGATE_SK:
            stored[a["pk"]] = [a["gmv_fen"], a["payments"], a["refunds_fen"]]
        elif a["sk"].startswith(CUSTOMER_SK_PREFIX):
            stored_customers[a["pk"]].add(a["sk"][len(CUSTOMER_SK_PREFIX):])
    problems = []
    keys = set(expected) | set(stored) | set(customers) | set(stored_customers)
    for pk in sorted(keys):
        want, got = expected.get(pk, [0, 0, 0]), stored.get(pk, [0, 0, 0])
        if want != got:
            problems.append(f"{pk}: stored gmv/payments/refunds {got}, recomputed {want}")
        if customers.get(pk, set()) != stored_customers.get(pk, set()):
            problems.append(f"{pk}: stored {len(stored_customers.get(pk, ()))} customers, "
                            f"recomputed {len(customers.get(pk, ()))}")
    return _result("payments.aggregates", problems, len(keys))


def refunds_check(repo: DynamoPaymentsRepository) -> dict[str, Any]:
    """Each payment's refunded total and reversed savings equal the sums of its refunds."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in repo.scan_refunds():
        sums[r["pk"]][0] += r["amount_fen"]
        sums[r["pk"]][1] += r["savings_reversed_fen"]
    problems, seen = [], set()
    for p in repo.scan_payments():
        seen.add(p["pk"])
        want = [p["refunded_fen"], p["savings_reversed_fen"]]
        got = sums.get(p["pk"], [0, 0])
        if want != got or p["refunded_fen"] > p["amount_fen"]:
            problems.append(f"{p['pk']}: refunded/reversed {want}, refunds add up to {got}")
    problems += [f"{pk}: refunds without a payment" for pk in set(sums) - seen]
    return _result("payments.refund_totals", problems, len(seen))


def savings_check(history: PaymentHistory, savings: MemberSavings) -> dict[str, Any]:
    """Each membership's savings_fen equals its payments' counted savings net of reversals."""
    expected = history.savings_by_membership()
    stored = savings.all_savings()
    problems = [f"{mid}: savings_fen {got}, payments say {expected.get(mid, 0)}"
                for mid, got in sorted(stored.items()) if got != expected.get(mid, 0)]
    missing = sorted(set(expected) - set(stored))
    problems += [f"{mid}: payments count savings for a missing membership" for mid in missing]
    return _result("payments.membership_savings", problems, len(stored))


def checks(repo: DynamoPaymentsRepository, history: PaymentHistory, savings: MemberSavings) -> list[Check]:
    return [lambda: aggregates_check(repo), lambda: refunds_check(repo), lambda: savings_check(history, savings)]
